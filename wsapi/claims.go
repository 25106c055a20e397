package wsapi

import (
	"fmt"
	"time"

	"github.com/zaqar-go/zaqar/storage"
)

// claimTimes reads ttl and grace with their defaults and ranges.
func (c *conn) claimTimes(rq *request) (ttl, grace int64, bad *reply) {
	o := &c.s.opts.API
	ttl, grace = o.DefaultClaimTTL, o.DefaultClaimGrace
	if n, ok := intField(rq.body, "ttl"); ok {
		ttl = n
	}
	if n, ok := intField(rq.body, "grace"); ok {
		grace = n
	}
	if ttl < 60 || ttl > o.MaxClaimTTL {
		r := validationFailed(fmt.Sprintf("The TTL for a claim may not exceed %d seconds, and must be at least 60 seconds long.", o.MaxClaimTTL))
		return 0, 0, &r
	}
	if grace < 60 || grace > o.MaxClaimGrace {
		r := validationFailed(fmt.Sprintf("The grace for a claim may not exceed %d seconds, and must be at least 60 seconds long.", o.MaxClaimGrace))
		return 0, 0, &r
	}
	return ttl, grace, nil
}

func claimCreate(c *conn, rq *request) reply {
	o := &c.s.opts.API
	limit := int64(min(10, o.MaxMessagesPerClaimOrPop))
	if n, ok := intField(rq.body, "limit"); ok {
		limit = n
	}
	ttl, grace, bad := c.claimTimes(rq)
	if bad != nil {
		return *bad
	}
	if limit < 1 || limit > int64(o.MaxMessagesPerClaimOrPop) {
		return validationFailed(fmt.Sprintf("Limit must be at least 1 and may not be greater than %d.", o.MaxMessagesPerClaimOrPop))
	}
	cl, err := c.s.store.CreateClaim(bgContext(), rq.project, rq.queue, storage.ClaimOptions{TTL: ttl, Grace: grace, Limit: int(limit)})
	if err != nil {
		return c.storageReply(rq, err, "", "Claim could not be created.")
	}
	if len(cl.Messages) == 0 {
		return reply{204, map[string]any{"claim_id": nil}}
	}
	return reply{201, map[string]any{"claim_id": cl.ID, "messages": messages(cl.Messages, cl.ID)}}
}

func claimGet(c *conn, rq *request) reply {
	id, _ := rq.body["claim_id"].(string)
	cl, err := c.s.store.GetClaim(bgContext(), rq.project, rq.queue, id)
	if err != nil {
		return c.storageReply(rq, err, id, "Claim could not be queried.")
	}
	return reply{200, map[string]any{"age": int64(time.Since(cl.Updated) / time.Second), "ttl": cl.TTL,
		"grace": cl.Grace, "messages": messages(cl.Messages, cl.ID)}}
}

func claimUpdate(c *conn, rq *request) reply {
	id, _ := rq.body["claim_id"].(string)
	ttl, grace, bad := c.claimTimes(rq)
	if bad != nil {
		return *bad
	}
	if err := c.s.store.UpdateClaim(bgContext(), rq.project, rq.queue, id, ttl, grace); err != nil {
		return c.storageReply(rq, err, id, "Claim could not be updated.")
	}
	return reply{204, fmt.Sprintf("Claim %s updated.", id)}
}

func claimDelete(c *conn, rq *request) reply {
	id, _ := rq.body["claim_id"].(string)
	if err := c.s.store.DeleteClaim(bgContext(), rq.project, rq.queue, id); err != nil {
		return c.storageReply(rq, err, id, "Claim could not be deleted.")
	}
	return reply{204, fmt.Sprintf("Claim %s deleted.", id)}
}
