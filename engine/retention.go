package engine

import (
	"sync"

	"github.com/zaqar-go/zaqar/wal"
)

// retention decides which log segments may be deleted. Message bodies stay
// in the log (entries point at them), so a segment can go only when the
// checkpoint covers all of its records AND no live message's body is in
// it. It counts live bodies per segment: the writer adds a message when its
// body is placed in the log and removes it when the message stops being
// live (deleted, purged, expired); the flusher asks at each checkpoint.
//
// Messages in a queue's gap (gap.go) are not counted one by one: their
// queue keeps the range of segments that may hold their bodies, and every
// segment in a range is kept.
type retention struct {
	mu   sync.Mutex
	live map[uint64]int64     // segment (its first index) -> live messages whose body it holds
	gaps map[*queue][2]uint64 // segments [lo, hi] that gap bodies may lie in
	// holds counts backups copying the segments (backup.go): while one
	// runs, no segment is deleted and none is rotated, so the files it
	// listed stay as they were up to the sizes it listed.
	holds int
}

// hold keeps every segment in place until release.
func (rt *retention) hold() {
	rt.mu.Lock()
	rt.holds++
	rt.mu.Unlock()
}

func (rt *retention) release() {
	rt.mu.Lock()
	rt.holds--
	rt.mu.Unlock()
}

func newRetention() retention {
	return retention{live: map[uint64]int64{}, gaps: map[*queue][2]uint64{}}
}

// evicted stops counting the bodies of messages moved to a gap whose
// segments were [lo, hi], and returns the range that now covers them.
func (rt *retention) evicted(lo, hi uint64, ents []*entry) (uint64, uint64) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	for _, e := range ents {
		if e.seg == 0 {
			continue
		}
		rt.live[e.seg]--
		if lo == 0 || e.seg < lo {
			lo = e.seg
		}
		hi = max(hi, e.seg)
	}
	return lo, hi
}

// pagedIn counts the bodies of messages moved from a gap into memory.
func (rt *retention) pagedIn(ents []*entry) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	for _, e := range ents {
		if e.seg != 0 {
			rt.live[e.seg]++
		}
	}
}

// setGap records the segments q's gap may hold bodies in (0, 0: none).
func (rt *retention) setGap(q *queue, lo, hi uint64) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if lo == 0 || hi == 0 {
		delete(rt.gaps, q)
	} else {
		rt.gaps[q] = [2]uint64{lo, hi}
	}
}

// inGap reports whether a gap may hold bodies in segment first. Under mu.
func (rt *retention) inGap(first uint64) bool {
	for _, r := range rt.gaps {
		if first >= r[0] && first <= r[1] {
			return true
		}
	}
	return false
}

// placed records where the bodies of a post landed in the log: the
// entries read them from there from now on, and their segment counts them.
// Records of compressed frames are not addressable (pos.Offset < 0): their
// bodies stay in memory until the flusher writes them to Badger. Writer
// only, before the entries are published.
func (rt *retention) placed(r *record, fx effects, bodyOffs []int, pos wal.Pos) {
	if r.Type != recPost || pos.Offset < 0 {
		return
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	for i, e := range fx.ents {
		if e == nil || i >= len(bodyOffs) {
			continue
		}
		e.seg, e.off, e.blen = pos.Segment, pos.Offset+int64(bodyOffs[i]), uint32(len(r.Msgs[i].Body))
		e.body.Store(nil)
		if !e.deleted.Load() {
			rt.live[e.seg]++
		}
	}
}

// released stops counting messages that are no longer live. A message
// whose body was not placed yet was never counted.
func (rt *retention) released(gone []*entry) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	for _, e := range gone {
		if e.seg != 0 {
			rt.live[e.seg]--
		}
	}
}

// recount rebuilds the counts from the state after recovery.
func (rt *retention) recount(st *state) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	clear(rt.live)
	clear(rt.gaps)
	st.queues.Range(func(_, v any) bool {
		q := v.(*queue)
		for _, e := range q.entries {
			if e.seg != 0 && !e.deleted.Load() {
				rt.live[e.seg]++
			}
		}
		if q.gap.open() && q.gap.segLo != 0 && q.gap.segHi != 0 {
			rt.gaps[q] = [2]uint64{q.gap.segLo, q.gap.segHi}
		}
		return true
	})
}

// rotateSize: an idle active segment larger than this is rotated at a
// checkpoint even if it still holds live messages, bounding how much dead
// data one long-lived message can pin.
const rotateSize = 4 << 20

// shouldRotate reports whether the active segment should be closed so that
// it can be deleted in its turn: the checkpoint covers the whole log
// (ck == last) and the segment is either empty of live bodies or large.
func (rt *retention) shouldRotate(active wal.SegmentInfo, ck, last uint64) bool {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.holds == 0 && ck == last && active.Last >= active.First && (rt.live[active.First] == 0 || active.Size > rotateSize)
}

// deletable returns the segments the checkpoint ck covers that hold no live
// body, and forgets them.
func (rt *retention) deletable(segs []wal.SegmentInfo, ck uint64) []uint64 {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	var dead []uint64
	if rt.holds > 0 {
		return nil
	}
	for _, s := range segs {
		if !s.Active && s.Last <= ck && rt.live[s.First] <= 0 && !rt.inGap(s.First) {
			dead = append(dead, s.First)
			delete(rt.live, s.First)
		}
	}
	return dead
}
