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

// TestClaimWaitersOneAtATime: claim waiters are woken one per change, the
// next one when a claim took all it asked for or when a woken waiter is
// done with messages still free, and none while nothing is free.
func TestClaimWaitersOneAtATime(t *testing.T) {
	e := openEngine(t, t.TempDir(), nil)
	defer e.Close()
	type waiter struct {
		ch   <-chan struct{}
		done func()
	}
	var ws []waiter
	register := func() {
		ch, done := e.ClaimChanges("p", "q")
		ws = append(ws, waiter{ch, done})
	}
	awake := func() (n, last int) {
		for i, w := range ws {
			if woken(w.ch) {
				n, last = n+1, i
			}
		}
		return n, last
	}
	for range 3 {
		register()
	}
	defer func() {
		for _, w := range ws {
			w.done()
		}
	}()
	post(t, e, "q", "1")
	n, first := awake()
	if n != 1 {
		t.Fatalf("a post of one message woke %d claim waiters, want 1", n)
	}
	ws[first].done() // left without claiming: the message is still free
	n, second := awake()
	if n != 2 {
		t.Fatalf("after the woken waiter left, %d are awake, want 2", n)
	}
	c, err := e.CreateClaim(ctx, "p", "q", storage.ClaimOptions{TTL: 60, Grace: 60, Limit: 10})
	if err != nil || len(c.Messages) != 1 {
		t.Fatalf("claim: %v, %d messages", err, len(c.Messages))
	}
	ws[second].done()
	if n, _ := awake(); n != 2 {
		t.Fatalf("with nothing free, %d are awake, want 2", n)
	}
	register()
	bodies := make([]string, 20)
	for i := range bodies {
		bodies[i] = "m"
	}
	post(t, e, "q", bodies...)
	if n, last := awake(); n != 3 || last != 3 {
		t.Fatalf("a post woke %d waiters (last %d), want the newest", n-2, last)
	}
	if c, err := e.CreateClaim(ctx, "p", "q", storage.ClaimOptions{TTL: 60, Grace: 60, Limit: 10}); err != nil || len(c.Messages) != 10 {
		t.Fatalf("claim: %v, %d messages", err, len(c.Messages))
	}
	if n, _ := awake(); n != 4 {
		t.Fatalf("a claim that took all it asked for left %d awake, want all 4", n)
	}
}
