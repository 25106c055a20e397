package engine

import "testing"

// waitGrown blocks until the background copy of q's entries is done.
func waitGrown(q *queue) {
	g := <-q.growth
	q.growth <- g
}

func appendSeqs(q *queue, from, to uint64) {
	for s := from; s <= to; s++ {
		e := &entry{seq: s}
		e.expires.Store(1 << 62)
		q.appendEntry(e)
	}
}

func checkSeqs(t *testing.T, entries []*entry, want uint64) {
	t.Helper()
	if uint64(len(entries)) != want {
		t.Fatalf("%d entries, want %d", len(entries), want)
	}
	for i, e := range entries {
		if e.seq != uint64(i)+1 {
			t.Fatalf("entry %d has seq %d", i, e.seq)
		}
	}
}

// fillUntilCopy appends from seq next on until a background copy starts,
// and returns the next seq.
func fillUntilCopy(t *testing.T, q *queue, next uint64) uint64 {
	t.Helper()
	for q.aheadOf == nil {
		appendSeqs(q, next, next)
		next++
		if next > 1<<22 {
			t.Fatal("no copy started")
		}
	}
	c := cap(q.entries)
	if c < growAheadMin || len(q.entries) < c-c/4 {
		t.Fatalf("copy started at %d of %d", len(q.entries), c)
	}
	return next
}

// TestEntriesGrowAhead: a large queue's entries move to an array copied
// in the background, and the entries appended meanwhile come along.
func TestEntriesGrowAhead(t *testing.T) {
	q := newQueue("p", "q")
	next := fillUntilCopy(t, q, 1)
	c := cap(q.entries)
	waitGrown(q)
	for len(q.entries) < c {
		appendSeqs(q, next, next)
		next++
	}
	appendSeqs(q, next, next) // the array is full: the copy is adopted
	if cap(q.entries) != 2*c {
		t.Fatalf("capacity %d, want the copy's %d", cap(q.entries), 2*c)
	}
	checkSeqs(t, q.entries, next)
}

// TestEntriesGrowAheadAfterCompaction: a copy made of an array that a
// compaction replaced is not adopted; nothing is lost or brought back.
func TestEntriesGrowAheadAfterCompaction(t *testing.T) {
	q := newQueue("p", "q")
	next := fillUntilCopy(t, q, 1)
	waitGrown(q)
	last := q.entries[len(q.entries)-1]
	last.deleted.Store(true)
	q.deletions = true
	if removed := q.compact(0); len(removed) != 1 {
		t.Fatalf("compaction removed %d", len(removed))
	}
	next-- // the deleted entry's seq, given again so that seqs stay dense
	stop := next + uint64(cap(q.entries)) + 10
	for ; next < stop; next++ {
		appendSeqs(q, next, next)
	}
	checkSeqs(t, q.entries, next-1)
	for _, e := range q.entries {
		if e == last {
			t.Fatal("the deleted entry is back")
		}
	}
}
