package httpapi

import (
	"context"
	"encoding/json"
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

// subscriptionBody decodes and validates a create/update document as
// Zaqar's subscription_posting and subscription_patching do, texts
// included: a field that is null, empty or zero counts as absent (the
// OpenStack client's "subscription update --ttl" sends "subscriber": null).
// For updates every field is optional.
func (a *API) subscriptionBody(ctx *fasthttp.RequestCtx, create bool) (storage.SubscriptionUpdate, bool) {
	var u storage.SubscriptionUpdate
	body := ctx.Request.Body()
	if len(body) > a.opts.MaxQueueMetadata {
		badRequest(ctx, "Subscription document is too large.")
		return u, false
	}
	var raw any = map[string]any{}
	if len(body) > 0 {
		if err := numberAPI.Unmarshal(body, &raw); err != nil {
			badBody(ctx, "Request body could not be parsed.")
			return u, false
		}
	}
	doc, isObject := raw.(map[string]any)
	if create && isObject {
		if _, ok := doc["subscriber"]; !ok {
			badRequest(ctx, "Missing parameter subscriber in body.")
			return u, false
		}
	}
	if !truthy(raw) {
		badRequest(ctx, "No subscription to create.")
		return u, false
	}
	if !isObject {
		badRequest(ctx, "Subscriptions must be a dict.")
		return u, false
	}
	if v := doc["subscriber"]; truthy(v) {
		s, isString := v.(string)
		if !isString || !a.validSubscriber(s) {
			badRequest(ctx, fmt.Sprintf("The subscriber type of subscription must be supported in the list %s.", a.subTypes))
			return u, false
		}
		u.Subscriber = &s
	} else if create {
		badRequest(ctx, "The subscriber of subscription must be a non-empty string.")
		return u, false
	}
	if v := doc["options"]; truthy(v) {
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
	if v := doc["ttl"]; truthy(v) {
		n, isInt := storage.Metadata{"ttl": v}.Int("ttl")
		if _, isNumber := v.(json.Number); !isInt || !isNumber || strings.ContainsAny(string(v.(json.Number)), ".eE") {
			badRequest(ctx, "TTL must be an integer.")
			return u, false
		}
		if n < 60 {
			badRequest(ctx, "The TTL for a subscription must be at least 60 seconds long.")
			return u, false
		}
		if n > lastPythonSecond-time.Now().Unix() {
			badRequest(ctx, "The TTL seconds for a subscription plus current time must be less than 9999-12-31 23:59:59.999999.")
			return u, false
		}
		u.TTL = &n
	} else if create {
		ttl := a.opts.DefaultSubscriptionTTL
		u.TTL = &ttl
	}
	return u, true
}

// lastPythonSecond is 9999-12-31T23:59:59Z, the end of Python's datetime,
// which bounds a subscription's expiry in Zaqar.
const lastPythonSecond = 253402300799

// truthy is Python's truth of a decoded JSON value: null, false, 0, "",
// [] and {} are false.
func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case json.Number:
		f, err := x.Float64()
		return err != nil || f != 0
	case string:
		return x != ""
	case []any:
		return len(x) > 0
	case map[string]any:
		return len(x) > 0
	}
	return true
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
	loc := rq.href() + "/subscriptions"
	setHeader(ctx, "location", loc)
	if !created && sub.Confirmed {
		// Zaqar's text, without the space its concatenation forgets.
		writeError(ctx, fasthttp.StatusConflict, "Resource conflict",
			"Such subscription already exists.Subscriptions are unique by project + queue + subscriber URI.")
		setHeader(ctx, "location", loc)
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
		"id": s.ID, "source": storage.PublicName(s.Queue), "subscriber": s.Subscriber, "ttl": s.TTL,
		"age": int64(now.Sub(s.Created) / time.Second), "options": opts, "confirmed": s.Confirmed,
	}
}

func (a *API) listSubscriptions(ctx *fasthttp.RequestCtx, rq *request) {
	limit, ok := pageLimit(ctx, "subscriptions", a.opts.MaxSubscriptionsPerPage)
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
		links = append(links, map[string]string{"rel": "next", "href": nextHref(ctx, rq.href()+"/subscriptions", subs[len(subs)-1].ID)})
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
	var err error
	if u.Subscriber == nil && u.TTL == nil && u.Options == nil {
		// Nothing to change ({"subscriber": null}): Zaqar still answers
		// 404 for a missing subscription.
		_, err = a.store.GetSubscription(context.Background(), rq.project, rq.queue, rq.id)
	} else {
		err = a.store.UpdateSubscription(context.Background(), rq.project, rq.queue, rq.id, u)
	}
	if errors.Is(err, storage.ErrDuplicate) {
		writeError(ctx, fasthttp.StatusConflict, "Resource conflict", "Such subscription already exists. Subscriptions are unique by project + queue + subscriber URI.")
		return
	}
	if err != nil {
		a.storageError(ctx, rq, err, "Subscription could not be updated.")
		return
	}
	setHeader(ctx, "location", string(ctx.Path()))
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
	setHeader(ctx, "location", string(ctx.Path()))
	ctx.SetStatusCode(fasthttp.StatusNoContent)
}
