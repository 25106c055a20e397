package engine

// The index budget: every queue keeps its head and tail in memory
// (gap.go), so with a fixed window the resident index grows with the
// number of queues holding a backlog. Instead, each partition shares its
// part of Options.IndexMemory among its queues that hold messages: few
// queues get the full IndexWindow, many get smaller windows, down to
// minIndexWindow. Claims and pops page in more often then (once per half
// window consumed), for the same messages read.

// DefaultIndexMemory is the memory the resident index may use across all
// queues (Options.IndexMemory): 1,000 queues with a backlog get windows of
// about 160 messages, up to 160 queues the full DefaultIndexWindow.
const DefaultIndexMemory = 64 << 20

// minIndexWindow is the smallest window the budget gives a queue: below
// it, page-ins of a few messages cost more than the memory they save.
const minIndexWindow = 32

// residentEntryBytes is what a resident message costs the index: its
// entry (128 bytes), its slot in the queue's slice and the slack of the
// slice.
const residentEntryBytes = 160

// windowsPerQueue is how many windows of entries a queue holds at most in
// steady state: the head (one window, refilled when half is consumed, so
// up to one and a half) and the tail (evicted at half a window), plus
// what waits for the flusher.
const windowsPerQueue = 2.5

// windowRecheck is how many groups a partition runs between two sizings
// of its window.
const windowRecheck = 256

// sharedWindow is the window of each of active queues sharing memory
// bytes: at most max, at least minIndexWindow (or max when smaller).
func sharedWindow(memory int64, active, max int) int {
	if active < 1 {
		active = 1
	}
	w := int(float64(memory) / (residentEntryBytes * windowsPerQueue * float64(active)))
	if w > max {
		return max
	}
	if w < minIndexWindow {
		return min(minIndexWindow, max)
	}
	return w
}

// sizeWindow shares the partition's part of the index memory among its
// queues that hold messages. A smaller window takes effect as queues are
// touched; every queue is looked at once after a change. Writer only.
func (p *partition) sizeWindow() {
	o := p.eng.opts
	if o.IndexMemory <= 0 {
		p.window = o.IndexWindow
		return
	}
	active := 0
	p.queues.Range(func(_, v any) bool {
		if q := v.(*queue); len(q.entries) > 0 || q.gap.open() {
			active++
		}
		return true
	})
	w := sharedWindow(o.IndexMemory/int64(o.Partitions), active, o.IndexWindow)
	if w != p.window {
		p.window = w
		p.checkAll = true
	}
}

// Memory is the most an engine with these options keeps in memory while
// busy, whatever its backlog: the resident index (under twice IndexMemory,
// docs/paged-index.md), Badger's memtables and caches, and the entries of
// posts the flusher has not written yet (maxFlushLag a partition). Not
// counted: the bodies of those posts and the requests in flight, which
// the server accounts for. 0 when IndexMemory is 0: the index then grows
// with the number of queues holding a backlog, and nothing bounds it.
func (o Options) Memory() int64 {
	if o.IndexMemory <= 0 {
		return 0
	}
	return 2*o.IndexMemory + badgerMemory(o) + int64(o.Partitions)*maxFlushLag*residentEntryBytes
}

// badgerMemory is what Badger holds in memory as the engine opens it: the
// memtable being written and the one being flushed (each an arena of the
// table's size plus room for its largest write batch, 15 % of the table,
// and that batch's skiplist nodes, as much again: Badger's arenaSize),
// its block cache and its index cache. More memtables wait only when
// flushes fall behind the writes, which then block.
func badgerMemory(o Options) int64 {
	arena := int64(badgerMemTable + 2*badgerMemTable*15/100)
	return 2*arena + o.BadgerCacheBytes + badgerIndexCache
}
