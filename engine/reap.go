package engine

import "time"

// reaped is what the reaper removed from memory, for the flusher to remove
// from Badger: a message (e), or a claim that no longer holds one
// (claimID).
type reaped struct {
	qk      string
	e       *entry
	claimID string
}

// reaper periodically reaps every partition and reclaims Badger's
// value-log space.
func (e *Engine) reaper() {
	defer e.bg.Done()
	t := time.NewTicker(e.opts.ReapInterval)
	defer t.Stop()
	for n := 1; ; n++ {
		select {
		case <-e.stop:
			return
		case <-t.C:
		}
		for _, p := range e.parts {
			_ = p.reapNow()
		}
		e.checkSpace()
		if n%valueLogGCEvery == 0 {
			for e.db.RunValueLogGC(0.5) == nil {
			}
		}
	}
}

// valueLogGCEvery is how many reaps pass between value-log collections.
const valueLogGCEvery = 30

// reapNow runs a reap on the partition's writer and waits for it.
func (p *partition) reapNow() error {
	return p.do(func(now int64) error {
		p.reaped = append(p.reaped, p.reap(now)...)
		return nil
	})
}

// reap removes expired and deleted entries from memory and forgets dead
// claims; the flusher removes what it returns from Badger. It runs on the
// writer, which alone changes queues: deletions went through the log as
// records, expiry needs none (it is a function of time), so reaping writes
// nothing to the log.
func (p *partition) reap(now int64) []reaped {
	var out []reaped
	p.queues.Range(func(k, v any) bool {
		q := v.(*queue)
		if removed := q.compact(now); len(removed) > 0 {
			var expired []*entry
			for _, e := range removed {
				q.touchSeq(e)
				if !e.deleted.Swap(true) { // expired: deletes already went through the log
					expired = append(expired, e)
					out = append(out, reaped{qk: k.(string), e: e})
				}
			}
			p.ret.released(expired)
			q.live -= int64(len(expired))
			p.touched[q] = struct{}{}
		}
		// Claims and delays that ran out made messages claimable again.
		dropped, claimsEnded := q.dropDeadClaims(now)
		for _, id := range dropped {
			out = append(out, reaped{qk: k.(string), claimID: id})
		}
		if delaysEnded := q.delaysOver(now); claimsEnded || delaysEnded {
			p.wake.wake(k.(string))
		}
		if !q.exists && len(q.entries) == 0 && !q.gap.open() && q.evict.to == 0 {
			p.queues.Delete(k)
		}
		return true
	})
	// Windows of queues no post or claim touched: evictions waiting for
	// the flusher, heads refilled after a restart.
	p.checkAll = true
	return out
}
