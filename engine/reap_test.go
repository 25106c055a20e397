package engine

import (
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/zaqar-go/zaqar/internal/testenv"
	"github.com/zaqar-go/zaqar/storage"
)

// reapQueue runs one reaper pass on q's partition and returns q's entries.
func reapQueue(t *testing.T, e *Engine, name string) []*entry {
	t.Helper()
	p := e.partition("p", name)
	if err := p.reapNow(); err != nil {
		t.Fatal(err)
	}
	var n []*entry
	_ = p.do(func(int64) error {
		if q := p.queue(qkey("p", name)); q != nil {
			n = q.entries
		}
		return nil
	})
	return n
}

// TestReaperSkipsQueuesWithNothingToRemove: the reaper runs on the
// partition writer every second, so it must not scan a queue whose
// entries cannot have expired and of which nothing was deleted; yet a
// deletion or the earliest expiry must still be noticed.
func TestReaperSkipsQueuesWithNothingToRemove(t *testing.T) {
	clk := testenv.NewClock(time.Unix(1_700_000_000, 0))
	e := openEngine(t, t.TempDir(), func(o *Options) { o.Clock = clk.Now })
	defer e.Close()
	ids := post(t, e, "q", "a", "b", "c") // TTL 300
	p := e.partition("p", "q")
	q := p.queue(qkey("p", "q"))
	if got := len(reapQueue(t, e, "q")); got != 3 {
		t.Fatalf("%d entries after a reap with nothing to remove", got)
	}
	want := clk.Now().Add(300 * time.Second).UnixNano()
	var from int64
	var deletions bool
	_ = p.do(func(int64) error { from, deletions = q.expiresFrom, q.deletions; return nil })
	if from != want || deletions {
		t.Fatalf("bookkeeping after a scan: expiresFrom=%d want %d, deletions=%v", from, want, deletions)
	}

	clk.Add(10 * time.Second)
	post(t, e, "q", "d") // expires 10 s after the others: the bound stays
	if err := e.DeleteMessage(ctx, "p", "q", ids[1], ""); err != nil {
		t.Fatal(err)
	}
	if got := len(reapQueue(t, e, "q")); got != 3 {
		t.Fatalf("deleted entry not reaped: %d entries", got)
	}

	clk.Add(291 * time.Second) // past a and c, not d
	if got := len(reapQueue(t, e, "q")); got != 1 {
		t.Fatalf("expired entries not reaped: %d entries", got)
	}
}

// TestReaperKeepsLiveClaims: dead claims are forgotten from each claim's
// own messages, without losing a claim that still holds one.
func TestReaperKeepsLiveClaims(t *testing.T) {
	clk := testenv.NewClock(time.Unix(1_700_000_000, 0))
	e := openEngine(t, t.TempDir(), func(o *Options) { o.Clock = clk.Now })
	defer e.Close()
	post(t, e, "q", "a", "b")
	short, err := e.CreateClaim(ctx, "p", "q", storage.ClaimOptions{TTL: 60, Grace: 60, Limit: 1})
	if err != nil || len(short.Messages) != 1 {
		t.Fatalf("claim: %+v %v", short, err)
	}
	clk.Add(30 * time.Second)
	long, err := e.CreateClaim(ctx, "p", "q", storage.ClaimOptions{TTL: 600, Grace: 60, Limit: 1})
	if err != nil || len(long.Messages) != 1 {
		t.Fatalf("claim: %+v %v", long, err)
	}
	clk.Add(31 * time.Second) // the short claim has expired
	reapQueue(t, e, "q")
	q := e.partition("p", "q").queue(qkey("p", "q"))
	if q.getClaim(short.ID) != nil {
		t.Fatal("expired claim kept")
	}
	if q.getClaim(long.ID) == nil {
		t.Fatal("live claim dropped")
	}
	if _, err := e.GetClaim(ctx, "p", "q", long.ID); err != nil {
		t.Fatalf("live claim after reaping: %v", err)
	}
}

// TestDeadClaimsLeaveBadger: a claim the reaper forgets is deleted from
// Badger too, so claim keys do not pile up (and load them all at start)
// as consumers go; a live claim's key stays.
func TestDeadClaimsLeaveBadger(t *testing.T) {
	clk := testenv.NewClock(time.Unix(1_700_000_000, 0))
	e := openEngine(t, t.TempDir(), func(o *Options) { o.Clock = clk.Now })
	defer e.Close()
	ids := post(t, e, "q", "a", "b", "c")
	done, err := e.CreateClaim(ctx, "p", "q", storage.ClaimOptions{TTL: 60, Grace: 60, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.DeleteMessage(ctx, "p", "q", ids[0], done.ID); err != nil {
		t.Fatal(err)
	}
	expiring, err := e.CreateClaim(ctx, "p", "q", storage.ClaimOptions{TTL: 60, Grace: 60, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(30 * time.Second)
	live, err := e.CreateClaim(ctx, "p", "q", storage.ClaimOptions{TTL: 600, Grace: 60, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(31 * time.Second)
	reapQueue(t, e, "q")
	p := e.partition("p", "q")
	synced := make(chan struct{})
	p.flushes <- flushJob{sync: synced}
	<-synced
	var keys []string
	prefix := childKey(kClaim, qkey("p", "q"), nil)
	e.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			keys = append(keys, string(it.Item().Key()[len(prefix):]))
		}
		return nil
	})
	if len(keys) != 1 || keys[0] != live.ID {
		t.Fatalf("claim keys in Badger %q, want only the live claim %s (not %s, %s)", keys, live.ID, done.ID, expiring.ID)
	}
}
