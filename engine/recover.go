package engine

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"slices"
	"sort"

	"github.com/dgraph-io/badger/v4"

	"github.com/zaqar-go/zaqar/storage"
	"github.com/zaqar-go/zaqar/wal"
)

// load rebuilds the in-memory state of every partition from Badger. Only
// small values are read: bodies stay on disk, and so do the index values
// of a queue's gap (gap.go), which its descriptor skips: the time this
// takes depends on the number of queues, not on their backlog.
func (e *Engine) load() error {
	claimStates := map[string]*claimState{} // kind-less claim key -> state
	type pendingClaim struct {
		q  *queue
		e  *entry
		id string
	}
	var claimed []pendingClaim
	var legacy []legacyMessage // per-message 'm' keys to migrate
	err := e.db.View(func(txn *badger.Txn) error {
		opt := badger.DefaultIteratorOptions
		opt.PrefetchValues = false
		it := txn.NewIterator(opt)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			kind, project, name, child, ok := splitKey(item.Key())
			if !ok || kind == 'x' || kind == kBody {
				continue
			}
			if kind == kBatch && len(child) == 8 {
				// Descriptors ('d') sort before batches ('g'): a queue's
				// gap is known before its batches come.
				if q := e.partition(project, name).queue(qkey(project, name)); q != nil && q.gap.open() {
					if first := binary.BigEndian.Uint64(child); first >= q.gap.from && first < q.gap.to {
						// Seek lands on the first batch of the tail;
						// step back so that the loop's Next reads it.
						it.Seek(batchKey(qkey(project, name), q.gap.to))
						if !it.Valid() {
							break
						}
						item = it.Item()
						kind, project, name, child, ok = splitKey(item.Key())
						if !ok || kind == 'x' || kind == kBody {
							continue
						}
					}
				}
			}
			v, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			p := e.partition(project, name)
			q := p.writerQueue(project, name)
			switch kind {
			case kQueue:
				m, err := decodeMeta(v)
				if err != nil {
					return fmt.Errorf("queue %q metadata: %w", name, err)
				}
				q.exists = true
				q.meta.Store(&m)
			case kGap:
				g, err := decodeGapDesc(v)
				if err != nil {
					return fmt.Errorf("gap of %q: %w", name, err)
				}
				q.gap = g
				q.nextSeq = max(q.nextSeq, g.to)
			case kNext:
				if len(v) == 8 {
					q.nextSeq = max(q.nextSeq, binary.BigEndian.Uint64(v))
				}
			case kBatch, kMeta:
				if len(child) != 8 {
					continue
				}
				seq := binary.BigEndian.Uint64(child)
				ents, claimIDs, err := decodeIndex(kind, seq, v)
				if err != nil {
					return fmt.Errorf("messages %d+ of %q: %w", seq, name, err)
				}
				for i, ent := range ents {
					q.entries = append(q.entries, ent)
					q.nextSeq = max(q.nextSeq, ent.seq+1)
					if claimIDs[i] != "" {
						claimed = append(claimed, pendingClaim{q: q, e: ent, id: claimIDs[i]})
					}
				}
				if kind == kMeta {
					legacy = append(legacy, legacyMessage{qkey(project, name), ents[0]})
				}
			case kClaim:
				st, err := decodeClaimState(v)
				if err != nil {
					return fmt.Errorf("claim of %q: %w", name, err)
				}
				claimStates[qkey(project, name)+"\x00"+string(child)] = st
			case kSub:
				s, err := decodeSub(v)
				if err != nil {
					return fmt.Errorf("subscription of %q: %w", name, err)
				}
				qk := qkey(project, name)
				if p.subs[qk] == nil {
					p.subs[qk] = map[string]*storedSub{}
				}
				p.subs[qk][s.ID] = s
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%w: load: %v", storage.ErrUnavailable, err)
	}
	for _, c := range claimed {
		st := claimStates[qkey(c.q.project, c.q.name)+"\x00"+c.id]
		if st == nil {
			continue
		}
		ref := c.q.getClaim(c.id)
		if ref == nil {
			ref = &claimRef{id: c.id}
			ref.state.Store(st)
			c.q.setClaim(ref)
		}
		ref.seqs = append(ref.seqs, c.e.seq)
		c.e.claim.Store(ref)
	}
	for _, p := range e.parts {
		p.queues.Range(func(_, v any) bool {
			q := v.(*queue)
			sort.Slice(q.entries, func(i, j int) bool { return q.entries[i].seq < q.entries[j].seq })
			// A migration cut short leaves a message under both kinds.
			q.entries = slices.CompactFunc(q.entries, func(a, b *entry) bool { return a.seq == b.seq })
			q.live = int64(len(q.entries)) + q.gap.live
			q.publish()
			return true
		})
	}
	return e.migrateMessageKeys(legacy)
}

// recover replays the log records after the checkpoint, writing them to
// Badger as it goes so the next start replays less.
func (p *partition) recover() error {
	var ck uint64
	err := p.db.View(func(txn *badger.Txn) error {
		it, err := txn.Get(ckptKey(p.id))
		if err != nil {
			return err
		}
		v, err := it.ValueCopy(nil)
		if err == nil && len(v) == 8 {
			ck = binary.BigEndian.Uint64(v)
		}
		return err
	})
	if err != nil && err != badger.ErrKeyNotFound {
		return fmt.Errorf("%w: read checkpoint: %v", storage.ErrUnavailable, err)
	}
	if first := p.log.FirstIndex(); first > ck+1 {
		return fmt.Errorf("%w: partition %d: log starts at %d but checkpoint is %d", storage.ErrUnavailable, p.id, first, ck)
	}
	if last := p.log.LastIndex(); last < ck {
		// The log lost records a checkpoint covers (a crash with an
		// unsynced log, from before checkpoints synced it): Badger has
		// them. New records must not reuse their indexes, or the next
		// replay would skip them as covered.
		p.logger.Warn("log ends before the checkpoint", "log_last", last, "checkpoint", ck)
		if err := p.log.SkipTo(ck); err != nil {
			return fmt.Errorf("%w: partition %d: %v", storage.ErrUnavailable, p.id, err)
		}
	}
	var batch []applied
	var last uint64
	n := 0
	flush := func() error {
		if len(batch) == 0 || p.noFlush {
			batch = batch[:0]
			return nil
		}
		p.publishTouched()
		err := p.persist(flushJob{recs: batch, last: last, gaps: p.takeGapDescs()})
		batch = batch[:0]
		return err
	}
	err = p.log.ReplayAt(ck, func(idx uint64, b []byte, pos wal.Pos) error {
		r, bodyOffs, err := decodeRecord(b)
		if err != nil {
			return fmt.Errorf("record %d: %w", idx, err)
		}
		fx := p.apply(r)
		p.ret.released(fx.gone)
		p.ret.placed(r, fx, bodyOffs, pos)
		batch = append(batch, applied{rec: r, fx: fx})
		last = idx
		n++
		if len(batch) >= 1024 {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return fmt.Errorf("%w: partition %d replay: %v", storage.ErrUnavailable, p.id, err)
	}
	p.publishTouched()
	if !p.noFlush && last > 0 {
		if err := p.db.Sync(); err != nil {
			return fmt.Errorf("%w: sync after replay: %v", storage.ErrUnavailable, err)
		}
		p.ckpt.Store(last)
	} else {
		p.ckpt.Store(ck)
	}
	p.ret.recount(&p.state)
	if n > 0 {
		p.logger.Info("replayed log", "records", n, "from", ck+1, "to", last)
	}
	return nil
}

// badgerLogger routes Badger's logging to slog.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any)   { b.l.Error(fmt.Sprintf(f, a...)) }
func (b badgerLogger) Warningf(f string, a ...any) { b.l.Warn(fmt.Sprintf(f, a...)) }
func (b badgerLogger) Infof(f string, a ...any) {
	b.l.Log(context.Background(), slog.LevelDebug, fmt.Sprintf(f, a...))
}
func (b badgerLogger) Debugf(f string, a ...any) {
	b.l.Log(context.Background(), slog.LevelDebug-4, fmt.Sprintf(f, a...))
}
