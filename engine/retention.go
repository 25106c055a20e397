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
type retention struct {
	mu   sync.Mutex
	live map[uint64]int64 // segment (its first index) -> live messages whose body it holds
}

func newRetention() retention { return retention{live: map[uint64]int64{}} }

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
	st.queues.Range(func(_, v any) bool {
		for _, e := range v.(*queue).entries {
			if e.seg != 0 && !e.deleted.Load() {
				rt.live[e.seg]++
			}
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
	return ck == last && active.Last >= active.First && (rt.live[active.First] == 0 || active.Size > rotateSize)
}

// deletable returns the segments the checkpoint ck covers that hold no live
// body, and forgets them.
func (rt *retention) deletable(segs []wal.SegmentInfo, ck uint64) []uint64 {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	var dead []uint64
	for _, s := range segs {
		if !s.Active && s.Last <= ck && rt.live[s.First] <= 0 {
			dead = append(dead, s.First)
			delete(rt.live, s.First)
		}
	}
	return dead
}
