package engine

import (
	"encoding/binary"
	"fmt"
	"sort"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// The paged index (docs/paged-index.md). A queue keeps in memory its head
// (the oldest live messages, what claims, pops and first listings read)
// and its tail (what was posted since the last eviction). Between them
// lies the gap: sequences [from, to) whose messages exist only on disk,
// their index in Badger batch values and their bodies in the log. Memory
// is then bounded by the window per queue, not by the backlog.
//
// Boundaries fall between posted batches, so that a batch value is either
// entirely resident (memory is its truth, the flusher re-encodes it) or
// entirely in the gap (Badger is its truth, changed in place).

// DefaultIndexWindow is how many messages of a queue's head stay in memory
// (Options.IndexWindow): claims and pops take from the head, which is
// refilled from disk when it falls below half of it.
const DefaultIndexWindow = 1024

// gapState is a queue's gap. Writer only; readers see gapView.
type gapState struct {
	from, to uint64 // [from, to): only on disk; from == to == 0: no gap
	live     int64  // live messages in the gap, part of queue.live
	expiry   expiryHist
	delays   delayHist // when the delayed messages of the gap become visible
	// Log segments that may hold bodies of gap messages, [segLo, segHi]
	// (0: none): retention keeps them. Sequence order is log order, so
	// the range only narrows as the head advances.
	segLo, segHi uint64
	// deleted holds sequences deleted while in the gap, until the head
	// passes them: the flusher removes them from Badger later, and
	// paging in and reading the gap must skip them meanwhile.
	deleted map[uint64]struct{}
	view    *gapView // published form, nil after a change
}

func (g *gapState) open() bool { return g.to > g.from }

func (g *gapState) holds(seq uint64) bool { return seq >= g.from && seq < g.to }

// gapView is the readers' immutable copy of a gap.
type gapView struct {
	from, to uint64
	live     int64
	expiry   expiryHist
	delays   delayHist
	deleted  map[uint64]struct{}
}

func (g *gapView) open() bool { return g != nil && g.to > g.from }

func (g *gapView) skips(seq uint64) bool {
	_, ok := g.deleted[seq]
	return ok
}

// total is how many gap messages are live at now: expiry is known per
// minute, so a message is counted until the minute it expires in is over.
func (g *gapView) total(now int64) int64 {
	if !g.open() {
		return 0
	}
	return g.live - g.expiry.expired(now)
}

// changed marks the gap for publication and persistence. Writer only.
func (q *queue) gapChanged() {
	q.gap.view = nil
	q.part.gapsChanged[q] = struct{}{}
	q.part.touched[q] = struct{}{}
}

func (q *queue) gapView() *gapView {
	if !q.gap.open() {
		return nil
	}
	if q.gap.view == nil {
		d := make(map[uint64]struct{}, len(q.gap.deleted))
		for s := range q.gap.deleted {
			d[s] = struct{}{}
		}
		q.gap.view = &gapView{from: q.gap.from, to: q.gap.to, live: q.gap.live,
			expiry: append(expiryHist(nil), q.gap.expiry...), delays: append(delayHist(nil), q.gap.delays...), deleted: d}
	}
	return q.gap.view
}

// delayHist counts the delayed messages of a gap by the second their delay
// ends in, sorted: stats count a gap message as delayed until that second
// is over. Delays are short (15 minutes at most), so it holds few
// buckets, and those past are forgotten at each change.
type delayHist []expiryBucket // minute holds the second

func (h *delayHist) add(until int64, n int64) {
	s := *h
	sec := until / int64(time.Second)
	i := sort.Search(len(s), func(i int) bool { return s[i].minute >= sec })
	if i < len(s) && s[i].minute == sec {
		s[i].n += n
	} else if n > 0 {
		s = append(s, expiryBucket{})
		copy(s[i+1:], s[i:])
		s[i] = expiryBucket{sec, n}
	} else {
		return // counted before the bucket was forgotten: over already
	}
	if s[i].n <= 0 {
		s = append(s[:i], s[i+1:]...)
	}
	*h = s
}

// remove counts out a message leaving the gap (a delay of 0: none).
func (h *delayHist) remove(until int64) {
	if until > 0 {
		h.add(until, -1)
	}
}

// forget drops the buckets whose second is over at now.
func (h *delayHist) forget(now int64) {
	s := *h
	i := 0
	for i < len(s) && (s[i].minute+1)*int64(time.Second) <= now {
		i++
	}
	*h = s[i:]
}

// pending counts the messages still delayed at now.
func (h delayHist) pending(now int64) int64 {
	var n int64
	for _, b := range h {
		if (b.minute+1)*int64(time.Second) > now {
			n += b.n
		}
	}
	return n
}

// expiryHist counts messages by the minute they expire in, sorted.
type expiryHist []expiryBucket

type expiryBucket struct {
	minute int64
	n      int64
}

func expiryMinute(expires int64) int64 { return expires / int64(time.Minute) }

func (h *expiryHist) add(expires int64, n int64) {
	m := expiryMinute(expires)
	s := *h
	i := sort.Search(len(s), func(i int) bool { return s[i].minute >= m })
	if i < len(s) && s[i].minute == m {
		s[i].n += n
	} else {
		s = append(s, expiryBucket{})
		copy(s[i+1:], s[i:])
		s[i] = expiryBucket{m, n}
	}
	if s[i].n <= 0 {
		s = append(s[:i], s[i+1:]...)
	}
	*h = s
}

// expired counts the messages whose expiry minute is over at now.
func (h expiryHist) expired(now int64) int64 {
	var n int64
	for _, b := range h {
		if (b.minute+1)*int64(time.Minute) > now {
			break
		}
		n += b.n
	}
	return n
}

// evictMark is an eviction under way: the run [from, to) of the tail goes
// to the gap once the flusher has written every group up to after. A
// change to one of its messages meanwhile (consumers reaching it, a delete
// by id, expiry) cuts the run after that message's batch: the flusher
// must write the change from memory, so the batch stays.
type evictMark struct {
	from, to, after uint64
	cut             uint64 // first sequence of the last batch changed (0: none)
}

// touchSeq notes a change to resident message e. Writer only.
func (q *queue) touchSeq(e *entry) {
	if e.seq >= q.evict.from && e.seq < q.evict.to {
		q.evict.from = e.seq + 1
		q.evict.cut = e.batch()
	}
}

// lower is the position of the first entry with seq >= s.
func lower(entries []*entry, s uint64) int {
	return sort.Search(len(entries), func(i int) bool { return entries[i].seq >= s })
}

// headEnd is the position where the head ends in entries: the gap, or
// the end when there is none.
func (q *queue) headEnd() int {
	if !q.gap.open() {
		return len(q.entries)
	}
	return lower(q.entries, q.gap.from)
}

// pageInWant is how many messages a page-in for q's claims brings in:
// what its window lacks, and at least a quarter as many as the last
// page-in left held by claims before the claim cursor (up to
// pageInMaxWindows windows). A page-in copies the head, held messages
// included, so this makes messages held by claims cost the page-ins after
// them O(1) per message paged in rather than O(held); those messages are
// resident anyway (claims hold resident messages only). Messages deleted
// since are not counted: the page-in drops them. Writer only.
func (p *partition) pageInWant(q *queue) int {
	return max(p.window-q.headFree(), min(q.heldAtPageIn/4, pageInMaxWindows*p.window))
}

// headFree is how many resident entries of q's head lie at or past the
// claim cursor: those below it are held, or deleted and not yet dropped.
func (q *queue) headFree() int { return q.headEnd() - lower(q.entries, q.claimFrom) }

// pageInMaxWindows bounds, in windows, what one page-in brings in for a
// head of held messages: a page-in holds the partition's write role while
// it reads from Badger.
const pageInMaxWindows = 8

// manageWindows keeps every queue the group changed within its window:
// evictions whose run is on disk complete, heads short of claimable
// messages are refilled from the gap, and tails over the window start an
// eviction. Writer only, at the end of a group.
func (p *partition) manageWindows() {
	if p.noFlush {
		return // nothing reaches Badger: everything stays in memory
	}
	if p.groupSeq%windowRecheck == 0 {
		p.sizeWindow()
	}
	flushed := p.flushedGroup.Load()
	for q := range p.evicting {
		if q.evict.from >= q.evict.to {
			q.evict = evictMark{} // consumed meanwhile
			delete(p.evicting, q)
		} else if flushed >= q.evict.after {
			p.evictRun(q)
			delete(p.evicting, q)
		}
	}
	check := func(q *queue) {
		if q.gap.open() && q.headFree() < p.window/2 {
			p.pageIn(q, p.pageInWant(q), 0)
		}
	}
	if p.checkAll {
		p.queues.Range(func(_, v any) bool { check(v.(*queue)); return true })
	} else {
		for q := range p.touched {
			check(q)
		}
	}
	// A run may go once the flusher wrote the last group that has a job:
	// this one, if it writes anything, else the one before.
	after := p.lastJobGroup
	if len(p.group) > 0 || len(p.reaped) > 0 || len(p.gapsChanged) > 0 {
		after = p.groupSeq
	}
	mark := func(q *queue) {
		if q.evict.to == 0 {
			p.markEviction(q, after)
		}
	}
	if p.checkAll {
		p.queues.Range(func(_, v any) bool { mark(v.(*queue)); return true })
		p.checkAll = false
	} else {
		for q := range p.touched {
			mark(q)
		}
	}
}

// markEviction starts moving the tail of q to the gap if it outgrew the
// window: the whole tail from the head's end, cut before the first
// claimed message (claims hold resident messages only). Without a gap,
// the head is the window and every claimed message.
func (p *partition) markEviction(q *queue, after uint64) {
	ents := q.entries
	var h int
	if !q.gap.open() {
		if len(ents) < p.window+p.window/2 {
			return
		}
		// The window starts at the claim cursor (what lies before it is
		// consumed or held). Claimed messages lie at the front, where
		// claims take them: the scan from the end stops at the last one.
		h = lower(ents, q.claimFrom) + p.window
		for i := len(ents) - 1; i >= h; i-- {
			if ents[i].claim.Load() != nil {
				h = i + 1
				break
			}
		}
		for h > 0 && h < len(ents) && ents[h].batch() == ents[h-1].batch() {
			h++
		}
	} else {
		h = lower(ents, q.gap.to)
	}
	if h >= len(ents) {
		return
	}
	k := h
	for k < len(ents) && ents[k].claim.Load() == nil {
		k++
	}
	if k < len(ents) {
		for k > h && ents[k].batch() == ents[k-1].batch() {
			k--
		}
	}
	if k-h < max(p.window/2, 1) {
		return
	}
	q.evict = evictMark{from: ents[h].batch(), to: ents[k-1].seq + 1, after: after}
	p.evicting[q] = struct{}{}
}

// evictRun moves a marked run out of memory: Badger holds it as it is.
func (p *partition) evictRun(q *queue) {
	m := q.evict
	q.evict = evictMark{}
	h, k := lower(q.entries, m.from), lower(q.entries, m.to)
	for h < k && q.entries[h].batch() <= m.cut {
		h++ // the rest of a batch changed after the mark
	}
	if h == k || (q.gap.open() && h > lower(q.entries, q.gap.to)) {
		// Nothing left, or a run of the tail cut at its front: what
		// stays would lie inside the gap. Marked again later.
		return
	}
	run := q.entries[h:k]
	live := make([]*entry, 0, len(run))
	now := p.eng.now()
	q.gap.delays.forget(now)
	for _, e := range run {
		if !e.deleted.Load() {
			live = append(live, e)
			q.gap.expiry.add(e.expires.Load(), 1)
			if e.delayUntil > now {
				q.gap.delays.add(e.delayUntil, 1)
			}
		}
	}
	q.gap.live += int64(len(live))
	if !q.gap.open() {
		// Every resident message is below the first batch of the run.
		q.gap.from = q.entries[h].batch()
	}
	q.gap.to = m.to
	q.gap.segLo, q.gap.segHi = p.ret.evicted(q.gap.segLo, q.gap.segHi, live)
	p.ret.setGap(q, q.gap.segLo, q.gap.segHi)
	keep := make([]*entry, 0, len(q.entries)-(k-h)+p.window/2)
	keep = appendUndeleted(keep, q.entries[:h])
	q.entries = append(keep, q.entries[k:]...)
	q.gapChanged()
}

// appendUndeleted appends the entries of head not deleted. Copying the
// head anyway, paging leaves out what consumers deleted rather than wait
// for the reaper: its deletion is in Badger's hands already (the flusher
// re-encodes batches without deleted entries), and a head consumed
// between two reaps would otherwise be copied again at every page-in.
func appendUndeleted(dst, head []*entry) []*entry {
	for _, e := range head {
		if !e.deleted.Load() {
			dst = append(dst, e)
		}
	}
	return dst
}

// pageIn moves messages from the start of the gap to the end of the head:
// whole batches, at least want messages and every sequence up to through.
// It returns how many came in. Writer only: it serialises with deletes,
// so a message deleted in the gap is in gap.deleted until the head passes
// it, whether or not Badger still has it.
func (p *partition) pageIn(q *queue, want int, through uint64) int {
	if !q.gap.open() {
		return 0
	}
	qk := qkey(q.project, q.name)
	var got []*entry
	var claimIDs []string
	next, closed := q.gap.from, false
	err := p.db.View(func(txn *badger.Txn) error {
		prefix := appendChildPrefix(nil, kBatch, qk)
		opt := badger.DefaultIteratorOptions
		opt.Prefix = prefix
		opt.PrefetchSize = 16
		it := txn.NewIterator(opt)
		defer it.Close()
		for it.Seek(batchKey(qk, q.gap.from)); ; it.Next() {
			if !it.ValidForPrefix(prefix) {
				closed = true
				return nil
			}
			first := binary.BigEndian.Uint64(it.Item().Key()[len(prefix):])
			if first >= q.gap.to {
				closed = true
				return nil
			}
			if len(got) >= want && first > through {
				return nil
			}
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			ents, ids, err := decodeBatch(first, v)
			if err != nil {
				return fmt.Errorf("messages %d+: %w", first, err)
			}
			next = max(next, first+1)
			for i, e := range ents {
				next = max(next, e.seq+1)
				if _, gone := q.gap.deleted[e.seq]; gone {
					continue
				}
				got = append(got, e)
				claimIDs = append(claimIDs, ids[i])
			}
		}
	})
	if err != nil {
		p.logger.Error("cannot read messages from disk into memory", "queue", q.name, "err", err)
		return 0
	}
	q.gap.delays.forget(p.eng.now())
	for i, e := range got {
		q.gap.expiry.add(e.expires.Load(), -1)
		q.gap.delays.remove(e.delayUntil)
		if claimIDs[i] != "" {
			if c := q.getClaim(claimIDs[i]); c != nil {
				e.claim.Store(c)
			}
		}
		q.added(e)
		if e.delayUntil != 0 && (q.nextDelayEnd == 0 || e.delayUntil < q.nextDelayEnd) {
			q.nextDelayEnd = e.delayUntil
		}
	}
	q.gap.live -= int64(len(got))
	if len(got) > 0 {
		p.pageIns++
	}
	for s := range q.gap.deleted {
		if closed || s < next {
			delete(q.gap.deleted, s)
		}
	}
	h := q.headEnd()
	grown := make([]*entry, 0, len(q.entries)+len(got)+p.window/2)
	grown = appendUndeleted(grown, q.entries[:h])
	grown = append(grown, got...)
	q.entries = append(grown, q.entries[h:]...)
	q.heldAtPageIn = lower(q.entries, q.claimFrom)
	if closed {
		if q.gap.live != 0 {
			p.logger.Warn("gap count was off", "queue", q.name, "left", q.gap.live)
			q.live -= q.gap.live
		}
		q.gap = gapState{}
	} else {
		q.gap.from = next
		for i := len(got) - 1; i >= 0; i-- {
			if got[i].seg != 0 {
				q.gap.segLo = max(q.gap.segLo, got[i].seg)
				break
			}
		}
	}
	p.ret.pagedIn(got)
	p.ret.setGap(q, q.gap.segLo, q.gap.segHi)
	q.gapChanged()
	return len(got)
}

// gapDelete removes a message of the gap: counted out now, removed from
// Badger by the flusher (effects.gapGone). It reads the message from
// Badger, which still has it: the flusher removes it only after this.
// Reports whether the message was there.
func (p *partition) gapDelete(q *queue, seq uint64) bool {
	if _, gone := q.gap.deleted[seq]; gone {
		return false
	}
	e, err := p.gapEntry(qkey(q.project, q.name), seq)
	if err != nil || e == nil {
		// Gone from Badger already: a write the checkpoint did not
		// cover yet, replayed after a crash.
		return false
	}
	if q.gap.deleted == nil {
		q.gap.deleted = map[uint64]struct{}{}
	}
	q.gap.deleted[seq] = struct{}{}
	q.gap.live--
	q.live--
	q.gap.expiry.add(e.expires.Load(), -1)
	q.gap.delays.remove(e.delayUntil)
	q.gapChanged()
	return true
}

// dropGap forgets the gap of a purged or deleted queue.
func (q *queue) dropGap() {
	if q.gap.open() || len(q.gap.deleted) > 0 {
		q.part.ret.setGap(q, 0, 0)
		q.gap = gapState{}
		q.gapChanged()
	}
	q.evict.from = q.evict.to // nothing left to evict
}
