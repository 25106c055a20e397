package engine

import (
	"testing"
	"time"

	"github.com/zaqar-go/zaqar/internal/testenv"
	"github.com/zaqar-go/zaqar/storage"
)

func woken(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// TestChanges: a waiter is woken by what makes messages claimable (a post,
// a released claim at once; an expired claim or an ended delay at the
// reaper's pass) and not by other queues' changes; done unregisters it.
func TestChanges(t *testing.T) {
	clk := testenv.NewClock(time.Unix(1_700_000_000, 0))
	e := openEngine(t, t.TempDir(), func(o *Options) { o.Clock = clk.Now })
	defer e.Close()
	p := e.partition("p", "q")

	ch, done := e.Changes("p", "q")
	post(t, e, "other", "x")
	if woken(ch) && e.partition("p", "other") == p {
		// Same partition: a post elsewhere must not wake q's waiters.
		t.Fatal("woken by another queue's post")
	}
	post(t, e, "q", "1")
	if !woken(ch) {
		t.Fatal("not woken by a post")
	}
	done()

	c, err := e.CreateClaim(ctx, "p", "q", storage.ClaimOptions{TTL: 60, Grace: 60, Limit: 1})
	if err != nil || len(c.Messages) != 1 {
		t.Fatal(err)
	}
	ch, done = e.Changes("p", "q")
	if err := e.DeleteClaim(ctx, "p", "q", c.ID); err != nil {
		t.Fatal(err)
	}
	if !woken(ch) {
		t.Fatal("not woken by a released claim")
	}
	done()

	if _, err := e.CreateClaim(ctx, "p", "q", storage.ClaimOptions{TTL: 60, Grace: 60, Limit: 1}); err != nil {
		t.Fatal(err)
	}
	ch, done = e.Changes("p", "q")
	p.reapNow()
	if woken(ch) {
		t.Fatal("woken while the claim still runs")
	}
	clk.Add(61 * time.Second)
	p.reapNow()
	if !woken(ch) {
		t.Fatal("not woken when the claim ran out")
	}
	done()

	if _, err := e.CreateQueue(ctx, "p", "d", storage.Metadata{storage.MetaDefaultDelay: 30}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.PostMessages(ctx, "p", "d", "c", []storage.NewMessage{{Body: []byte(`1`), TTL: 300, Delay: 30}}); err != nil {
		t.Fatal(err)
	}
	pd := e.partition("p", "d")
	ch, done = e.Changes("p", "d")
	pd.reapNow()
	if woken(ch) {
		t.Fatal("woken while the delay runs")
	}
	clk.Add(31 * time.Second)
	pd.reapNow()
	if !woken(ch) {
		t.Fatal("not woken when the delay ended")
	}
	done()
	done() // twice is harmless
	for _, part := range e.parts {
		if n := part.wake.waiting.Load(); n != 0 {
			t.Fatalf("partition %d counts %d waiters after done", part.id, n)
		}
	}
}
