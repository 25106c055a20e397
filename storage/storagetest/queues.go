package storagetest

import (
	"encoding/json"
	"errors"

	"github.com/zaqar-go/zaqar/storage"
)

func init() {
	register("QueueCreateGetSet", func(e *env) {
		created, err := e.s.CreateQueue(e.ctx, e.project, "q", storage.Metadata{"color": "blue", "n": json.Number("5")})
		if err != nil || !created {
			e.t.Fatalf("create: %v %v", created, err)
		}
		created, err = e.s.CreateQueue(e.ctx, e.project, "q", storage.Metadata{"color": "red"})
		if err != nil || created {
			e.t.Fatalf("second create: created=%v err=%v", created, err)
		}
		m, err := e.s.GetQueueMetadata(e.ctx, e.project, "q")
		if err != nil || m["color"] != "blue" {
			e.t.Fatalf("metadata changed by second create: %v %v", m, err)
		}
		if n, ok := m.Int("n"); !ok || n != 5 {
			e.t.Fatalf("number round trip: %#v", m["n"])
		}
		if err := e.s.SetQueueMetadata(e.ctx, e.project, "q", storage.Metadata{"x": true}); err != nil {
			e.t.Fatal(err)
		}
		if m, _ := e.s.GetQueueMetadata(e.ctx, e.project, "q"); m["x"] != true || m["color"] != nil {
			e.t.Fatalf("set replaces: %v", m)
		}
		if _, err := e.s.GetQueueMetadata(e.ctx, e.project, "missing"); !errors.Is(err, storage.ErrQueueNotFound) {
			e.t.Fatalf("missing queue: %v", err)
		}
		if err := e.s.SetQueueMetadata(e.ctx, e.project, "missing", storage.Metadata{}); !errors.Is(err, storage.ErrQueueNotFound) {
			e.t.Fatalf("set on missing queue: %v", err)
		}
	})

	register("QueueListCountFilters", func(e *env) {
		for _, n := range []string{"b", "a", "c.x", "d-1", "e_2"} {
			e.s.CreateQueue(e.ctx, e.project, n, storage.Metadata{"kind": n[:1], "size": json.Number("3")})
		}
		e.s.CreateQueue(e.ctx, e.project+"-other", "zz", nil)
		page, err := e.s.ListQueues(e.ctx, e.project, storage.ListQueuesOptions{Limit: 2})
		if err != nil || len(page) != 2 || page[0].Name != "a" || page[1].Name != "b" || page[0].Metadata != nil {
			e.t.Fatalf("page 1: %+v %v", page, err)
		}
		page, _ = e.s.ListQueues(e.ctx, e.project, storage.ListQueuesOptions{Limit: 10, Marker: "b", Detailed: true})
		if len(page) != 3 || page[0].Name != "c.x" || page[0].Metadata["kind"] != "c" {
			e.t.Fatalf("page after b: %+v", page)
		}
		page, _ = e.s.ListQueues(e.ctx, e.project, storage.ListQueuesOptions{Limit: 10, Name: "-"})
		if len(page) != 1 || page[0].Name != "d-1" {
			e.t.Fatalf("name filter: %+v", page)
		}
		page, _ = e.s.ListQueues(e.ctx, e.project, storage.ListQueuesOptions{Limit: 10, Filter: map[string]string{"kind": "e", "size": "3"}})
		if len(page) != 1 || page[0].Name != "e_2" {
			e.t.Fatalf("metadata filter: %+v", page)
		}
		if n, err := e.s.CountQueues(e.ctx, e.project); err != nil || n != 5 {
			e.t.Fatalf("count = %d %v", n, err)
		}
	})

	register("QueueDeleteKeepsSubscriptions", func(e *env) {
		e.post("q", "c1", "1", "2")
		sub, _, err := e.s.CreateSubscription(e.ctx, e.project, "q", storage.NewSubscription{Subscriber: "http://h/x", TTL: 3600})
		if err != nil {
			e.t.Fatal(err)
		}
		if err := e.s.DeleteQueue(e.ctx, e.project, "q"); err != nil {
			e.t.Fatal(err)
		}
		if err := e.s.DeleteQueue(e.ctx, e.project, "q"); err != nil {
			e.t.Fatalf("deleting a missing queue: %v", err)
		}
		if _, err := e.s.GetQueueMetadata(e.ctx, e.project, "q"); !errors.Is(err, storage.ErrQueueNotFound) {
			e.t.Fatalf("queue still there: %v", err)
		}
		if m := e.all("q"); len(m) != 0 {
			e.t.Fatalf("messages survived delete: %d", len(m))
		}
		if _, err := e.s.GetSubscription(e.ctx, e.project, "q", sub.ID); err != nil {
			e.t.Fatalf("subscription lost with queue: %v", err)
		}
	})

	register("StatsAndPurge", func(e *env) {
		if _, err := e.s.QueueStats(e.ctx, e.project, "q"); !errors.Is(err, storage.ErrQueueNotFound) {
			e.t.Fatalf("stats of missing queue: %v", err)
		}
		ids := e.post("q", "c1", "1", "2", "3")
		e.claim("q", 1, 60, 60)
		st, err := e.s.QueueStats(e.ctx, e.project, "q")
		if err != nil || st.Total != 3 || st.Claimed != 1 || st.Free != 2 || st.Oldest == nil || st.Oldest.ID != ids[0] || st.Newest.ID != ids[2] {
			e.t.Fatalf("stats %+v %v", st, err)
		}
		e.s.CreateSubscription(e.ctx, e.project, "q", storage.NewSubscription{Subscriber: "http://h/x", TTL: 3600})
		e.s.SetQueueMetadata(e.ctx, e.project, "q", storage.Metadata{"keep": "me"})
		if err := e.s.PurgeQueue(e.ctx, e.project, "q", storage.PurgeOptions{Messages: true}); err != nil {
			e.t.Fatal(err)
		}
		if m := e.all("q"); len(m) != 0 {
			e.t.Fatalf("purge left %d messages (claimed ones included must go)", len(m))
		}
		if subs, _ := e.s.ListSubscriptions(e.ctx, e.project, "q", "", 10); len(subs) != 1 {
			e.t.Fatalf("message purge removed subscriptions: %d", len(subs))
		}
		e.s.PurgeQueue(e.ctx, e.project, "q", storage.PurgeOptions{Subscriptions: true})
		if subs, _ := e.s.ListSubscriptions(e.ctx, e.project, "q", "", 10); len(subs) != 0 {
			e.t.Fatalf("subscription purge left %d", len(subs))
		}
		if m, _ := e.s.GetQueueMetadata(e.ctx, e.project, "q"); m["keep"] != "me" {
			e.t.Fatalf("purge lost metadata: %v", m)
		}
		if st, _ := e.s.QueueStats(e.ctx, e.project, "q"); st.Total != 0 || st.Oldest != nil {
			e.t.Fatalf("stats after purge %+v", st)
		}
	})

	register("ProjectIsolation", func(e *env) {
		other := e.project + "-b"
		ids := e.post("q", "c1", "mine")
		if _, err := e.s.GetMessage(e.ctx, other, "q", ids[0]); err == nil {
			e.t.Fatal("message visible from another project")
		}
		if m, _, _ := e.s.ListMessages(e.ctx, other, "q", storage.ListMessagesOptions{Limit: 10, Echo: true}); len(m) != 0 {
			e.t.Fatal("listing leaks across projects")
		}
		if c, _ := e.s.CreateClaim(e.ctx, other, "q", storage.ClaimOptions{TTL: 60, Grace: 60, Limit: 10}); len(c.Messages) != 0 {
			e.t.Fatal("claim across projects")
		}
		e.s.DeleteMessages(e.ctx, other, "q", ids, nil)
		e.s.DeleteQueue(e.ctx, other, "q")
		if _, err := e.s.GetMessage(e.ctx, e.project, "q", ids[0]); err != nil {
			e.t.Fatalf("another project deleted my message: %v", err)
		}
	})
}
