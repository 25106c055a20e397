package engine

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// flusher writes applied records to Badger in large batches without sync,
// then periodically checkpoints: Badger is synced, the last covered WAL
// index is recorded, and WAL segments it covers are deleted. Messages
// deleted before their post reaches the flusher never cost a Badger write.
func (p *partition) flusher() {
	defer close(p.flusherDone)
	ckptEvery := p.eng.opts.CheckpointInterval
	tick := time.NewTicker(ckptEvery)
	defer tick.Stop()
	var pending uint64 // last WAL index written to Badger, not yet checkpointed
	for {
		select {
		case job, ok := <-p.flushes:
			if !ok {
				if !p.noFlush {
					p.checkpoint(pending)
				}
				return
			}
			if err := p.persist(job); err != nil {
				p.logger.Error("badger write failed", "err", err)
				p.broken.Store(&err)
				continue
			}
			if job.last > 0 {
				pending = job.last
			}
			if job.sync != nil {
				p.checkpoint(pending)
				close(job.sync)
			}
		case <-tick.C:
			p.checkpoint(pending)
		}
	}
}

// persist writes one job's effects to Badger.
func (p *partition) persist(job flushJob) error {
	wb := p.db.NewWriteBatch()
	defer wb.Cancel()
	var flushed []*entry
	for _, r := range job.recs {
		qk := qkey(r.Project, r.Queue)
		q := p.queue(qk)
		if q == nil && needsQueue(r.Type) {
			// The queue was deleted and reaped before this older record
			// reached disk; its delete record (later in this or a
			// following job) removes whatever is on disk.
			continue
		}
		switch r.Type {
		case recPost:
			if err := wb.Set(queueKey(kNext, qk), binary.BigEndian.AppendUint64(nil, r.Msgs[len(r.Msgs)-1].Seq+1)); err != nil {
				return err
			}
			if r.created {
				if err := wb.Set(queueKey(kQueue, qk), []byte("{}")); err != nil {
					return err
				}
			}
			for i := range r.Msgs {
				m := &r.Msgs[i]
				var e *entry
				if q != nil {
					e = find(q.snapshot(), m.Seq)
				}
				if e == nil || e.deleted.Load() {
					continue // gone before it reached disk
				}
				if err := wb.Set(childKey(kMeta, qk, seqBytes(m.Seq)), encodeMsgMeta(e)); err != nil {
					return err
				}
				if e.seg != 0 {
					continue // the body stays in the log; Badger keeps the index
				}
				if err := wb.Set(childKey(kBody, qk, seqBytes(m.Seq)), m.Body); err != nil {
					return err
				}
				flushed = append(flushed, e)
			}
		case recDelete:
			for _, s := range r.Seqs {
				if err := deleteMessageKeys(wb, qk, s); err != nil {
					return err
				}
			}
		case recClaim, recClaimUpdate:
			c := q.getClaim(r.ClaimID)
			if c == nil {
				continue
			}
			if err := wb.Set(childKey(kClaim, qk, []byte(r.ClaimID)), encodeClaimState(c.state.Load())); err != nil {
				return err
			}
			entries := q.snapshot()
			for _, seq := range c.seqs {
				if e := find(entries, seq); e != nil && e.claim.Load() == c && !e.deleted.Load() {
					if err := wb.Set(childKey(kMeta, qk, seqBytes(e.seq)), encodeMsgMeta(e)); err != nil {
						return err
					}
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
			if err := p.deletePrefixes(wb, qk, kQueue, kNext, kMeta, kBody, kClaim); err != nil {
				return err
			}
		case recPurge:
			if r.Flag&1 != 0 {
				if err := p.deletePrefixes(wb, qk, kMeta, kBody, kClaim); err != nil {
					return err
				}
			}
			if r.Flag&2 != 0 {
				if err := p.deletePrefixes(wb, qk, kSub); err != nil {
					return err
				}
			}
		case recSubCreate, recSubUpdate:
			s, err := decodeSub(r.Meta)
			if err != nil {
				continue
			}
			if err := wb.Set(childKey(kSub, qk, []byte(s.ID)), r.Meta); err != nil {
				return err
			}
			if r.created {
				if err := wb.Set(queueKey(kQueue, qk), []byte("{}")); err != nil {
					return err
				}
			}
		case recSubDelete:
			if err := wb.Delete(childKey(kSub, qk, []byte(r.SubID))); err != nil {
				return err
			}
		}
	}
	for _, rp := range job.reap {
		if err := deleteMessageKeys(wb, rp.qk, rp.seq); err != nil {
			return err
		}
	}
	if job.last > 0 {
		if err := wb.Set(ckptKey(p.id), binary.BigEndian.AppendUint64(nil, job.last)); err != nil {
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
	return nil
}

// needsQueue reports record types whose persistence reads queue state.
func needsQueue(t byte) bool {
	switch t {
	case recClaim, recClaimUpdate, recClaimRelease, recQueueCreate, recQueueMeta:
		return true
	}
	return false
}

func deleteMessageKeys(wb *badger.WriteBatch, qk string, seq uint64) error {
	if err := wb.Delete(childKey(kMeta, qk, seqBytes(seq))); err != nil {
		return err
	}
	return wb.Delete(childKey(kBody, qk, seqBytes(seq)))
}

// deletePrefixes deletes every key of the queue with the given kinds.
func (p *partition) deletePrefixes(wb *badger.WriteBatch, qk string, kinds ...byte) error {
	for _, kind := range kinds {
		var keys [][]byte
		if kind == kQueue || kind == kNext {
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

// checkpoint makes Badger durable up to the last flushed WAL index, then
// deletes every log segment that the checkpoint covers and that holds no
// live message body. The active segment is rotated when idle so that it
// too can go once its messages are gone.
func (p *partition) checkpoint(upTo uint64) {
	if upTo > p.ckpt.Load() {
		if err := p.db.Sync(); err != nil {
			p.logger.Error("badger sync failed", "err", err)
			return
		}
		p.ckpt.Store(upTo)
	}
	ck := p.ckpt.Load()
	if ck == 0 {
		return
	}
	segs := p.log.Segments()
	p.segMu.Lock()
	live := func(first uint64) int64 { return p.segLive[first] }
	if act := segs[len(segs)-1]; ck == p.log.LastIndex() && act.Last >= act.First &&
		(live(act.First) == 0 || act.Size > rotateSize) {
		p.segMu.Unlock()
		if err := p.log.Rotate(); err != nil {
			p.logger.Warn("wal rotate failed", "err", err)
			return
		}
		segs = p.log.Segments()
		p.segMu.Lock()
	}
	var dead []uint64
	for _, s := range segs {
		if !s.Active && s.Last <= ck && live(s.First) <= 0 {
			dead = append(dead, s.First)
			delete(p.segLive, s.First)
		}
	}
	p.segMu.Unlock()
	for _, first := range dead {
		if err := p.log.Remove(first); err != nil {
			p.logger.Warn("wal segment removal failed", "segment", first, "err", err)
		}
	}
}

// rotateSize: an idle active segment larger than this is rotated at a
// checkpoint even if it still holds live messages, bounding how much dead
// data one long-lived message can pin.
const rotateSize = 4 << 20

// reap removes expired and deleted entries from memory and Badger, and
// forgets dead claims. It runs as an op on the writer.
func (p *partition) reap(now int64) []reaped {
	var out []reaped
	p.queues.Range(func(k, v any) bool {
		q := v.(*queue)
		for _, e := range q.compact(now) {
			if !e.deleted.Swap(true) { // expired: deletes already went through the log
				p.released(e)
				out = append(out, reaped{qk: k.(string), seq: e.seq})
			}
		}
		q.dropDeadClaims(now)
		p.touched[q] = struct{}{}
		if !q.exists && len(q.entries) == 0 {
			p.queues.Delete(k)
		}
		return true
	})
	return out
}
