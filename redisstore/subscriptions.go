package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/zaqar-go/zaqar/storage"
)

// Subscriptions live in four keys under the queue's hash tag (subKeys):
// the records hash, the options hash, the subscriber index and the expiry
// zset (see the scripts in scripts.go).

var _ storage.SubscriptionPresence = (*Store)(nil)

// HasSubscriptions implements storage.SubscriptionPresence in one O(1)
// round trip: EXISTS on the queue's subscription records hash. Redis
// deletes a hash with its last field, and every subscription has its
// record there until it is deleted or swept, so the answer is false
// exactly when the queue has no subscription; true may include expired
// ones the sweeper has not removed yet, as the interface allows. Nothing
// new is written, so data of earlier versions is read as it is.
func (s *Store) HasSubscriptions(ctx context.Context, project, queue string) (bool, error) {
	n, err := s.rdb.Exists(ctx, s.subKeys(project, queue)[0]).Result()
	if err != nil {
		return false, s.fail(err)
	}
	return n > 0, nil
}

type subRecord struct {
	Sub string `json:"sub"`
	T   int64  `json:"t"`
	C   int64  `json:"c"`
	E   int64  `json:"e"`
	OK  bool   `json:"ok"`
}

func (s *Store) CreateSubscription(ctx context.Context, project, queue string, ns storage.NewSubscription) (storage.Subscription, bool, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return storage.Subscription{}, false, err
	}
	// Subscribing creates the queue, as posting does.
	res, err := s.indexedRun(ctx, project, queue, subCreateScript, s.subKeys(project, queue),
		&step{key: s.qk(project, queue).q, add: func(p redis.Pipeliner) { p.HSetNX(ctx, s.qk(project, queue).q, "meta", "{}") }},
		s.now(), id.String(), ns.Subscriber, ns.TTL, encodeMeta(ns.Options))
	if err != nil {
		return storage.Subscription{}, false, err
	}
	v, err := res.Slice()
	if err != nil || len(v) != 2 {
		return storage.Subscription{}, false, s.fail(err)
	}
	got, _ := v[0].(string)
	created, _ := v[1].(int64)
	sub, err := s.GetSubscription(ctx, project, queue, got)
	return sub, created == 1, err
}

func (s *Store) GetSubscription(ctx context.Context, project, queue, id string) (storage.Subscription, error) {
	k := s.subKeys(project, queue)
	p := s.rdb.Pipeline()
	rec := p.HGet(ctx, k[0], id)
	opts := p.HGet(ctx, k[1], id)
	if _, err := p.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return storage.Subscription{}, s.fail(err)
	}
	raw, err := rec.Result()
	if err != nil {
		return storage.Subscription{}, storage.ErrSubscriptionNotFound
	}
	sub, ok := decodeSub(id, queue, raw, opts.Val(), s.now())
	if !ok {
		return storage.Subscription{}, storage.ErrSubscriptionNotFound
	}
	return sub, nil
}

func decodeSub(id, queue, raw, opts string, now int64) (storage.Subscription, bool) {
	var r subRecord
	if json.Unmarshal([]byte(raw), &r) != nil || r.E <= now {
		return storage.Subscription{}, false
	}
	return storage.Subscription{ID: id, Queue: queue, Subscriber: r.Sub, TTL: r.T, Options: decodeMeta(opts),
		Created: time.UnixMilli(r.C), Expires: time.UnixMilli(r.E), Confirmed: r.OK}, true
}

func (s *Store) ListSubscriptions(ctx context.Context, project, queue, marker string, limit int) ([]storage.Subscription, error) {
	k := s.subKeys(project, queue)
	p := s.rdb.Pipeline()
	recs := p.HGetAll(ctx, k[0])
	opts := p.HGetAll(ctx, k[1])
	if _, err := p.Exec(ctx); err != nil {
		return nil, s.fail(err)
	}
	now := s.now()
	var out []storage.Subscription
	for id, raw := range recs.Val() {
		if id <= marker {
			continue
		}
		if sub, ok := decodeSub(id, queue, raw, opts.Val()[id], now); ok {
			out = append(out, sub)
		}
	}
	// UUIDv7 ids sort in creation order.
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (s *Store) changeSub(ctx context.Context, project, queue, id, subscriber string, ttl int64, opts, confirmed string) error {
	n, err := s.runInt(ctx, subUpdateScript, s.subKeys(project, queue), s.now(), id, subscriber, ttl, opts, confirmed)
	if err != nil {
		return err
	}
	switch n {
	case 1:
		return storage.ErrSubscriptionNotFound
	case 2:
		return storage.ErrDuplicate
	}
	return nil
}

func (s *Store) UpdateSubscription(ctx context.Context, project, queue, id string, u storage.SubscriptionUpdate) error {
	subscriber, ttl, opts := "", int64(-1), ""
	if u.Subscriber != nil {
		subscriber = *u.Subscriber
	}
	if u.TTL != nil {
		ttl = *u.TTL
	}
	if u.Options != nil {
		opts = encodeMeta(u.Options)
	}
	return s.changeSub(ctx, project, queue, id, subscriber, ttl, opts, "")
}

func (s *Store) DeleteSubscription(ctx context.Context, project, queue, id string) error {
	_, err := s.runScript(ctx, subDeleteScript, s.subKeys(project, queue), []any{id})
	return err
}

func (s *Store) ConfirmSubscription(ctx context.Context, project, queue, id string, confirmed bool) error {
	c := "0"
	if confirmed {
		c = "1"
	}
	return s.changeSub(ctx, project, queue, id, "", -1, "", c)
}
