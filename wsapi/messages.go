package wsapi

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/zaqar-go/zaqar/storage"
)

// message is Zaqar's WebSocket message shape (format_message).
func message(m *storage.Message, claimID string, now time.Time) map[string]any {
	var cid any
	if claimID != "" {
		cid = claimID
	}
	return map[string]any{"id": m.ID, "claim_id": cid, "ttl": m.TTL,
		"age": int64(now.Sub(m.Created) / time.Second), "body": json.RawMessage(m.Body)}
}

func messages(msgs []storage.Message, claimID string) []any {
	now := time.Now()
	out := make([]any, len(msgs))
	for i := range msgs {
		out[i] = message(&msgs[i], claimID, now)
	}
	return out
}

// clientID normalises the Client-ID header as the HTTP API does.
func (c *conn) clientID(rq *request) (string, *reply) {
	cid := headerString(rq.headers, "Client-ID")
	if c.s.opts.API.ClientIDUUIDSafe != "strict" {
		if len(cid) < c.s.opts.API.MinClientIDLength || len(cid) > c.s.opts.API.MaxClientIDLength {
			r := validationFailed(fmt.Sprintf("Client ID must be at least %d and no more than %d characters long",
				c.s.opts.API.MinClientIDLength, c.s.opts.API.MaxClientIDLength))
			return "", &r
		}
		return cid, nil
	}
	u, err := uuid.Parse(cid)
	if err != nil {
		r := validationFailed("badly formed hexadecimal UUID string")
		return "", &r
	}
	return u.String(), nil
}

func messageList(c *conn, rq *request) reply {
	max := c.s.opts.API.MaxMessagesPerPage
	limit := int64(min(10, max))
	if n, ok := intField(rq.body, "limit"); ok {
		limit = n
	}
	cid, bad := c.clientID(rq)
	if bad != nil {
		return *bad
	}
	if limit < 1 || limit > int64(max) {
		return validationFailed(fmt.Sprintf("Limit must be at least 1 and may not be greater than %d.", max))
	}
	opts := storage.ListMessagesOptions{Limit: int(limit), ClientID: cid}
	opts.Marker, _ = rq.body["marker"].(string)
	opts.Echo, _ = rq.body["echo"].(bool)
	opts.IncludeClaimed, _ = rq.body["include_claimed"].(bool)
	opts.IncludeDelayed, _ = rq.body["include_delayed"].(bool)
	msgs, _, err := c.s.store.ListMessages(bgContext(), rq.project, rq.queue, opts)
	if err != nil {
		return c.storageReply(rq, err, "", "Messages could not be listed.")
	}
	out := make([]any, len(msgs))
	now := time.Now()
	for i := range msgs {
		out[i] = message(&msgs[i], msgs[i].ClaimID, now)
	}
	return reply{200, map[string]any{"messages": out}}
}

func messageGet(c *conn, rq *request) reply {
	id, _ := rq.body["message_id"].(string)
	m, err := c.s.store.GetMessage(bgContext(), rq.project, rq.queue, id)
	if err != nil {
		return c.storageReply(rq, err, id, "Message could not be retrieved.")
	}
	return reply{200, map[string]any{"messages": message(&m, m.ClaimID, time.Now())}}
}

func messageGetMany(c *conn, rq *request) reply {
	var ids []string
	for _, v := range rq.body["message_ids"].([]any) {
		s, ok := v.(string)
		if !ok {
			return validationFailed("Message ids must be strings.")
		}
		ids = append(ids, s)
	}
	if max := c.s.opts.API.MaxMessagesPerPage; len(ids) < 1 || len(ids) > max {
		return validationFailed(fmt.Sprintf("Limit must be at least 1 and may not be greater than %d.", max))
	}
	msgs, err := c.s.store.GetMessages(bgContext(), rq.project, rq.queue, ids)
	if err != nil && !errors.Is(err, storage.ErrQueueNotFound) {
		return c.storageReply(rq, err, "", "Messages could not be listed.")
	}
	out := make([]any, len(msgs))
	now := time.Now()
	for i := range msgs {
		out[i] = message(&msgs[i], msgs[i].ClaimID, now)
	}
	return reply{200, map[string]any{"messages": out}}
}

func messagePost(c *conn, rq *request) reply {
	list := rq.body["messages"].([]any)
	meta, err := c.s.store.GetQueueMetadata(bgContext(), rq.project, rq.queue)
	if err != nil && !errors.Is(err, storage.ErrQueueNotFound) {
		return c.storageReply(rq, err, "", "Messages could not be enqueued.")
	}
	o := &c.s.opts.API
	maxSize := o.MaxMessagesPostSize
	if n, ok := meta.Int(storage.MetaMaxPostSize); ok && n > 0 && int(n) < maxSize {
		maxSize = int(n)
	}
	// Zaqar measures the document's text; the JSON encoding is ours.
	encoded, err := jsonAPI.Marshal(list)
	if err != nil {
		return validationFailed("Messages could not be encoded: " + err.Error())
	}
	if len(encoded) > maxSize {
		return validationFailed(fmt.Sprintf("Message collection size is too large. Max size %d", maxSize))
	}
	defTTL := o.DefaultMessageTTL
	if n, ok := meta.Int(storage.MetaDefaultMessageTTL); ok && n > 0 {
		defTTL = n
	}
	queueDelay, _ := meta.Int(storage.MetaDefaultDelay)
	msgs := make([]storage.NewMessage, len(list))
	for i, v := range list {
		m, ok := v.(map[string]any)
		if !ok {
			return validationFailed("Document type not supported.")
		}
		body, present := m["body"]
		if !present {
			return validationFailed(`Bad request. Missing "body" field.`)
		}
		ttl, r := boundedInt(m, "ttl", defTTL, 60, o.MaxMessageTTL,
			"The TTL for a message may not exceed %d seconds, and must be at least 60 seconds long.")
		if r != nil {
			return *r
		}
		var delay int64
		if queueDelay > 0 {
			if delay, r = boundedInt(m, "delay", queueDelay, 0, o.MaxMessageDelay,
				"The delay for a message may not exceed %d seconds, and must be at least 0 seconds long."); r != nil {
				return *r
			}
		}
		raw, err := jsonAPI.Marshal(body)
		if err != nil {
			return validationFailed("Message body could not be encoded: " + err.Error())
		}
		msgs[i] = storage.NewMessage{Body: raw, TTL: ttl, Delay: delay}
		if o.EnableChecksum {
			sum := md5.Sum(raw)
			msgs[i].Checksum = "MD5:" + hex.EncodeToString(sum[:])
		}
	}
	cid, bad := c.clientID(rq)
	if bad != nil {
		return *bad
	}
	if len(msgs) == 0 {
		return validationFailed("No messages to enqueu.")
	}
	ids, err := c.s.store.PostMessages(bgContext(), rq.project, rq.queue, cid, msgs)
	if err != nil {
		return c.storageReply(rq, err, "", "Messages could not be enqueued.")
	}
	return reply{201, map[string]any{"message_ids": ids}}
}

// boundedInt reads an optional integer field of a message (def when
// absent) that must lie in lo..hi; booleans count as 0 and 1, as Python's
// do.
func boundedInt(m map[string]any, name string, def, lo, hi int64, rangeText string) (int64, *reply) {
	n := def
	switch v := m[name].(type) {
	case nil:
	case bool:
		n = 0
		if v {
			n = 1
		}
	case json.Number:
		x, err := v.Int64()
		if err != nil {
			r := validationFailed(fmt.Sprintf(`Bad request. The value of the "%s" field must be a int.`, name))
			return 0, &r
		}
		n = x
	default:
		r := validationFailed(fmt.Sprintf(`Bad request. The value of the "%s" field must be a int.`, name))
		return 0, &r
	}
	if n < lo || n > hi {
		r := validationFailed(fmt.Sprintf(rangeText, hi))
		return 0, &r
	}
	return n, nil
}

func messageDelete(c *conn, rq *request) reply {
	id, _ := rq.body["message_id"].(string)
	claimID, _ := rq.body["claim_id"].(string)
	err := c.s.store.DeleteMessage(bgContext(), rq.project, rq.queue, id, claimID)
	switch {
	case err == nil:
		return reply{204, map[string]any{}}
	case errors.Is(err, storage.ErrMessageNotClaimed):
		return errorReply(400, err.Error(), "A claim was specified, but the message is not currently claimed.")
	case errors.Is(err, storage.ErrClaimNotFound):
		return errorReply(400, err.Error(), "The specified claim does not exist or has expired.")
	case errors.Is(err, storage.ErrMessageClaimed):
		return errorReply(403, err.Error(), "This message is claimed; it cannot be deleted without a valid claim ID.")
	}
	return c.storageReply(rq, err, id, "Message could not be deleted.")
}

func stringList(v any) ([]string, bool) {
	list, ok := v.([]any)
	if !ok {
		return nil, v == nil
	}
	out := make([]string, 0, len(list))
	for _, e := range list {
		s, ok := e.(string)
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

func messageDeleteMany(c *conn, rq *request) reply {
	o := &c.s.opts.API
	ids, ok := stringList(rq.body["message_ids"])
	if !ok {
		return validationFailed("Message ids must be strings.")
	}
	var claimIDs []string
	if o.MessageDeleteWithClaimID {
		if claimIDs, ok = stringList(rq.body["claim_ids"]); !ok {
			return validationFailed("Claim ids must be strings.")
		}
	}
	pop, hasPop := intField(rq.body, "pop")
	switch {
	case len(ids) > 0 && hasPop:
		return validationFailed("pop and id params cannot be present together in the delete request.")
	case len(ids) == 0 && !hasPop:
		return validationFailed(`The request should have either "ids" or "pop" parameter in the request, to be able to delete.`)
	case o.MessageDeleteWithClaimID && len(ids) > 0 && len(claimIDs) == 0:
		return validationFailed(`The request should have both "ids" and "claim_ids" parameter in the request when message_delete_with_claim_id is True.`)
	}
	if hasPop {
		if pop < 1 || pop > int64(o.MaxMessagesPerClaimOrPop) {
			return validationFailed(fmt.Sprintf("Pop value must be at least 1 and may not be greater than %d.", o.MaxMessagesPerClaimOrPop))
		}
		msgs, err := c.s.store.PopMessages(bgContext(), rq.project, rq.queue, int(pop))
		if err != nil {
			return c.storageReply(rq, err, "", "Messages could not be popped.")
		}
		now := time.Now()
		out := make([]any, len(msgs))
		for i := range msgs {
			m := message(&msgs[i], msgs[i].ClaimID, now)
			m["claim_count"] = msgs[i].ClaimCount
			out[i] = m
		}
		return reply{200, map[string]any{"messages": out}}
	}
	if len(ids) > o.MaxMessagesPerPage {
		return validationFailed(fmt.Sprintf("ids parameter should have at least 1 and not greater than %d values.", o.MaxMessagesPerPage))
	}
	if err := c.s.store.DeleteMessages(bgContext(), rq.project, rq.queue, ids, claimIDs); err != nil {
		if errors.Is(err, storage.ErrMessageClaimed) {
			return errorReply(403, err.Error(), "This message is claimed; it cannot be deleted without a valid claim ID.")
		}
		return c.storageReply(rq, err, "", "Messages could not be deleted.")
	}
	return reply{204, map[string]any{}}
}
