package engine

import (
	"fmt"
	"testing"
	"time"

	"github.com/zaqar-go/zaqar/internal/testenv"
	"github.com/zaqar-go/zaqar/storage"
)

// TestClaimCursor: claims start past the taken head of a queue, yet see
// again every message that becomes claimable behind it: released, held by
// a claim that ran out (before the reaper noticed), or posted after the
// queue was deleted and its sequences restarted.
func TestClaimCursor(t *testing.T) {
	clk := testenv.NewClock(time.Unix(1_700_000_000, 0))
	e := openEngine(t, t.TempDir(), func(o *Options) { o.Clock = clk.Now })
	defer e.Close()
	claim := func(ttl int64, n int) storage.Claim {
		t.Helper()
		c, err := e.CreateClaim(ctx, "p", "q", storage.ClaimOptions{TTL: ttl, Grace: 60, Limit: n})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	ids := post(t, e, "q", "0", "1", "2", "3", "4", "5")
	short := claim(60, 2) // 0, 1
	long := claim(600, 2) // 2, 3
	if c := claim(600, 10); len(c.Messages) != 2 || c.Messages[0].ID != ids[4] {
		t.Fatalf("third claim took %+v, want messages 4 and 5", c.Messages)
	}
	if c := claim(600, 10); len(c.Messages) != 0 {
		t.Fatalf("a claim found %d messages with all taken", len(c.Messages))
	}
	if err := e.DeleteClaim(ctx, "p", "q", long.ID); err != nil {
		t.Fatal(err)
	}
	if c := claim(600, 10); len(c.Messages) != 2 || c.Messages[0].ID != ids[2] {
		t.Fatalf("after a release: %+v, want messages 2 and 3", c.Messages)
	}
	clk.Add(61 * time.Second) // the short claim ran out; no reaper pass
	if c := claim(600, 10); len(c.Messages) != 2 || c.Messages[0].ID != ids[0] {
		t.Fatalf("after a claim ran out: %+v, want messages 0 and 1 (claim %s)", c.Messages, short.ID)
	}
	if err := e.DeleteQueue(ctx, "p", "q"); err != nil {
		t.Fatal(err)
	}
	again := post(t, e, "q", "new")
	if c := claim(600, 10); len(c.Messages) != 1 || c.Messages[0].ID != again[0] {
		t.Fatalf("after the queue was deleted and posted again: %+v", c.Messages)
	}
}

// TestClaimCursorShortenedClaim: a claim renewed with a shorter TTL frees
// its messages at the new end, though the claim cursor had passed them
// with the old one.
func TestClaimCursorShortenedClaim(t *testing.T) {
	clk := testenv.NewClock(time.Unix(1_700_000_000, 0))
	e := openEngine(t, t.TempDir(), func(o *Options) { o.Clock = clk.Now })
	defer e.Close()
	ids := post(t, e, "q", "0", "1")
	c, err := e.CreateClaim(ctx, "p", "q", storage.ClaimOptions{TTL: 600, Grace: 60, Limit: 10})
	if err != nil || len(c.Messages) != 2 {
		t.Fatalf("claim: %v, %d messages", err, len(c.Messages))
	}
	if again, err := e.CreateClaim(ctx, "p", "q", storage.ClaimOptions{TTL: 600, Grace: 60, Limit: 10}); err != nil || len(again.Messages) != 0 {
		t.Fatalf("a claim found %d messages with all taken (%v)", len(again.Messages), err)
	}
	if err := e.UpdateClaim(ctx, "p", "q", c.ID, 60, 60); err != nil {
		t.Fatal(err)
	}
	clk.Add(61 * time.Second)
	got, err := e.CreateClaim(ctx, "p", "q", storage.ClaimOptions{TTL: 600, Grace: 60, Limit: 10})
	if err != nil || len(got.Messages) != 2 || got.Messages[0].ID != ids[0] {
		t.Fatalf("after the shortened claim ran out: %v, %+v", err, got.Messages)
	}
}

// TestEmptyClaimSkipsWriter: a claim that can find nothing answers
// without waiting for the partition's writer, which long-poll consumers
// woken together would otherwise all queue for.
func TestEmptyClaimSkipsWriter(t *testing.T) {
	e := openEngine(t, t.TempDir(), nil)
	defer e.Close()
	post(t, e, "q", "0")
	opts := storage.ClaimOptions{TTL: 600, Grace: 60, Limit: 10}
	if c, err := e.CreateClaim(ctx, "p", "q", opts); err != nil || len(c.Messages) != 1 {
		t.Fatalf("claim: %v, %d messages", err, len(c.Messages))
	}
	p := e.partition("p", "q")
	held, release := make(chan struct{}), make(chan struct{})
	go func() {
		_ = p.do(func(int64) error { close(held); <-release; return nil })
	}()
	<-held
	defer close(release)
	answered := make(chan error, 1)
	go func() {
		for _, queue := range []string{"q", "never-posted"} {
			if c, err := e.CreateClaim(ctx, "p", queue, opts); err != nil || len(c.Messages) != 0 {
				answered <- fmt.Errorf("claim on %s with the writer busy: %v, %d messages", queue, err, len(c.Messages))
				return
			}
		}
		answered <- nil
	}()
	select {
	case err := <-answered:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("an empty claim waited for the busy writer")
	}
}
