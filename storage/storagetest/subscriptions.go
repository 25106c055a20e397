package storagetest

import (
	"errors"
	"time"

	"github.com/zaqar-go/zaqar/storage"
)

func init() {
	register("Subscriptions", func(e *env) {
		s1, created, err := e.s.CreateSubscription(e.ctx, e.project, "q", storage.NewSubscription{
			Subscriber: "http://a/hook", TTL: 3600, Options: storage.Metadata{"k": "v"}})
		if err != nil || !created || s1.ID == "" || s1.Queue != "q" || s1.Confirmed {
			e.t.Fatalf("create: %+v %v %v", s1, created, err)
		}
		if _, err := e.s.GetQueueMetadata(e.ctx, e.project, "q"); err != nil {
			e.t.Fatalf("subscription did not create the queue: %v", err)
		}
		dup, created, _ := e.s.CreateSubscription(e.ctx, e.project, "q", storage.NewSubscription{Subscriber: "http://a/hook", TTL: 60})
		if created || dup.ID != s1.ID {
			e.t.Fatalf("duplicate subscriber: %+v created=%v", dup, created)
		}
		s2, _, _ := e.s.CreateSubscription(e.ctx, e.project, "q", storage.NewSubscription{Subscriber: "mailto:x@y", TTL: 120})
		s3, _, _ := e.s.CreateSubscription(e.ctx, e.project, "q", storage.NewSubscription{Subscriber: "http://c", TTL: 3600})
		page, _ := e.s.ListSubscriptions(e.ctx, e.project, "q", "", 2)
		if len(page) != 2 || page[0].ID != s1.ID || page[1].ID != s2.ID {
			e.t.Fatalf("page 1: %+v", page)
		}
		page, _ = e.s.ListSubscriptions(e.ctx, e.project, "q", page[1].ID, 2)
		if len(page) != 1 || page[0].ID != s3.ID {
			e.t.Fatalf("page 2: %+v", page)
		}
		sub := "http://c"
		if err := e.s.UpdateSubscription(e.ctx, e.project, "q", s1.ID, storage.SubscriptionUpdate{Subscriber: &sub}); !errors.Is(err, storage.ErrDuplicate) {
			e.t.Fatalf("update to a duplicate subscriber: %v", err)
		}
		ttl := int64(7200)
		sub = "http://b/new"
		e.clock.Advance(10 * time.Second)
		if err := e.s.UpdateSubscription(e.ctx, e.project, "q", s1.ID, storage.SubscriptionUpdate{Subscriber: &sub, TTL: &ttl, Options: storage.Metadata{"z": "1"}}); err != nil {
			e.t.Fatal(err)
		}
		got, _ := e.s.GetSubscription(e.ctx, e.project, "q", s1.ID)
		if got.Subscriber != sub || got.TTL != 7200 || got.Options["z"] != "1" || !got.Created.Equal(e.clock.Now()) {
			e.t.Fatalf("after update: %+v", got)
		}
		if err := e.s.ConfirmSubscription(e.ctx, e.project, "q", s1.ID, true); err != nil {
			e.t.Fatal(err)
		}
		if got, _ := e.s.GetSubscription(e.ctx, e.project, "q", s1.ID); !got.Confirmed {
			e.t.Fatal("not confirmed")
		}
		if err := e.s.ConfirmSubscription(e.ctx, e.project, "q", "missing", true); !errors.Is(err, storage.ErrSubscriptionNotFound) {
			e.t.Fatalf("confirm missing: %v", err)
		}
		e.clock.Advance(121 * time.Second)
		if _, err := e.s.GetSubscription(e.ctx, e.project, "q", s2.ID); !errors.Is(err, storage.ErrSubscriptionNotFound) {
			e.t.Fatalf("expired subscription: %v", err)
		}
		if err := e.s.DeleteSubscription(e.ctx, e.project, "q", s3.ID); err != nil {
			e.t.Fatal(err)
		}
		if err := e.s.DeleteSubscription(e.ctx, e.project, "q", s3.ID); err != nil {
			e.t.Fatalf("delete missing: %v", err)
		}
		if page, _ := e.s.ListSubscriptions(e.ctx, e.project, "q", "", 10); len(page) != 1 || page[0].ID != s1.ID {
			e.t.Fatalf("left: %+v", page)
		}
		if _, err := e.s.GetSubscription(e.ctx, e.project+"-x", "q", s1.ID); err == nil {
			e.t.Fatal("subscription visible from another project")
		}
	})
}
