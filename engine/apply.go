package engine

import (
	"slices"
	"sync"
	"time"
	"unsafe"

	"github.com/zaqar-go/zaqar/storage"
)

// state is a partition's in-memory state machine: its queues (messages,
// claims, metadata) and subscriptions. apply is the only way it changes,
// live and during recovery, so the two cannot disagree.
//
// Ownership: the partition writer alone calls apply and the writer-only
// methods; request goroutines read through queue, the published entry
// slices and the atomics, and subs under subsMu.
type state struct {
	queues  sync.Map // qkey -> *queue
	subsMu  sync.RWMutex
	subs    map[string]map[string]*storedSub // qkey -> id -> sub (values immutable)
	touched map[*queue]struct{}              // writer-only: queues changed since the last publication
	part    *partition                       // owner: queues page through it (gap.go)
}

func newState() state {
	return state{subs: map[string]map[string]*storedSub{}, touched: map[*queue]struct{}{}}
}

// effects is what applying a record did, for the stages after the state
// machine: the pipeline places the bodies of ents in the log, retention
// stops counting gone against their segments, and the flusher writes all
// of it to Badger.
type effects struct {
	created bool     // the record created its queue
	ents    []*entry // recPost: the entry of each message (nil if skipped as already applied)
	gone    []*entry // entries the record removed (delete, purge, queue delete)
	gapGone []uint64 // sequences the record deleted in the gap, for the flusher to remove from Badger
}

// applied is a record with its effects: the unit the writer hands down the
// pipeline to the flusher.
type applied struct {
	rec *record
	fx  effects
}

// queue returns the queue state, or nil. Safe from any goroutine.
func (s *state) queue(qk string) *queue {
	if v, ok := s.queues.Load(qk); ok {
		return v.(*queue)
	}
	return nil
}

// writerQueue returns the queue state, creating an empty one. Writer only.
func (s *state) writerQueue(project, name string) *queue {
	qk := qkey(project, name)
	if q := s.queue(qk); q != nil {
		return q
	}
	q := newQueue(project, name)
	q.part = s.part
	s.queues.Store(qk, q)
	return q
}

// entrySlab is how many entries of one post are allocated together: 3
// allocations instead of 10 for a 10-message post, while a message that
// outlives its neighbours keeps at most 3 others' entries alive. Four
// 128-byte entries fill 512 bytes, the largest object the Go allocator
// keeps without a type header: larger slabs cost more bytes per entry
// (TestIndexBytesPerMessage).
const entrySlab = 4

// A slab that outgrew 512 bytes would not compile.
var _ [512 - entrySlab*unsafe.Sizeof(entry{})]byte

// apply turns a record into in-memory state. It runs on the writer (live
// and during recovery) and must be idempotent: recovery may replay records
// whose effects Badger already holds.
func (s *state) apply(r *record) effects {
	var fx effects
	q := s.writerQueue(r.Project, r.Queue)
	s.touched[q] = struct{}{}
	switch r.Type {
	case recPost:
		fx.created = q.create()
		fx.ents = make([]*entry, len(r.Msgs))
		var slab []entry
		for i := range r.Msgs {
			m := &r.Msgs[i]
			if m.Seq < q.nextSeq {
				continue // already applied, or applied and removed since
			}
			if len(slab) == 0 {
				slab = make([]entry, min(len(r.Msgs)-i, entrySlab))
			}
			e := &slab[0]
			slab = slab[1:]
			*e = entry{seq: m.Seq, nonce: m.Nonce, created: r.Time, client: m.Client, checksum: m.Checksum,
				batchOff: uint32(m.Seq - r.Msgs[0].Seq)}
			e.expires.Store(r.Time + m.TTL*int64(time.Second))
			e.ttl.Store(m.TTL)
			if m.Delay > 0 {
				e.delayUntil = r.Time + m.Delay*int64(time.Second)
				if q.nextDelayEnd == 0 || e.delayUntil < q.nextDelayEnd {
					q.nextDelayEnd = e.delayUntil
				}
			}
			e.body.Store(&m.Body) // points into the record: no copy of the slice header
			fx.ents[i] = e
			q.appendEntry(e)
			q.added(e)
			q.live++
			q.nextSeq = m.Seq + 1
		}
	case recDelete:
		for _, seq := range r.Seqs {
			if e := find(q.entries, seq); e != nil {
				if !e.deleted.Swap(true) {
					fx.gone = append(fx.gone, e)
					q.deletions = true
					q.live--
					q.touchSeq(e)
				}
			} else if q.gap.holds(seq) && q.part.gapDelete(q, seq) {
				fx.gapGone = append(fx.gapGone, seq)
			}
		}
	case recClaim:
		st := &claimState{expires: r.Time + r.TTL*int64(time.Second), updated: r.Time, ttl: r.TTL, grace: r.Grace}
		c := &claimRef{id: r.ClaimID, seqs: r.Seqs}
		c.state.Store(st)
		if q.gap.open() && len(r.Seqs) > 0 {
			// Live, claims take the head only; a replay may find what
			// was paged in after the checkpoint back in the gap.
			if last := slices.Max(r.Seqs); last >= q.gap.from {
				q.part.pageIn(q, 0, last)
			}
		}
		for _, seq := range r.Seqs {
			e := find(q.entries, seq)
			if e == nil {
				continue
			}
			q.touchSeq(e)
			e.claim.Store(c)
			if r.Flag == 0 {
				e.claimCount.Add(1)
			}
			extendForClaim(e, r.Time, r.TTL, r.Grace)
		}
		q.setClaim(c)
	case recClaimUpdate:
		if c := q.getClaim(r.ClaimID); c != nil {
			c.state.Store(&claimState{expires: r.Time + r.TTL*int64(time.Second), updated: r.Time, ttl: r.TTL, grace: r.Grace})
			q.resetClaimCursor() // a shorter TTL ends the claim before the cursor's bound
			for _, seq := range c.seqs {
				if e := find(q.entries, seq); e != nil && e.claim.Load() == c {
					extendForClaim(e, r.Time, r.TTL, r.Grace)
				}
			}
		}
	case recClaimRelease:
		if c := q.getClaim(r.ClaimID); c != nil {
			old := c.state.Load()
			c.state.Store(&claimState{updated: old.updated, ttl: old.ttl, grace: old.grace})
			q.resetClaimCursor()
		}
	case recQueueCreate, recQueueMeta:
		if r.Type == recQueueCreate && q.exists {
			break
		}
		m, err := decodeMeta(r.Meta)
		if err != nil {
			m = storage.Metadata{}
		}
		q.exists = true
		q.meta.Store(&m)
	case recQueueDelete:
		fx.gone = q.dropMessages()
		q.exists = false
		q.meta.Store(nil)
		q.nextSeq = 1
	case recPurge:
		if r.Flag&purgeMessages != 0 {
			fx.gone = q.dropMessages()
		}
		if r.Flag&purgeSubscriptions != 0 {
			s.subsMu.Lock()
			delete(s.subs, qkey(r.Project, r.Queue))
			s.subsMu.Unlock()
		}
	case recSubCreate, recSubUpdate:
		sub, err := decodeSub(r.Meta)
		if err != nil {
			break
		}
		qk := qkey(r.Project, r.Queue)
		s.subsMu.Lock()
		if s.subs[qk] == nil {
			s.subs[qk] = map[string]*storedSub{}
		}
		s.subs[qk][sub.ID] = sub
		s.subsMu.Unlock()
		if r.Type == recSubCreate {
			fx.created = q.create()
		}
	case recSubDelete:
		qk := qkey(r.Project, r.Queue)
		s.subsMu.Lock()
		delete(s.subs[qk], r.SubID)
		s.subsMu.Unlock()
	}
	return fx
}

// Flags of a recPurge record.
const (
	purgeMessages      = 1
	purgeSubscriptions = 2
)

// create makes a queue that does not exist yet exist with empty metadata,
// reporting whether it did.
func (q *queue) create() bool {
	if q.exists {
		return false
	}
	q.exists = true
	m := storage.Metadata{}
	q.meta.Store(&m)
	return true
}

// extendForClaim keeps a claimed message alive for the claim plus grace.
func extendForClaim(e *entry, now, ttl, grace int64) {
	until := now + (ttl+grace)*int64(time.Second)
	if e.expires.Load() < until {
		e.expires.Store(until)
		e.ttl.Store(ttl + grace)
	}
}

// dropMessages removes every message and claim of the queue and returns
// the messages that were live.
func (q *queue) dropMessages() []*entry {
	var gone []*entry
	for _, e := range q.entries {
		if !e.deleted.Swap(true) {
			gone = append(gone, e)
		}
	}
	q.entries = nil
	q.live = 0
	q.dropGap()
	q.resetClaimCursor() // sequences start again from 1 after a queue delete
	q.mu.Lock()
	q.claims = map[string]*claimRef{}
	q.mu.Unlock()
	return gone
}
