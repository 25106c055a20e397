package storagetest

import (
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/zaqar-go/zaqar/storage"
)

func init() {
	register("TopicsListedApartFromQueues", func(e *env) {
		long := strings.Repeat("t", 64)
		for _, name := range []string{"a", "news", storage.TopicKey("news"), storage.TopicKey("b"), storage.TopicKey(long)} {
			if _, err := e.s.CreateQueue(e.ctx, e.project, name, storage.Metadata{"n": name}); err != nil {
				e.t.Fatalf("create %s: %v", name, err)
			}
		}
		names := func(o storage.ListQueuesOptions) []string {
			o.Limit = 2
			var out []string
			for {
				page, err := e.s.ListQueues(e.ctx, e.project, o)
				if err != nil {
					e.t.Fatalf("list %+v: %v", o, err)
				}
				for _, q := range page {
					out = append(out, q.Name)
					o.Marker = q.Name
				}
				if len(page) < o.Limit {
					return out
				}
			}
		}
		if got := strings.Join(names(storage.ListQueuesOptions{}), ","); got != "a,news" {
			e.t.Fatalf("queues listed: %s", got)
		}
		want := strings.Join([]string{storage.TopicKey("b"), storage.TopicKey("news"), storage.TopicKey(long)}, ",")
		if got := strings.Join(names(storage.ListQueuesOptions{Topics: true}), ","); got != want {
			e.t.Fatalf("topics listed: %s, want %s", got, want)
		}
		if got := names(storage.ListQueuesOptions{Topics: true, Name: "new"}); len(got) != 1 || got[0] != storage.TopicKey("news") {
			e.t.Fatalf("topics named like new: %v", got)
		}
		if n, err := e.s.CountQueues(e.ctx, e.project); err != nil || n != 2 {
			e.t.Fatalf("count: %d %v, want the 2 queues", n, err)
		}
		e.post(storage.TopicKey("news"), "c", `"for the topic"`)
		if st, err := e.s.QueueStats(e.ctx, e.project, "news"); err != nil || st.Total != 0 {
			e.t.Fatalf("the queue of the same name: %+v %v", st, err)
		}
	})

	register("NoDeadLetterIntoATopic", func(e *env) {
		e.s.CreateQueue(e.ctx, e.project, "q", storage.Metadata{
			storage.MetaMaxClaimCount: json.Number("1"), storage.MetaDeadLetterQueue: storage.TopicKey("dead"),
		})
		e.post("q", "c", `"poison"`)
		for i := 0; i < 2; i++ {
			if c := e.claim("q", 5, 60, 60); len(c.Messages) != 1 {
				e.t.Fatalf("claim %d: %d messages: a topic took the dead letters", i, len(c.Messages))
			}
			e.clock.Advance(61 * time.Second)
		}
		if st, err := e.s.QueueStats(e.ctx, e.project, storage.TopicKey("dead")); err == nil && st.Total != 0 {
			e.t.Fatalf("the topic got %d dead letters", st.Total)
		}
	})

	register("PlaintextGuard", func(e *env) {
		g, ok := e.s.(storage.PlaintextGuard)
		if !ok {
			return
		}
		plain := []storage.NewMessage{{Body: []byte(`"open"`), TTL: 300}}
		if _, err := e.s.CreateQueue(e.ctx, e.project, "sealed", storage.Metadata{storage.MetaEnableEncryption: true}); err != nil {
			e.t.Fatal(err)
		}
		if _, err := g.PostPlaintext(e.ctx, e.project, "sealed", "c", plain); !errors.Is(err, storage.ErrEncryptionRequired) {
			e.t.Fatalf("plaintext to an encrypted queue: %v", err)
		}
		if st, _ := e.s.QueueStats(e.ctx, e.project, "sealed"); st.Total != 0 {
			e.t.Fatalf("a refused post stored %d messages", st.Total)
		}
		for _, q := range []string{"open", "new"} {
			if q == "open" {
				if _, err := e.s.CreateQueue(e.ctx, e.project, q, storage.Metadata{storage.MetaEnableEncryption: false}); err != nil {
					e.t.Fatal(err)
				}
			}
			if ids, err := g.PostPlaintext(e.ctx, e.project, q, "c", plain); err != nil || len(ids) != 1 {
				e.t.Fatalf("plaintext to %s: %v %v", q, ids, err)
			}
		}
		if err := e.s.SetQueueMetadata(e.ctx, e.project, "open", storage.Metadata{storage.MetaEnableEncryption: true}); err != nil {
			e.t.Fatal(err)
		}
		if _, err := g.PostPlaintext(e.ctx, e.project, "open", "c", plain); !errors.Is(err, storage.ErrEncryptionRequired) {
			e.t.Fatalf("plaintext after encryption was turned on: %v", err)
		}
	})
}
