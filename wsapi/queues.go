package wsapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/zaqar-go/zaqar/storage"
)

func bgContext() context.Context { return context.Background() }

// intField reads an integer field the schema has checked.
func intField(body map[string]any, name string) (int64, bool) {
	n, ok := body[name].(json.Number)
	if !ok {
		return 0, false
	}
	v, err := n.Int64()
	return v, err == nil
}

// storageReply is the one table from storage errors to answers; what is
// Zaqar's summary for the failed operation ("Queues could not be
// listed.").
func (c *conn) storageReply(rq *request, err error, id, what string) reply {
	switch {
	case errors.Is(err, storage.ErrQueueNotFound):
		return errorReply(404, fmt.Sprintf("Queue %s does not exist for project %s", rq.queue, rq.project), "")
	case errors.Is(err, storage.ErrMessageNotFound):
		return errorReply(404, fmt.Sprintf("Message %s does not exist in queue %s for project %s", id, rq.queue, rq.project), "")
	case errors.Is(err, storage.ErrClaimNotFound):
		return errorReply(404, fmt.Sprintf("Claim %s does not exist in queue %s for project %s", id, rq.queue, rq.project),
			fmt.Sprintf("Claim %s does not exist.", id))
	case errors.Is(err, storage.ErrSubscriptionNotFound):
		return errorReply(404, fmt.Sprintf("Subscription %s does not exist", id),
			fmt.Sprintf("Subscription %s for queue %s does not exist.", id, rq.queue))
	case errors.Is(err, storage.ErrLimitExceeded), errors.Is(err, storage.ErrFlavorNotFound):
		var le *storage.LimitError
		if errors.As(err, &le) {
			return validationFailed(le.Msg)
		}
		return validationFailed(err.Error())
	}
	c.s.log.Error("storage failure", "op", what, "project", rq.project, "queue", rq.queue, "err", err)
	return errorReply(503, err.Error(), what)
}

func queueList(c *conn, rq *request) reply {
	max := c.s.opts.API.MaxQueuesPerPage
	limit := int64(min(10, max))
	if n, ok := intField(rq.body, "limit"); ok {
		limit = n
	}
	if limit < 1 || limit > int64(max) {
		return validationFailed(fmt.Sprintf("Limit must be at least 1 and no greater than %d.", max))
	}
	marker, _ := rq.body["marker"].(string)
	detailed, _ := rq.body["detailed"].(bool)
	qs, err := c.s.store.ListQueues(bgContext(), rq.project, storage.ListQueuesOptions{Marker: marker, Limit: int(limit), Detailed: detailed})
	if err != nil {
		return c.storageReply(rq, err, "", "Queues could not be listed.")
	}
	out := make([]any, len(qs))
	for i, q := range qs {
		doc := map[string]any{"name": q.Name}
		if detailed {
			meta := q.Metadata
			if meta == nil {
				meta = storage.Metadata{}
			}
			doc["metadata"] = map[string]any(meta)
		}
		out[i] = doc
	}
	return reply{200, map[string]any{"queues": out}}
}

func queueCreate(c *conn, rq *request) reply {
	meta := storage.Metadata{}
	if v, present := rq.body["metadata"]; present && v != nil {
		m, ok := v.(map[string]any)
		if !ok {
			return validationFailed("Document type not supported.")
		}
		meta = storage.Metadata(m)
	}
	if b, _ := json.Marshal(meta); len(b) > c.s.opts.API.MaxQueueMetadata {
		return validationFailed(fmt.Sprintf("Queue metadata is too large. Max size: %d", c.s.opts.API.MaxQueueMetadata))
	}
	if p := c.s.opts.API.MetadataProblem(meta); p != "" {
		return validationFailed(p)
	}
	created, err := c.s.store.CreateQueue(bgContext(), rq.project, rq.queue, meta)
	if err != nil {
		return c.storageReply(rq, err, "", fmt.Sprintf("Queue %s could not be created.", rq.queue))
	}
	if created {
		return reply{201, fmt.Sprintf("Queue %s created.", rq.queue)}
	}
	return reply{204, fmt.Sprintf("Queue %s created.", rq.queue)}
}

func queueDelete(c *conn, rq *request) reply {
	if err := c.s.store.DeleteQueue(bgContext(), rq.project, rq.queue); err != nil {
		return c.storageReply(rq, err, "", fmt.Sprintf("Queue %s could not be deleted.", rq.queue))
	}
	return reply{204, fmt.Sprintf("Queue %s removed.", rq.queue)}
}

func queueGet(c *conn, rq *request) reply {
	meta, err := c.s.store.GetQueueMetadata(bgContext(), rq.project, rq.queue)
	if errors.Is(err, storage.ErrQueueNotFound) {
		// The original answers an empty document for a missing queue.
		return reply{200, map[string]any{}}
	}
	if err != nil {
		return c.storageReply(rq, err, "", fmt.Sprintf("Cannot retrieve queue %s.", rq.queue))
	}
	if meta == nil {
		meta = storage.Metadata{}
	}
	return reply{200, map[string]any(meta)}
}

// queueStats answers 404 with zero counts for a missing queue, as
// Zaqar's WebSocket API does (HTTP answers 200).
func queueStats(c *conn, rq *request) reply {
	st, err := c.s.store.QueueStats(bgContext(), rq.project, rq.queue)
	if errors.Is(err, storage.ErrQueueNotFound) {
		return reply{404, map[string]any{"messages": map[string]any{"claimed": 0, "free": 0, "total": 0}}}
	}
	if err != nil {
		return c.storageReply(rq, err, "", fmt.Sprintf("Cannot retrieve queue %s stats.", rq.queue))
	}
	msgs := map[string]any{"claimed": st.Claimed, "free": st.Free, "total": st.Total}
	now := time.Now()
	stat := func(m *storage.MessageStat) map[string]any {
		return map[string]any{"id": m.ID, "href": "/v2/queues/" + rq.queue + "/messages/" + m.ID,
			"age": int64(now.Sub(m.Created) / time.Second), "created": m.Created.UTC().Format("2006-01-02T15:04:05Z")}
	}
	if st.Total > 0 && st.Oldest != nil && st.Newest != nil {
		msgs["oldest"], msgs["newest"] = stat(st.Oldest), stat(st.Newest)
	}
	return reply{200, map[string]any{"messages": msgs}}
}

func queuePurge(c *conn, rq *request) reply {
	opts := storage.PurgeOptions{Messages: true, Subscriptions: true}
	if v, present := rq.body["resource_types"]; present {
		opts = storage.PurgeOptions{}
		for _, t := range v.([]any) {
			switch t {
			case "messages":
				opts.Messages = true
			case "subscriptions":
				opts.Subscriptions = true
			default:
				return validationFailed("Resource types must be a sub set of {'messages', 'subscriptions'}.")
			}
		}
	}
	if err := c.s.store.PurgeQueue(bgContext(), rq.project, rq.queue, opts); err != nil {
		return c.storageReply(rq, err, "", "Queue could not be purged.")
	}
	return reply{204, map[string]any{}}
}

func itoa(n int) string { return strconv.Itoa(n) }
