package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/zaqar-go/zaqar/notify/policy"
	"github.com/zaqar-go/zaqar/storage"
)

// subscriptionBody decodes and validates a create/update document. For
// updates every field is optional.
func (a *API) subscriptionBody(ctx *fasthttp.RequestCtx, create bool) (storage.SubscriptionUpdate, bool) {
	var u storage.SubscriptionUpdate
	body := ctx.Request.Body()
	if len(body) == 0 {
		if create {
			badRequest(ctx, "Missing parameter subscriber in body.")
		} else {
			badRequest(ctx, "No subscription to create.")
		}
		return u, false
	}
	if len(body) > a.opts.MaxQueueMetadata {
		badRequest(ctx, "Subscription document is too large.")
		return u, false
	}
	var doc map[string]any
	if err := numberAPI.Unmarshal(body, &doc); err != nil || doc == nil {
		badBody(ctx, "Request body could not be parsed.")
		return u, false
	}
	if v, ok := doc["subscriber"]; ok {
		s, isString := v.(string)
		if !isString || s == "" {
			badRequest(ctx, "The subscriber of subscription must be a non-empty string.")
			return u, false
		}
		if !a.validSubscriber(s) {
			badRequest(ctx, fmt.Sprintf("The subscriber type of subscription must be supported in the list %s.", a.subTypes))
			return u, false
		}
		u.Subscriber = &s
	} else if create {
		badRequest(ctx, "Missing parameter subscriber in body.")
		return u, false
	}
	if v, ok := doc["ttl"]; ok {
		m := storage.Metadata{"ttl": v}
		n, isInt := m.Int("ttl")
		if !isInt {
			badRequest(ctx, `The value of the "ttl" field must be a int.`)
			return u, false
		}
		if n < 60 || n > 1<<40 {
			badRequest(ctx, "The TTL for a subscription must be at least 60 seconds long.")
			return u, false
		}
		u.TTL = &n
	} else if create {
		ttl := a.opts.DefaultSubscriptionTTL
		u.TTL = &ttl
	}
	if v, ok := doc["options"]; ok {
		opts, isObject := v.(map[string]any)
		if !isObject {
			badRequest(ctx, "Options must be a dict.")
			return u, false
		}
		if rp, present := opts[storage.MetaRetryPolicy]; present {
			if _, err := policy.Parse(rp); err != nil {
				badRequest(ctx, err.Error())
				return u, false
			}
		}
		u.Options = storage.Metadata(opts)
	} else if create {
		u.Options = storage.Metadata{}
	}
	if !create && u.Subscriber == nil && u.TTL == nil && u.Options == nil {
		badRequest(ctx, "No subscription to create.")
		return u, false
	}
	return u, true
}

func (a *API) validSubscriber(s string) bool {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" {
		return false
	}
	if !slices.Contains(a.opts.SubscriberTypes, strings.ToLower(u.Scheme)) {
		return false
	}
	if u.Scheme == "mailto" {
		return u.Opaque != "" && strings.Contains(u.Opaque, "@")
	}
	return u.Host != ""
}

func (a *API) createSubscription(ctx *fasthttp.RequestCtx, rq *request) {
	u, ok := a.subscriptionBody(ctx, true)
	if !ok {
		return
	}
	sub, created, err := a.store.CreateSubscription(context.Background(), rq.project, rq.queue,
		storage.NewSubscription{Subscriber: *u.Subscriber, TTL: *u.TTL, Options: u.Options})
	if err != nil {
		a.storageError(ctx, rq, err, "Subscription could not be created.")
		return
	}
	loc := "/v2/queues/" + rq.queue + "/subscriptions"
	ctx.Response.Header.Set("Location", loc)
	if !created && sub.Confirmed {
		writeError(ctx, fasthttp.StatusConflict, "Resource conflict", "Subscription already exists.")
		ctx.Response.Header.Set("Location", loc+"/"+sub.ID)
		return
	}
	writeValue(ctx, fasthttp.StatusCreated, map[string]string{"subscription_id": sub.ID})
}

func subscriptionDoc(s storage.Subscription, now time.Time) map[string]any {
	opts := s.Options
	if opts == nil {
		opts = storage.Metadata{}
	}
	return map[string]any{
		"id": s.ID, "source": s.Queue, "subscriber": s.Subscriber, "ttl": s.TTL,
		"age": int64(now.Sub(s.Created) / time.Second), "options": opts, "confirmed": s.Confirmed,
	}
}

func (a *API) listSubscriptions(ctx *fasthttp.RequestCtx, rq *request) {
	limit, ok := pageLimit(ctx, a.opts.MaxSubscriptionsPerPage, limitText("subscriptions", a.opts.MaxSubscriptionsPerPage))
	if !ok {
		return
	}
	marker, _ := queryString(ctx, "marker")
	subs, err := a.store.ListSubscriptions(context.Background(), rq.project, rq.queue, marker, limit)
	if err != nil {
		a.storageError(ctx, rq, err, "Subscriptions could not be listed.")
		return
	}
	now := time.Now()
	items := make([]map[string]any, len(subs))
	for i, s := range subs {
		items[i] = subscriptionDoc(s, now)
	}
	links := []any{}
	if len(subs) > 0 {
		links = append(links, map[string]string{"rel": "next", "href": nextHref(ctx, "/v2/queues/"+rq.queue+"/subscriptions", subs[len(subs)-1].ID)})
	}
	writeValue(ctx, fasthttp.StatusOK, map[string]any{"subscriptions": items, "links": links})
}

func (a *API) getSubscription(ctx *fasthttp.RequestCtx, rq *request) {
	rq.id, _ = ctx.UserValue("subscription").(string)
	s, err := a.store.GetSubscription(context.Background(), rq.project, rq.queue, rq.id)
	if err != nil {
		a.storageError(ctx, rq, err, "Subscription could not be retrieved.")
		return
	}
	writeValue(ctx, fasthttp.StatusOK, subscriptionDoc(s, time.Now()))
}

func (a *API) updateSubscription(ctx *fasthttp.RequestCtx, rq *request) {
	rq.id, _ = ctx.UserValue("subscription").(string)
	u, ok := a.subscriptionBody(ctx, false)
	if !ok {
		return
	}
	err := a.store.UpdateSubscription(context.Background(), rq.project, rq.queue, rq.id, u)
	if errors.Is(err, storage.ErrDuplicate) {
		writeError(ctx, fasthttp.StatusConflict, "Resource conflict", "Such subscription already exists. Subscriptions are unique by project + queue + subscriber URI.")
		return
	}
	if err != nil {
		a.storageError(ctx, rq, err, "Subscription could not be updated.")
		return
	}
	ctx.Response.Header.Set("Location", string(ctx.Path()))
	ctx.SetStatusCode(fasthttp.StatusNoContent)
}

func (a *API) deleteSubscription(ctx *fasthttp.RequestCtx, rq *request) {
	rq.id, _ = ctx.UserValue("subscription").(string)
	if err := a.store.DeleteSubscription(context.Background(), rq.project, rq.queue, rq.id); err != nil {
		a.storageError(ctx, rq, err, "Subscription could not be deleted.")
		return
	}
	ctx.SetStatusCode(fasthttp.StatusNoContent)
}

func (a *API) confirmSubscription(ctx *fasthttp.RequestCtx, rq *request) {
	rq.id, _ = ctx.UserValue("subscription").(string)
	var doc map[string]any
	if err := numberAPI.Unmarshal(ctx.Request.Body(), &doc); err != nil {
		badBody(ctx, "Request body could not be parsed.")
		return
	}
	confirmed, ok := doc["confirmed"].(bool)
	if !ok {
		badRequest(ctx, "The 'confirmed' should be boolean.")
		return
	}
	if err := a.store.ConfirmSubscription(context.Background(), rq.project, rq.queue, rq.id, confirmed); err != nil {
		a.storageError(ctx, rq, err, "Subscription could not be confirmed.")
		return
	}
	ctx.Response.Header.Set("Location", string(ctx.Path()))
	ctx.SetStatusCode(fasthttp.StatusNoContent)
}
