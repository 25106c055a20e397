package engine

import (
	"fmt"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4/skl"
)

func TestSharedWindow(t *testing.T) {
	perQueue := func(w int) int64 { return int64(float64(w) * residentEntryBytes * windowsPerQueue) }
	for _, c := range []struct {
		memory      int64
		active, max int
		want        int
	}{
		{DefaultIndexMemory, 1, DefaultIndexWindow, DefaultIndexWindow},   // one queue: the full window
		{DefaultIndexMemory, 0, DefaultIndexWindow, DefaultIndexWindow},   // no queue yet
		{DefaultIndexMemory, 160, DefaultIndexWindow, DefaultIndexWindow}, // still fits
		{perQueue(200) * 1000, 1000, DefaultIndexWindow, 200},             // many queues share
		{perQueue(200) * 1000, 2000, DefaultIndexWindow, 100},
		{perQueue(200) * 1000, 100000, DefaultIndexWindow, minIndexWindow}, // never below the floor
		{perQueue(200) * 1000, 100000, 8, 8},                               // nor above the configured window
	} {
		if got := sharedWindow(c.memory, c.active, c.max); got != c.want {
			t.Errorf("sharedWindow(%d, %d, %d) = %d, want %d", c.memory, c.active, c.max, got, c.want)
		}
	}
}

// TestIndexMemorySharedByQueues: with many queues holding a backlog, each
// keeps a smaller window so that the resident index stays within the
// budget, and the queues still drain in order with nothing skipped; once
// most queues are empty the others get their full window back.
func TestIndexMemorySharedByQueues(t *testing.T) {
	const queues, perQueue, window, shared = 12, 600, 256, 40
	e := openEngine(t, t.TempDir(), func(o *Options) {
		o.IndexWindow, o.Partitions = window, 1
		o.IndexMemory = shared * residentEntryBytes * windowsPerQueue * queues
		o.CheckpointInterval = 40 * time.Millisecond
	})
	defer e.Close()
	p := e.parts[0]
	resize := func() {
		t.Helper()
		settle(t, e)
		if err := p.do(func(int64) error { p.sizeWindow(); return nil }); err != nil {
			t.Fatal(err)
		}
		settle(t, e)
	}
	// The window is sized every few hundred groups: the queues exist
	// before their backlogs grow (a head that grew under a larger window
	// shrinks as it is consumed).
	ids := map[string][]string{}
	for i := 0; i < queues; i++ {
		q := fmt.Sprintf("q%02d", i)
		ids[q] = postBacklog(t, e, q, 1, hour)
	}
	resize()
	for q := range ids {
		ids[q] = append(ids[q], postBacklog(t, e, q, perQueue-1, hour)...)
	}
	resize()
	if p.window != shared {
		t.Fatalf("window %d with %d queues, want %d", p.window, queues, shared)
	}
	resident := 0
	for q := range ids {
		g, n := gapOf(e, q)
		if !g.open() {
			t.Fatalf("queue %s: no gap with %d messages and a window of %d", q, perQueue, shared)
		}
		resident += n
	}
	if limit := int(windowsPerQueue * shared * queues); resident > limit {
		t.Fatalf("%d entries resident, budget allows about %d", resident, limit)
	}
	// Drain every queue but one: FIFO, nothing skipped or repeated.
	for i := 1; i < queues; i++ {
		q := fmt.Sprintf("q%02d", i)
		var got []string
		for {
			msgs, err := e.PopMessages(ctx, "p", q, 20)
			if err != nil {
				t.Fatal(err)
			}
			if len(msgs) == 0 {
				break
			}
			for _, m := range msgs {
				got = append(got, m.ID)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(ids[q]) {
			t.Fatalf("queue %s drained %d messages out of order or incomplete, want %d", q, len(got), len(ids[q]))
		}
	}
	resize()
	if p.window != window {
		t.Fatalf("window %d with one queue left, want %d", p.window, window)
	}
}

func TestMemoryOfOptions(t *testing.T) {
	o := DefaultOptions(t.TempDir())
	// Badger's arenaSize for the memtable the engine configures: the
	// table, its largest write batch (15 %) and that batch's nodes.
	batch := int64(badgerMemTable) * 15 / 100
	arena := int64(badgerMemTable) + batch + batch/int64(skl.MaxNodeSize)*int64(skl.MaxNodeSize)
	badgerWant := 2*arena + DefaultBadgerCacheBytes + badgerIndexCache
	if got := badgerMemory(o); got < badgerWant || got > badgerWant+badgerWant/100 {
		t.Fatalf("Badger's memory %d, want %d (its arenas, block and index caches)", got, badgerWant)
	}
	lag := int64(DefaultPartitions) * maxFlushLag * residentEntryBytes
	if got, want := o.Memory(), 2*DefaultIndexMemory+badgerMemory(o)+lag; got != want {
		t.Fatalf("Memory() %d, want %d", got, want)
	}
	if got := o.Memory() >> 20; got < 300 || got > 360 {
		t.Fatalf("default Memory() %d MiB: the server's default memory limit would move far from the measured figures", got)
	}
	bigger := o
	bigger.IndexMemory, bigger.Partitions = 256<<20, 8
	if got, want := bigger.Memory()-o.Memory(), int64(2*(256-64)<<20)+4*maxFlushLag*residentEntryBytes; got != want {
		t.Fatalf("Memory() grew by %d for a larger index and more partitions, want %d", got, want)
	}
	o.IndexMemory = 0
	if got := o.Memory(); got != 0 {
		t.Fatalf("Memory() %d with index_memory 0 (unbounded index), want 0", got)
	}
}
