package wsapi

import (
	"fmt"
	"time"

	"github.com/zaqar-go/zaqar/notify/policy"
	"github.com/zaqar-go/zaqar/storage"
)

func subscriptionDoc(s storage.Subscription, now time.Time) map[string]any {
	opts := s.Options
	if opts == nil {
		opts = storage.Metadata{}
	}
	return map[string]any{"id": s.ID, "source": s.Queue, "subscriber": s.Subscriber, "ttl": s.TTL,
		"age": int64(now.Sub(s.Created) / time.Second), "options": map[string]any(opts), "confirmed": s.Confirmed}
}

func subscriptionList(c *conn, rq *request) reply {
	max := c.s.opts.API.MaxSubscriptionsPerPage
	limit := int64(min(10, max))
	if n, ok := intField(rq.body, "limit"); ok {
		limit = n
	}
	if limit < 1 || limit > int64(max) {
		return validationFailed(fmt.Sprintf("Limit must be at least 1 and may not be greater than %d.", max))
	}
	marker, _ := rq.body["marker"].(string)
	subs, err := c.s.store.ListSubscriptions(bgContext(), rq.project, rq.queue, marker, int(limit))
	if err != nil {
		return c.storageReply(rq, err, "", "Subscriptions could not be listed.")
	}
	now := time.Now()
	out := make([]any, len(subs))
	for i, s := range subs {
		out[i] = subscriptionDoc(s, now)
	}
	return reply{200, map[string]any{"subscriptions": out}}
}

// subscriptionCreate subscribes a URI, or without one the connection
// itself: the queue's notifications are then pushed on this socket, and
// the subscription ends when the socket closes.
func subscriptionCreate(c *conn, rq *request) reply {
	o := &c.s.opts.API
	subscriber, _ := rq.body["subscriber"].(string)
	socket := subscriber == ""
	if socket {
		subscriber = c.s.opts.SubscriberPrefix + c.id
	} else if !o.ValidSubscriber(subscriber) {
		return validationFailed(fmt.Sprintf("The subscriber type of subscription must be supported in the list %s.", o.SubscriberTypesText()))
	}
	ttl := o.DefaultSubscriptionTTL
	if n, ok := intField(rq.body, "ttl"); ok {
		ttl = n
	}
	if ttl < 60 || ttl > 1<<40 {
		return validationFailed("The TTL for a subscription must be at least 60 seconds long.")
	}
	opts := storage.Metadata{}
	if m, ok := rq.body["options"].(map[string]any); ok {
		if rp, present := m[storage.MetaRetryPolicy]; present {
			if _, err := policy.Parse(rp); err != nil {
				return validationFailed(err.Error())
			}
		}
		opts = storage.Metadata(m)
	}
	sub, created, err := c.s.store.CreateSubscription(bgContext(), rq.project, rq.queue,
		storage.NewSubscription{Subscriber: subscriber, TTL: ttl, Options: opts})
	if err != nil {
		return c.storageReply(rq, err, "", fmt.Sprintf("Subscription %s could not be created.", rq.queue))
	}
	if !created {
		return reply{409, fmt.Sprintf("Subscription %s not created.", rq.queue)}
	}
	if socket {
		c.notifyBinary.Store(rq.binary)
		c.addSub(socketSub{project: rq.project, queue: rq.queue, id: sub.ID})
	}
	return reply{201, map[string]any{"subscription_id": sub.ID, "message": fmt.Sprintf("Subscription %s created.", rq.queue)}}
}

func subscriptionGet(c *conn, rq *request) reply {
	id, _ := rq.body["subscription_id"].(string)
	sub, err := c.s.store.GetSubscription(bgContext(), rq.project, rq.queue, id)
	if err != nil {
		return c.storageReply(rq, err, id, fmt.Sprintf("Cannot retrieve subscription %s.", id))
	}
	return reply{200, subscriptionDoc(sub, time.Now())}
}

func subscriptionDelete(c *conn, rq *request) reply {
	id, _ := rq.body["subscription_id"].(string)
	if err := c.s.store.DeleteSubscription(bgContext(), rq.project, rq.queue, id); err != nil {
		return c.storageReply(rq, err, id, fmt.Sprintf("Subscription %s for queue %s could not be deleted.", id, rq.queue))
	}
	return reply{204, fmt.Sprintf("Subscription %s removed.", id)}
}
