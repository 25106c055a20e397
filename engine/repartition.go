package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/dgraph-io/badger/v4"

	"github.com/zaqar-go/zaqar/wal"
)

// Repartitioning a stopped store.
//
// In Badger nothing but two things depends on the partition count: the
// checkpoint of each partition's log, and where a message's body lies when
// it is in its partition's log (segment and offset in its index). Queues,
// messages with their sequences, claims, subscriptions and metadata are
// keyed by queue. So Repartition
//
//  1. opens the store with its count and closes it: everything is in
//     Badger, each checkpoint at the end of its log;
//  2. copies every body still in a log into Badger, syncs; then rewrites
//     the indexes that pointed into a log to point to Badger, syncs; then
//     clears the log ranges of the gaps, syncs. Each step leaves a store
//     the old count opens (bodies in Badger are a state it knows), and
//     repeating a step redoes only what is left;
//  3. moves the logs aside (rename of wal to wal.retired), then sets the
//     new count and drops the checkpoints in one Badger transaction, then
//     deletes the old logs.
//
// Interrupted before the transaction of step 3, the store keeps its old
// count (a server opens it as before: with its logs moved aside, nothing
// is left in them to replay); after it, the new one. Either way running
// Repartition again completes the change.

const retiredLogs = "wal.retired"

// repartitionStep is called after each step of Repartition; tests stop
// it there with an error, as a crash would.
var repartitionStep = func(step string) error { return nil }

// Repartition changes the partition count of the store in opts.Dir, which
// no server may have open (ErrInUse), to partitions. It returns the count
// before; equal counts change nothing.
func Repartition(opts Options, partitions int) (from int, err error) {
	if partitions < 1 || partitions > maxPartitions {
		return 0, fmt.Errorf("engine: partitions must be 1..%d, got %d", maxPartitions, partitions)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	unlock, err := LockDir(opts.Dir)
	if err != nil {
		return 0, err
	}
	// Badger takes the lock again at open, on its own file.
	unlock()
	o := opts
	o.storedPartitions = true
	e, err := Open(o)
	if err != nil {
		return 0, err
	}
	from = e.Partitions()
	if err := e.Close(); err != nil {
		return from, err
	}
	retired := filepath.Join(opts.Dir, retiredLogs)
	if from == partitions {
		return from, removeRetired(retired)
	}
	o.Partitions = from
	memTable, err := memTableFor(o.Dir, badgerMemTable)
	if err != nil {
		return from, err
	}
	db, err := badger.Open(badgerOptions(o, memTable))
	if err != nil {
		return from, fmt.Errorf("open badger: %w", err)
	}
	defer func() {
		if cerr := db.Close(); err == nil {
			err = cerr
		}
	}()
	logs := make([]*wal.Log, from)
	for i := range logs {
		if logs[i], err = wal.Open(wal.Options{Dir: filepath.Join(o.Dir, "wal", partitionLogDir(i)), SegmentSize: o.SegmentSize,
			Sync: o.Fsync, SyncInterval: o.FsyncInterval, Logger: o.Logger}); err != nil {
			closeLogs(logs)
			return from, err
		}
	}
	moved, lost, err := bodiesToBadger(db, logs)
	closeLogs(logs)
	if err != nil {
		return from, err
	}
	if err := repartitionStep("bodies"); err != nil {
		return from, err
	}
	if err := indexesToBadger(db); err != nil {
		return from, err
	}
	if err := repartitionStep("indexes"); err != nil {
		return from, err
	}
	if err := clearGapSegments(db); err != nil {
		return from, err
	}
	if err := repartitionStep("gaps"); err != nil {
		return from, err
	}
	if lost > 0 {
		opts.Logger.Warn("repartition: messages whose body was gone already were dropped", "messages", lost)
	}
	// The logs go aside before the count changes: logs of the old
	// partitions opened as the new ones would replay records into the
	// wrong partitions.
	if err := removeRetired(retired); err != nil {
		return from, err
	}
	if err := os.Rename(filepath.Join(o.Dir, "wal"), retired); err != nil && !errors.Is(err, os.ErrNotExist) {
		return from, err
	}
	if err := syncPath(o.Dir); err != nil {
		return from, err
	}
	if err := repartitionStep("logs aside"); err != nil {
		return from, err
	}
	if err := setPartitions(db, partitions); err != nil {
		return from, err
	}
	if err := repartitionStep("count"); err != nil {
		return from, err
	}
	opts.Logger.Info("repartitioned", "dir", o.Dir, "from", from, "to", partitions, "bodies_moved_from_logs", moved)
	return from, removeRetired(retired)
}

// eachBatch calls fn with every batch value of the store.
func eachBatch(db *badger.DB, fn func(qk, project, queue string, first uint64, ents []*entry, claims []string) error) error {
	return db.View(func(txn *badger.Txn) error {
		opt := badger.DefaultIteratorOptions
		opt.Prefix = []byte{kBatch}
		it := txn.NewIterator(opt)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			_, project, queue, child, ok := splitKey(it.Item().Key())
			if !ok || len(child) != 8 {
				continue
			}
			first := binary.BigEndian.Uint64(child)
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			ents, claims, err := decodeBatch(first, v)
			if err != nil {
				return fmt.Errorf("messages %d+ of %q: %w", first, queue, err)
			}
			if err := fn(qkey(project, queue), project, queue, first, ents, claims); err != nil {
				return err
			}
		}
		return nil
	})
}

// bodiesToBadger copies every body that is in a log into Badger.
func bodiesToBadger(db *badger.DB, logs []*wal.Log) (moved, lost int, err error) {
	wb := db.NewWriteBatch()
	defer wb.Cancel()
	err = eachBatch(db, func(qk, project, queue string, _ uint64, ents []*entry, _ []string) error {
		lg := logs[partitionOf(project, queue, len(logs))]
		for _, e := range ents {
			if e.seg == 0 {
				continue
			}
			body := make([]byte, e.blen)
			if err := lg.ReadAt(wal.Pos{Segment: e.seg, Offset: e.off}, body); err != nil {
				if errors.Is(err, wal.ErrSegmentGone) {
					lost++ // read as vanished by the server too; the next step drops it
					continue
				}
				return err
			}
			if err := wb.Set(childKey(kBody, qk, seqBytes(e.seq)), body); err != nil {
				return err
			}
			moved++
		}
		return nil
	})
	if err == nil {
		err = wb.Flush()
	}
	if err == nil {
		err = db.Sync()
	}
	if err != nil {
		return 0, 0, fmt.Errorf("repartition: copy bodies: %w", err)
	}
	return moved, lost, nil
}

// indexesToBadger rewrites the batches whose bodies were in a log to
// point to Badger, dropping a message whose body is in neither.
func indexesToBadger(db *badger.DB) error {
	wb := db.NewWriteBatch()
	defer wb.Cancel()
	err := eachBatch(db, func(qk, _, _ string, first uint64, ents []*entry, claims []string) error {
		inLog := false
		for _, e := range ents {
			inLog = inLog || e.seg != 0
		}
		if !inLog {
			return nil
		}
		live := ents[:0]
		for i, e := range ents {
			if e.seg != 0 {
				found, err := hasKey(db, childKey(kBody, qk, seqBytes(e.seq)))
				if err != nil {
					return err
				}
				if !found {
					continue
				}
				e.seg, e.off = 0, 0
			}
			if claims[i] != "" {
				e.claim.Store(&claimRef{id: claims[i]})
			}
			live = append(live, e)
		}
		if len(live) == 0 {
			return wb.Delete(batchKey(qk, first))
		}
		return wb.Set(batchKey(qk, first), appendBatch(nil, first, live))
	})
	if err == nil {
		err = wb.Flush()
	}
	if err == nil {
		err = db.Sync()
	}
	if err != nil {
		return fmt.Errorf("repartition: rewrite indexes: %w", err)
	}
	return nil
}

func hasKey(db *badger.DB, key []byte) (bool, error) {
	err := db.View(func(txn *badger.Txn) error {
		_, err := txn.Get(key)
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return false, nil
	}
	return err == nil, err
}

// clearGapSegments drops the log ranges of the gaps, whose bodies are all
// in Badger now.
func clearGapSegments(db *badger.DB) error {
	wb := db.NewWriteBatch()
	defer wb.Cancel()
	err := db.View(func(txn *badger.Txn) error {
		opt := badger.DefaultIteratorOptions
		opt.Prefix = []byte{kGap}
		it := txn.NewIterator(opt)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			g, err := decodeGapDesc(v)
			if err != nil {
				return err
			}
			if g.segLo == 0 && g.segHi == 0 {
				continue
			}
			g.segLo, g.segHi = 0, 0
			if err := wb.Set(it.Item().KeyCopy(nil), appendGapDesc(nil, &g)); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		err = wb.Flush()
	}
	if err == nil {
		err = db.Sync()
	}
	if err != nil {
		return fmt.Errorf("repartition: gaps: %w", err)
	}
	return nil
}

// setPartitions sets the count and drops every checkpoint, atomically.
func setPartitions(db *badger.DB, n int) error {
	err := db.Update(func(txn *badger.Txn) error {
		var ckpts [][]byte
		opt := badger.DefaultIteratorOptions
		opt.PrefetchValues = false
		opt.Prefix = []byte("xckpt")
		it := txn.NewIterator(opt)
		for it.Rewind(); it.Valid(); it.Next() {
			ckpts = append(ckpts, it.Item().KeyCopy(nil))
		}
		it.Close()
		for _, k := range ckpts {
			if err := txn.Delete(k); err != nil {
				return err
			}
		}
		return txn.Set(partitionsKey, binary.BigEndian.AppendUint32(nil, uint32(n)))
	})
	if err == nil {
		err = db.Sync()
	}
	if err != nil {
		return fmt.Errorf("repartition: set the count: %w", err)
	}
	return nil
}

func removeRetired(dir string) error {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return syncPath(filepath.Dir(dir))
}

func closeLogs(logs []*wal.Log) {
	for _, l := range logs {
		if l != nil {
			l.Close()
		}
	}
}

func syncPath(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
