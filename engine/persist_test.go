package engine

import (
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/zaqar-go/zaqar/storage"
)

// TestConsumedBeforeWrittenCostsNoBadgerWrite: a batch posted, claimed and
// deleted before the flusher writes it leaves nothing in Badger, not even
// a tombstone or a claim: the log covered it until then. A batch consumed
// after it was written gets its tombstone.
func TestConsumedBeforeWrittenCostsNoBadgerWrite(t *testing.T) {
	e := openEngine(t, t.TempDir(), nil) // flush age 1 s: the test's steps take less
	defer e.Close()
	p := e.partition("p", "q")
	writeAll := func() {
		done := make(chan struct{})
		p.flushes <- flushJob{sync: done}
		<-done
	}
	versions := func(kind byte) int {
		n := 0
		prefix := childKey(kind, qkey("p", "q"), nil)
		e.db.View(func(txn *badger.Txn) error {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, AllVersions: true})
			defer it.Close()
			for it.Rewind(); it.Valid(); it.Next() {
				n++
			}
			return nil
		})
		return n
	}
	consume := func() {
		t.Helper()
		c, err := e.CreateClaim(ctx, "p", "q", storage.ClaimOptions{TTL: 60, Grace: 60, Limit: 10})
		if err != nil || len(c.Messages) != 10 {
			t.Fatalf("claim: %d %v", len(c.Messages), err)
		}
		ids := make([]string, len(c.Messages))
		for i, m := range c.Messages {
			ids[i] = m.ID
		}
		if err := e.DeleteMessages(ctx, "p", "q", ids, []string{c.ID}); err != nil {
			t.Fatal(err)
		}
	}
	post(t, e, "q", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9")
	consume()
	writeAll()
	if g, c := versions(kBatch), versions(kClaim); g != 0 || c != 0 {
		t.Fatalf("consumed before written: %d batch and %d claim versions in Badger, want none", g, c)
	}

	post(t, e, "q", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9")
	writeAll()
	if g := versions(kBatch); g != 1 {
		t.Fatalf("a written batch has %d versions, want 1", g)
	}
	consume()
	writeAll()
	if g := versions(kBatch); g != 2 {
		t.Fatalf("a written batch consumed has %d versions, want its value and a tombstone", g)
	}
}
