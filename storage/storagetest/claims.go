package storagetest

import (
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/zaqar-go/zaqar/storage"
)

func init() {
	register("ClaimLifecycle", func(e *env) {
		if c := e.claim("missing", 5, 60, 60); len(c.Messages) != 0 {
			e.t.Fatal("claim on a missing queue returned messages")
		}
		ids := e.post("q", "c", "1", "2", "3")
		c := e.claim("q", 2, 100, 60)
		if !equal(ids2(c.Messages), ids[:2]) || c.TTL != 100 || c.Messages[0].ClaimCount != 1 {
			e.t.Fatalf("claim: %+v", c)
		}
		if c.Messages[0].TTL < 160 {
			e.t.Fatalf("claimed message ttl %d < claim ttl + grace", c.Messages[0].TTL)
		}
		c2 := e.claim("q", 5, 60, 60)
		if !equal(ids2(c2.Messages), ids[2:]) {
			e.t.Fatalf("second claim overlaps: %v", ids2(c2.Messages))
		}
		got, err := e.s.GetClaim(e.ctx, e.project, "q", c.ID)
		if err != nil || len(got.Messages) != 2 || got.TTL != 100 {
			e.t.Fatalf("get claim: %+v %v", got, err)
		}
		e.clock.Advance(50 * time.Second)
		if err := e.s.UpdateClaim(e.ctx, e.project, "q", c.ID, 200, 60); err != nil {
			e.t.Fatal(err)
		}
		got, _ = e.s.GetClaim(e.ctx, e.project, "q", c.ID)
		if got.TTL != 200 || e.clock.Now().Sub(got.Updated) > time.Second {
			e.t.Fatalf("renewed claim: ttl %d updated %v", got.TTL, got.Updated)
		}
		e.clock.Advance(150 * time.Second) // c2 (60s) expired, c renewed to 200s is live
		if _, err := e.s.GetClaim(e.ctx, e.project, "q", c2.ID); !errors.Is(err, storage.ErrClaimNotFound) {
			e.t.Fatalf("expired claim: %v", err)
		}
		if err := e.s.UpdateClaim(e.ctx, e.project, "q", c2.ID, 100, 60); !errors.Is(err, storage.ErrClaimNotFound) {
			e.t.Fatalf("renew expired claim: %v", err)
		}
		c3 := e.claim("q", 5, 60, 60)
		if !equal(ids2(c3.Messages), ids[2:]) || c3.Messages[0].ClaimCount != 2 {
			e.t.Fatalf("expired claim's message not reclaimed: %+v", c3.Messages)
		}
		if err := e.s.DeleteClaim(e.ctx, e.project, "q", c.ID); err != nil {
			e.t.Fatal(err)
		}
		if err := e.s.DeleteClaim(e.ctx, e.project, "q", "unknown"); err != nil {
			e.t.Fatalf("release unknown: %v", err)
		}
		c4 := e.claim("q", 5, 60, 60)
		if !equal(ids2(c4.Messages), ids[:2]) || c4.Messages[0].ClaimCount != 2 {
			e.t.Fatalf("released messages not claimable: %+v", c4.Messages)
		}
	})

	register("ClaimKeepsLongerMessageTTL", func(e *env) {
		e.s.PostMessages(e.ctx, e.project, "q", "c", []storage.NewMessage{{Body: []byte("1"), TTL: 60}, {Body: []byte("2"), TTL: 100000}})
		c := e.claim("q", 2, 60, 60)
		if c.Messages[0].TTL != 120 || c.Messages[1].TTL != 100000 {
			e.t.Fatalf("ttls after claim: %d %d", c.Messages[0].TTL, c.Messages[1].TTL)
		}
		e.clock.Advance(100 * time.Second)
		if _, err := e.s.GetMessage(e.ctx, e.project, "q", c.Messages[0].ID); err != nil {
			e.t.Fatalf("claimed message expired before claim+grace: %v", err)
		}
	})

	register("DeadLetterQueue", func(e *env) {
		e.s.CreateQueue(e.ctx, e.project, "q", storage.Metadata{
			storage.MetaMaxClaimCount: json.Number("2"), storage.MetaDeadLetterQueue: "dead",
			storage.MetaDeadLetterTTL: json.Number("500"),
		})
		ids := e.post("q", "c", "poison")
		for i := 0; i < 2; i++ {
			c := e.claim("q", 5, 60, 60)
			if len(c.Messages) != 1 {
				e.t.Fatalf("claim %d: %d messages", i, len(c.Messages))
			}
			e.clock.Advance(61 * time.Second)
		}
		if c := e.claim("q", 5, 60, 60); len(c.Messages) != 0 {
			e.t.Fatalf("message over the max claim count returned: %+v", c)
		}
		if _, err := e.s.GetMessage(e.ctx, e.project, "q", ids[0]); !errors.Is(err, storage.ErrMessageNotFound) {
			e.t.Fatalf("moved message still in its queue: %v", err)
		}
		dead := e.all("dead")
		if len(dead) != 1 || string(dead[0].Body) != "poison" || dead[0].TTL != 500 {
			e.t.Fatalf("dead letter queue: %+v", dead)
		}
	})

	register("ConcurrentClaimsNeverOverlap", func(e *env) {
		for i := 0; i < 20; i++ {
			e.post("q", "c", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10")
		}
		var mu sync.Mutex
		holder := map[string]string{}
		var wg sync.WaitGroup
		for w := 0; w < 6; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					c, err := e.s.CreateClaim(e.ctx, e.project, "q", storage.ClaimOptions{TTL: 300, Grace: 60, Limit: 3})
					if err != nil {
						e.t.Error(err)
						return
					}
					if len(c.Messages) == 0 {
						return
					}
					mu.Lock()
					for _, m := range c.Messages {
						if prev, ok := holder[m.ID]; ok {
							e.t.Errorf("message %s held by %s and %s", m.ID, prev, c.ID)
						}
						holder[m.ID] = c.ID
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(holder) != 200 {
			e.t.Fatalf("claimed %d of 200", len(holder))
		}
	})
}
