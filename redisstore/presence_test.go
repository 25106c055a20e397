package redisstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/zaqar-go/zaqar/internal/testenv"
	"github.com/zaqar-go/zaqar/storage"
)

func TestHasSubscriptions(t *testing.T) {
	clock := testenv.NewClock(time.Unix(1_800_000_000, 0))
	s := open(t, clock.Now)
	ctx := context.Background()
	has := func(project, queue string) bool {
		t.Helper()
		ok, err := s.HasSubscriptions(ctx, project, queue)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if has("p", "q") {
		t.Fatal("a queue that does not exist has subscriptions")
	}
	if _, err := s.PostMessages(ctx, "p", "q", "c", []storage.NewMessage{{Body: []byte(`1`), TTL: 60}}); err != nil {
		t.Fatal(err)
	}
	if has("p", "q") {
		t.Fatal("a queue with messages and no subscription has subscriptions")
	}
	a, _, err := s.CreateSubscription(ctx, "p", "q", storage.NewSubscription{Subscriber: "http://a", TTL: 60})
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := s.CreateSubscription(ctx, "p", "q", storage.NewSubscription{Subscriber: "http://b", TTL: 600})
	if err != nil {
		t.Fatal(err)
	}
	if !has("p", "q") {
		t.Fatal("subscribed queue: no subscriptions")
	}
	if has("p", "other") || has("p2", "q") || has("", "p/q") {
		t.Fatal("another queue's subscriptions are seen")
	}
	if err := s.DeleteSubscription(ctx, "p", "q", a.ID); err != nil {
		t.Fatal(err)
	}
	if !has("p", "q") {
		t.Fatal("one of two subscriptions deleted: none left")
	}
	// Expired but not swept: true is allowed (and what Redis answers).
	clock.Add(time.Hour)
	if !has("p", "q") {
		t.Fatal("an expired, unswept subscription is not counted")
	}
	if _, err := s.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if has("p", "q") {
		t.Fatal("swept: subscriptions remain")
	}
	if _, err := s.ListSubscriptions(ctx, "p", "q", "", 10); err != nil {
		t.Fatal(err)
	}
	c, _, err := s.CreateSubscription(ctx, "p", "q", storage.NewSubscription{Subscriber: "http://c", TTL: 600})
	if err != nil {
		t.Fatal(err)
	}
	if c.ID == b.ID || !has("p", "q") {
		t.Fatal("resubscribed: no subscriptions")
	}
	if err := s.DeleteQueue(ctx, "p", "q"); err != nil {
		t.Fatal(err)
	}
	if !has("p", "q") {
		t.Fatal("deleting the queue must keep its subscriptions")
	}
	if err := s.PurgeQueue(ctx, "p", "q", storage.PurgeOptions{Subscriptions: true}); err != nil && !errors.Is(err, storage.ErrQueueNotFound) {
		t.Fatal(err)
	}
	if err := s.DeleteSubscription(ctx, "p", "q", c.ID); err != nil {
		t.Fatal(err)
	}
	if has("p", "q") {
		t.Fatal("last subscription deleted: subscriptions remain")
	}
}

func TestHasSubscriptionsPurged(t *testing.T) {
	s := open(t, nil)
	ctx := context.Background()
	if _, _, err := s.CreateSubscription(ctx, "p", "q", storage.NewSubscription{Subscriber: "http://a", TTL: 60}); err != nil {
		t.Fatal(err)
	}
	if err := s.PurgeQueue(ctx, "p", "q", storage.PurgeOptions{Subscriptions: true}); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.HasSubscriptions(ctx, "p", "q"); ok || err != nil {
		t.Fatalf("purged with subscriptions: %v %v", ok, err)
	}
}

func TestHasSubscriptionsUnavailable(t *testing.T) {
	s, err := Open("redis://127.0.0.1:1", Options{Logger: quiet, SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.HasSubscriptions(context.Background(), "p", "q"); !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("Redis down: %v, want storage.ErrUnavailable", err)
	}
}
