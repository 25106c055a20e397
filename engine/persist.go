package engine

import (
	"encoding/binary"
	"fmt"
	"sort"

	"github.com/dgraph-io/badger/v4"
)

// batchRef names one posted batch of a queue, whose 'g' key holds the
// index of its live messages.
type batchRef struct {
	qk    string
	first uint64
}

// persist writes the jobs' effects to Badger in one batch. Message index
// values are not taken from the records but re-encoded, one value per
// posted batch, from the current in-memory entries of every batch the
// jobs touched: memory is never behind the log, so Badger ends up at
// least as new as the last record persisted.
func (p *partition) persist(jobs ...flushJob) error {
	wb := p.db.NewWriteBatch()
	defer wb.Cancel()
	st := &p.flushState
	defer st.reset()
	flushed, dirty, next := st.flushed[:0], st.dirty, st.next
	var last uint64
	gaps := map[string][]byte{}
	var rmw gapEdits
	for _, job := range jobs {
		for _, a := range job.recs {
			if err := p.persistRecord(wb, a, dirty, next, &flushed); err != nil {
				return err
			}
			switch t := a.rec.Type; {
			case len(a.fx.gapGone) > 0:
				if err := rmw.remove(p, qkey(a.rec.Project, a.rec.Queue), a.fx.gapGone); err != nil {
					return err
				}
			case t == recQueueDelete || t == recPurge && a.rec.Flag&purgeMessages != 0:
				rmw.drop(qkey(a.rec.Project, a.rec.Queue))
			}
		}
		for _, g := range job.gaps {
			gaps[g.qk] = g.val
		}
		for _, rp := range job.reap {
			var err error
			if rp.e != nil {
				err = forget(wb, rp.qk, rp.e, dirty)
			} else {
				err = wb.Delete(childKey(kClaim, rp.qk, []byte(rp.claimID)))
			}
			if err != nil {
				return err
			}
		}
		last = max(last, job.last)
	}
	for qk, seq := range next {
		if err := wb.Set(queueKey(kNext, qk), binary.BigEndian.AppendUint64(nil, seq)); err != nil {
			return err
		}
	}
	live := st.live[:0]
	for ref, posted := range dirty {
		live = live[:0]
		if q := p.queue(ref.qk); q != nil {
			ents := q.snapshot()
			i := sort.Search(len(ents), func(i int) bool { return ents[i].seq >= ref.first })
			for ; i < len(ents) && ents[i].batch() == ref.first; i++ {
				if !ents[i].deleted.Load() {
					live = append(live, ents[i])
				}
			}
		}
		a := &st.arena
		a.reserve(2 + len(ref.qk) + 8 + batchValueBound(live))
		key := a.carve(binary.BigEndian.AppendUint64(appendChildPrefix(a.tail(), kBatch, ref.qk), ref.first))
		if len(live) == 0 {
			// A batch posted and emptied within this write never reached
			// Badger: nothing to delete.
			if !posted {
				if err := wb.Delete(key); err != nil {
					return err
				}
			}
			continue
		}
		if err := wb.Set(key, a.carve(appendBatch(a.tail(), ref.first, live))); err != nil {
			return err
		}
	}
	st.live = live
	if err := rmw.write(wb, dirty); err != nil {
		return err
	}
	for qk, val := range gaps {
		var err error
		if val == nil {
			err = wb.Delete(queueKey(kGap, qk))
		} else {
			err = wb.Set(queueKey(kGap, qk), val)
		}
		if err != nil {
			return err
		}
	}
	if last > 0 {
		if err := wb.Set(ckptKey(p.id), binary.BigEndian.AppendUint64(nil, last)); err != nil {
			return err
		}
	}
	if err := wb.Flush(); err != nil {
		return fmt.Errorf("badger flush: %w", err)
	}
	// Bodies are on disk now: drop the in-memory copies.
	for _, e := range flushed {
		e.body.Store(nil)
	}
	st.flushed = flushed
	// Badger copied keys and values into its memtable and logs: the
	// arena's memory serves the next batch.
	st.arena.recycle()
	return nil
}

// flushState is the flusher's scratch space, kept from one batch to the
// next so that a steady stream of posts costs the flusher no garbage.
type flushState struct {
	arena   flushArena
	dirty   map[batchRef]bool
	next    map[string]uint64
	flushed []*entry
	live    []*entry
}

// reset empties the state after a batch, keeping the memory.
func (st *flushState) reset() {
	clear(st.dirty)
	clear(st.next)
	clear(st.flushed[:cap(st.flushed)])
	clear(st.live[:cap(st.live)])
}

func newFlushState() flushState {
	return flushState{dirty: map[batchRef]bool{}, next: map[string]uint64{}}
}

// flushArena hands out the keys and values of one Badger batch, which
// holds them until Flush. They are appended to one buffer; a buffer too
// small for the next one is replaced, never grown, so what was handed out
// stays put. Only recycle, after a successful Flush, lets the buffer be
// written over: after a failed batch the next one appends behind it.
type flushArena struct {
	buf []byte
}

// flushArenaMin and flushArenaMax bound the buffer kept between batches.
const (
	flushArenaMin = 64 << 10
	flushArenaMax = 4 << 20
)

// reserve makes room for n more bytes.
func (a *flushArena) reserve(n int) {
	if cap(a.buf)-len(a.buf) < n {
		a.buf = make([]byte, 0, max(n, 2*cap(a.buf), flushArenaMin))
	}
}

// tail is where the next key or value is appended.
func (a *flushArena) tail() []byte { return a.buf[len(a.buf):] }

// carve takes b, appended at tail, as handed out. Should b have outgrown
// the reserved room, append moved it elsewhere: it is handed out as it is,
// outside the buffer.
func (a *flushArena) carve(b []byte) []byte {
	n := len(a.buf)
	if len(b) == 0 || len(b) > cap(a.buf)-n || &a.buf[:n+1][n] != &b[0] {
		return b[:len(b):len(b)]
	}
	a.buf = a.buf[:n+len(b)]
	return a.buf[n:len(a.buf):len(a.buf)]
}

// recycle marks what was handed out as no longer held.
func (a *flushArena) recycle() {
	if cap(a.buf) > flushArenaMax {
		a.buf = nil
	}
	a.buf = a.buf[:0]
}

// batchValueBound is at least the size of appendBatch's value for live:
// every varint at its widest, every optional field present, the strings.
func batchValueBound(live []*entry) int {
	n := 1 + 3*binary.MaxVarintLen64
	if len(live) > 0 {
		n += len(live[0].client)
	}
	for _, e := range live {
		n += 1 + 8 + 13*binary.MaxVarintLen64 + len(e.client) + len(e.checksum)
		if c := e.claim.Load(); c != nil {
			n += len(c.id)
		}
	}
	return n
}

// persistRecord adds one record's effects to wb; message index changes
// are collected in dirty and next-sequence values in next.
func (p *partition) persistRecord(wb *badger.WriteBatch, a applied, dirty map[batchRef]bool, next map[string]uint64, flushed *[]*entry) error {
	r := a.rec
	qk := qkey(r.Project, r.Queue)
	q := p.queue(qk)
	if q == nil && needsQueue(r.Type) {
		// The queue was deleted and reaped before this older record
		// reached disk; its delete record (later in this or a
		// following job) removes whatever is on disk.
		return nil
	}
	switch r.Type {
	case recPost:
		next[qk] = max(next[qk], r.Msgs[len(r.Msgs)-1].Seq+1)
		if a.fx.created {
			if err := wb.Set(queueKey(kQueue, qk), []byte("{}")); err != nil {
				return err
			}
		}
		// Posted in this batch: Badger has no value for it yet.
		dirty[batchRef{qk, r.Msgs[0].Seq}] = true
		for i, e := range a.fx.ents {
			if e == nil || e.deleted.Load() || e.seg != 0 {
				continue // gone before it reached disk, or the body stays in the log
			}
			if err := wb.Set(childKey(kBody, qk, seqBytes(e.seq)), r.Msgs[i].Body); err != nil {
				return err
			}
			*flushed = append(*flushed, e)
		}
	case recDelete:
		for _, e := range a.fx.gone {
			if err := forget(wb, qk, e, dirty); err != nil {
				return err
			}
		}
	case recClaim, recClaimUpdate:
		c := q.getClaim(r.ClaimID)
		if c == nil {
			return nil
		}
		entries := q.snapshot()
		holds := false
		for _, seq := range c.seqs {
			if e := find(entries, seq); e != nil && e.claim.Load() == c && !e.deleted.Load() {
				markDirty(dirty, batchRef{qk, e.batch()})
				holds = true
			}
		}
		// A claim whose messages were all deleted by now (a consumer done
		// before this write) need not be written at all.
		if holds {
			if err := wb.Set(childKey(kClaim, qk, []byte(r.ClaimID)), encodeClaimState(c.state.Load())); err != nil {
				return err
			}
		}
	case recClaimRelease:
		if c := q.getClaim(r.ClaimID); c != nil {
			if err := wb.Set(childKey(kClaim, qk, []byte(r.ClaimID)), encodeClaimState(c.state.Load())); err != nil {
				return err
			}
		}
	case recQueueCreate, recQueueMeta:
		if m := q.meta.Load(); m != nil {
			if err := wb.Set(queueKey(kQueue, qk), encodeMeta(*m)); err != nil {
				return err
			}
		}
	case recQueueDelete:
		delete(next, qk)
		if err := p.deletePrefixes(wb, qk, kQueue, kNext, kGap, kBatch, kMeta, kBody, kClaim); err != nil {
			return err
		}
	case recPurge:
		if r.Flag&purgeMessages != 0 {
			if err := p.deletePrefixes(wb, qk, kGap, kBatch, kMeta, kBody, kClaim); err != nil {
				return err
			}
		}
		if r.Flag&purgeSubscriptions != 0 {
			if err := p.deletePrefixes(wb, qk, kSub); err != nil {
				return err
			}
		}
	case recSubCreate, recSubUpdate:
		s, err := decodeSub(r.Meta)
		if err != nil {
			return nil
		}
		if err := wb.Set(childKey(kSub, qk, []byte(s.ID)), r.Meta); err != nil {
			return err
		}
		if a.fx.created {
			if err := wb.Set(queueKey(kQueue, qk), []byte("{}")); err != nil {
				return err
			}
		}
	case recSubDelete:
		if err := wb.Delete(childKey(kSub, qk, []byte(r.SubID))); err != nil {
			return err
		}
	}
	return nil
}

// markDirty marks a batch for rewriting, keeping whether it was posted in
// this write.
func markDirty(dirty map[batchRef]bool, ref batchRef) {
	if _, ok := dirty[ref]; !ok {
		dirty[ref] = false
	}
}

// needsQueue reports record types whose persistence reads queue state.
func needsQueue(t byte) bool {
	switch t {
	case recClaim, recClaimUpdate, recClaimRelease, recQueueCreate, recQueueMeta:
		return true
	}
	return false
}

// forget marks the batch of a message that stopped being live for
// rewriting, and deletes its body if Badger holds it.
func forget(wb *badger.WriteBatch, qk string, e *entry, dirty map[batchRef]bool) error {
	markDirty(dirty, batchRef{qk, e.batch()})
	if e.seg != 0 {
		return nil
	}
	return wb.Delete(childKey(kBody, qk, seqBytes(e.seq)))
}

// deletePrefixes deletes every key of the queue with the given kinds.
func (p *partition) deletePrefixes(wb *badger.WriteBatch, qk string, kinds ...byte) error {
	for _, kind := range kinds {
		var keys [][]byte
		if kind == kQueue || kind == kNext || kind == kGap {
			keys = append(keys, queueKey(kind, qk))
		} else {
			prefix := childKey(kind, qk, nil)
			err := p.db.View(func(txn *badger.Txn) error {
				opt := badger.DefaultIteratorOptions
				opt.PrefetchValues = false
				opt.Prefix = prefix
				it := txn.NewIterator(opt)
				defer it.Close()
				for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
					keys = append(keys, it.Item().KeyCopy(nil))
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		for _, k := range keys {
			if err := wb.Delete(k); err != nil {
				return err
			}
		}
	}
	return nil
}
