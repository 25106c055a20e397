package engine

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Backup of a running engine at one point in time.
//
// Every partition writer is paused between two groups, all at once. Each
// waits until every group it wrote is complete (acknowledged), has its
// flusher write everything to Badger and checkpoint, and syncs its log:
// Badger and the logs then hold the same state, every change acknowledged
// so far, and the checkpoint is at the end of each log. A Badger read
// transaction pins that state, the log segments are listed with their
// sizes and held (retention deletes and rotates none), and the writers go
// on: the pause costs a flush, not the copy. The copy is streamed from the
// transaction and from the listed prefixes of the segments (which only
// grow) while the server serves.
//
// The files of a backup: "badger-snapshot/NNNNNN.kv" chunks, each a run
// of key/value pairs, then "wal/pNN/<segment>" copied as they were. A
// restore (SnapshotLoader) loads the chunks into a new Badger and copies
// the segments; recovery then finds each checkpoint at the end of its log
// and every message body where its index points.

// BackupSink receives the files of a backup one after the other: name is
// the file's path in a data directory (slash-separated), r yields exactly
// size bytes.
type BackupSink func(name string, size int64, r io.Reader) error

// snapshotDir holds the Badger chunks of a backup of a running server.
const snapshotDir = "badger-snapshot"

// snapshotChunk is the size above which a chunk is handed to the sink.
const snapshotChunk = 4 << 20

// snapshotMagic starts every chunk: format 1 is { uvarint len, key,
// uvarint len, value }*.
const snapshotMagic = "zaqar badger snapshot 1\n"

// Backup writes a consistent copy of the store to sink while it serves,
// and reports how long the writers were paused.
func (e *Engine) Backup(ctx context.Context, sink BackupSink) (paused time.Duration, err error) {
	if err := e.usable(); err != nil {
		return 0, err
	}
	start := time.Now()
	snap, err := e.freeze(ctx)
	if err != nil {
		return 0, err
	}
	paused = time.Since(start)
	defer snap.release()
	if err := snap.writeBadger(sink); err != nil {
		return paused, err
	}
	return paused, snap.writeLogs(sink)
}

// pause holds p's write role between groups, so nothing is applied
// that is not logged, and reports on paused; it holds the role until
// resume. The segments are held from before the flush, whose checkpoint
// would otherwise rotate and delete.
func (p *partition) pause(ctx context.Context, paused chan<- pauseResult, resume <-chan struct{}) {
	if err := p.holdWrite(ctx); err != nil {
		paused <- pauseResult{p, err}
		return
	}
	defer p.releaseWrite()
	p.ret.hold()
	err := p.quiesce()
	if err != nil {
		p.ret.release()
	}
	paused <- pauseResult{p, err}
	if err == nil {
		<-resume
	}
}

type pauseResult struct {
	p   *partition
	err error
}

// quiesce waits until every group written is complete, everything is in
// Badger and checkpointed, and the log is synced (which also waits for a
// retired segment's truncation). Write role only.
func (p *partition) quiesce() error {
	p.pipeMu.Lock()
	for len(p.pipe) > 0 {
		p.drained.Wait()
	}
	p.pipeMu.Unlock()
	if !p.noFlush {
		done := make(chan struct{})
		p.flushes <- flushJob{sync: done}
		<-done
	}
	if err := p.log.Sync(); err != nil {
		return err
	}
	if b := p.broken.Load(); b != nil {
		return *b
	}
	return nil
}

// snapshot is a frozen state being copied.
type snapshot struct {
	txn *badger.Txn
	// it is opened at the pin: while an iterator is open Badger deletes
	// no value-log file, which its value-log GC could otherwise remove
	// from under the snapshot's older versions.
	it   *badger.Iterator
	held []*partition
	segs []segmentCopy
}

type segmentCopy struct {
	name, path string
	size       int64
}

// freeze pauses every writer, pins the state and lets them go on.
func (e *Engine) freeze(ctx context.Context) (*snapshot, error) {
	resume := make(chan struct{})
	results := make(chan pauseResult, len(e.parts))
	for _, p := range e.parts {
		go p.pause(ctx, results, resume)
	}
	var err error
	snap := &snapshot{}
	// Every partition answers; none may be left holding its segments.
	for range e.parts {
		r := <-results
		if r.err != nil {
			err = errors.Join(err, fmt.Errorf("partition %d: %w", r.p.id, r.err))
		} else {
			snap.held = append(snap.held, r.p)
		}
	}
	if err == nil {
		err = snap.pin(e)
	}
	close(resume)
	if err != nil {
		snap.release()
		return nil, err
	}
	return snap, nil
}

// pin takes the read transaction and lists the segments. Writers paused.
func (s *snapshot) pin(e *Engine) error {
	s.txn = e.db.NewTransaction(false)
	opt := badger.DefaultIteratorOptions
	opt.PrefetchValues = false
	s.it = s.txn.NewIterator(opt)
	for _, p := range e.parts {
		for _, seg := range p.log.Segments() {
			file := p.log.SegmentPath(seg.First)
			size := seg.Size
			if !seg.Active {
				// Retired: truncated to its frames by the sync.
				st, err := os.Stat(file)
				if err != nil {
					return err
				}
				size = st.Size()
			}
			s.segs = append(s.segs, segmentCopy{
				name: path.Join("wal", partitionLogDir(p.id), filepath.Base(file)), path: file, size: size,
			})
		}
	}
	return nil
}

func (s *snapshot) release() {
	if s.it != nil {
		s.it.Close()
	}
	if s.txn != nil {
		s.txn.Discard()
	}
	for _, p := range s.held {
		p.ret.release()
	}
	s.held = nil
}

func (s *snapshot) writeBadger(sink BackupSink) error {
	it := s.it
	buf := []byte(snapshotMagic)
	chunks := 0
	emit := func() error {
		chunks++
		name := fmt.Sprintf("%s/%06d.kv", snapshotDir, chunks)
		err := sink(name, int64(len(buf)), bytes.NewReader(buf))
		buf = append(buf[:0], snapshotMagic...)
		return err
	}
	var val []byte
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		var err error
		if val, err = item.ValueCopy(val[:0]); err != nil {
			return fmt.Errorf("snapshot: %w", err)
		}
		k := item.Key()
		buf = binary.AppendUvarint(buf, uint64(len(k)))
		buf = append(buf, k...)
		buf = binary.AppendUvarint(buf, uint64(len(val)))
		buf = append(buf, val...)
		if len(buf) >= snapshotChunk {
			if err := emit(); err != nil {
				return err
			}
		}
	}
	return emit()
}

func (s *snapshot) writeLogs(sink BackupSink) error {
	for _, seg := range s.segs {
		f, err := os.Open(seg.path)
		if err != nil {
			return err
		}
		err = sink(seg.name, seg.size, io.NewSectionReader(f, 0, seg.size))
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// IsSnapshotChunk reports whether a backup's file is a Badger chunk, for
// SnapshotLoader, rather than a file to restore as it is.
func IsSnapshotChunk(name string) bool {
	return strings.HasPrefix(name, snapshotDir+"/")
}

// SnapshotLoader writes the Badger chunks of a backup into the Badger of a
// new data directory.
type SnapshotLoader struct {
	db *badger.DB
	wb *badger.WriteBatch
}

// NewSnapshotLoader creates the Badger of data directory dir, which must
// not have one.
func NewSnapshotLoader(dir string) (*SnapshotLoader, error) {
	bdir := filepath.Join(dir, "badger")
	if _, err := os.Stat(bdir); err == nil {
		return nil, fmt.Errorf("%s exists", bdir)
	}
	o := DefaultOptions(dir)
	o.Logger = slog.New(slog.DiscardHandler)
	db, err := badger.Open(badgerOptions(o, badgerMemTable))
	if err != nil {
		return nil, fmt.Errorf("open badger: %w", err)
	}
	return &SnapshotLoader{db: db, wb: db.NewWriteBatch()}, nil
}

// Load writes one chunk.
func (l *SnapshotLoader) Load(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(b, []byte(snapshotMagic)) {
		return errors.New("not a snapshot chunk of this format")
	}
	d := &decoder{b: b[len(snapshotMagic):]}
	for len(d.b) > 0 && d.err == nil {
		k, v := d.view(), d.view()
		if d.err != nil {
			break
		}
		if len(k) == 0 {
			return errors.New("snapshot chunk: empty key")
		}
		if err := l.wb.Set(k, v); err != nil {
			return err
		}
	}
	if d.err != nil {
		return fmt.Errorf("snapshot chunk: %w", d.err)
	}
	return nil
}

// Close writes what is left, syncs and closes the Badger.
func (l *SnapshotLoader) Close() error {
	err := l.wb.Flush()
	if err == nil {
		err = l.db.Sync()
	}
	return errors.Join(err, l.db.Close())
}

// Abort closes the Badger without finishing it.
func (l *SnapshotLoader) Abort() {
	l.wb.Cancel()
	l.db.Close()
}
