package wal

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Errors the log wraps into what it returns. Its callers only report
// them, so they are not exported; the tests tell them apart.
var (
	errClosed         = errors.New("wal: closed")
	errCorrupt        = errors.New("wal: corrupt log")
	errCRCMismatch    = errors.New("wal: crc mismatch")
	errRecordTooLarge = errors.New("wal: batch too large")
)

// Options configure a Log.
type Options struct {
	Dir          string        // directory of this log's segments (created if missing)
	SegmentSize  int64         // start a new segment past this size (default 64 MiB)
	Sync         SyncPolicy    // default SyncAlways
	SyncInterval time.Duration // for SyncInterval (default 50ms)
	Compression  bool          // S2-compress each frame's payload
	// CallerSyncs (with SyncAlways): no syncer goroutine; the caller
	// makes written frames durable with SyncWritten. A caller that
	// commits groups itself (one of its own goroutines syncs while others
	// write) spares each group two goroutine handoffs.
	CallerSyncs bool
	Logger      *slog.Logger // nil = slog.Default()
}

const (
	defaultSegmentSize  = 64 << 20
	defaultSyncInterval = 50 * time.Millisecond
)

// Stats are cumulative counters of a Log.
type Stats struct {
	Appends      uint64        // frames written (Write calls that succeeded)
	Records      uint64        // records written
	Groups       uint64        // syncs that acknowledged appends (fewer than Appends under concurrency)
	Bytes        uint64        // frame bytes written
	Syncs        uint64        // fdatasync calls
	SyncTotal    time.Duration // time spent in fdatasync
	SyncMax      time.Duration // slowest fdatasync
	RepairedTail bool          // Open truncated a torn tail
}

// Pos is where a record's bytes lie on disk: in segment Segment (named by
// its first index) at byte Offset. Records of compressed frames are not
// addressable: their Offset is -1.
type Pos struct {
	Segment uint64
	Offset  int64
}

// Log is a segmented write-ahead log. Writes may come from any goroutine
// and are serialised by mu; the syncer goroutine makes them durable
// without holding mu, so writing the next frames overlaps the fdatasync of
// the previous ones.
type Log struct {
	opts Options
	log  *slog.Logger

	syncMu     sync.Mutex // one sync at a time, so waiters hear in index order
	mu         sync.Mutex // guards everything below up to rd
	segments   []segment
	file       *os.File
	size       int64  // end of the active segment's frames, pending ones included
	lastFrame  int64  // where the active segment's last frame starts (for its seal)
	written    int64  // end of the frames written to the file
	pending    []byte // SyncAlways: frames stamped but not written yet, up to size
	scratch    []byte // other policies: the frame being written
	lastIdx    uint64
	closed     bool
	failed     error       // a sync or retirement failed: no more writes
	dirty      bool        // written since the last sync began
	waiting    []waiter    // SyncAlways: frames written, callers not yet told, in index order
	retiring   *retirement // the last segment retired, until its sync is awaited
	alloc      int64       // active segment's file size, frames plus preallocated zeros
	noPrealloc bool        // writing zeros ahead failed (a full file system)

	wake    chan struct{} // capacity 1: there are frames to sync
	stopped chan struct{}
	wg      sync.WaitGroup

	rd readers // read-only files for ReadAt

	appends, records, groups, bytes, syncs atomic.Uint64
	syncTotal, syncMax                     atomic.Int64
	syncLast                               atomic.Int64 // duration of the last fdatasync of sync
	repaired                               bool
}

// Open scans the segments in opts.Dir, repairs a torn tail, and readies the
// log for ReplayAt and Write.
func Open(opts Options) (*Log, error) {
	if opts.Dir == "" {
		return nil, errors.New("wal: no directory")
	}
	if opts.SegmentSize <= 0 {
		opts.SegmentSize = defaultSegmentSize
	}
	if opts.SyncInterval <= 0 {
		opts.SyncInterval = defaultSyncInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("wal: create dir: %w", err)
	}
	l := &Log{opts: opts, log: opts.Logger, wake: make(chan struct{}, 1), stopped: make(chan struct{})}
	if err := l.load(); err != nil {
		return nil, err
	}
	if opts.Sync != SyncNever && !(opts.Sync == SyncAlways && opts.CallerSyncs) {
		l.wg.Add(1)
		go l.syncer()
	}
	return l, nil
}

// Write writes records as one atomic batch and returns the index of the
// last one without waiting for a sync. durable (if not nil) is called once
// the batch is durable per the sync policy, or with the error that
// prevented it: with SyncAlways from the syncer goroutine, in index order,
// after the fdatasync that covers it; with the other policies before
// Write returns. When Write returns an error, durable is not called.
//
// Group commit: frames written while an fdatasync runs are all covered by
// the next one, so a caller that keeps writing while earlier batches sync
// (a pipeline) keeps both the disk and the CPU busy.
func (l *Log) Write(records [][]byte, pos []Pos, durable func(error)) (uint64, error) {
	if len(records) == 0 {
		return 0, errors.New("wal: empty batch")
	}
	if err := checkBatch(records); err != nil {
		return 0, err
	}
	var rel []int
	if pos != nil {
		rel = make([]int, 0, len(records))
	}
	always := l.opts.Sync == SyncAlways
	l.mu.Lock()
	last, err := l.writeFrame(records, rel, pos)
	if err == nil && always && durable != nil {
		l.waiting = append(l.waiting, waiter{last: last, durable: durable})
	}
	l.mu.Unlock()
	if err != nil {
		return 0, err
	}
	l.appends.Add(1)
	if !always {
		if durable != nil {
			durable(nil)
		}
		return last, nil
	}
	if l.opts.CallerSyncs {
		return last, nil
	}
	select {
	case l.wake <- struct{}{}:
	default: // the syncer is already due to run
	}
	return last, nil
}

// writeFrame encodes records as the next frame of the active segment:
// straight into the pending buffer with SyncAlways, else into a scratch
// buffer written at once. Caller holds l.mu.
func (l *Log) writeFrame(records [][]byte, rel []int, pos []Pos) (uint64, error) {
	if l.closed {
		return 0, errClosed
	}
	if l.failed != nil {
		return 0, l.failed
	}
	if l.size >= l.opts.SegmentSize {
		if err := l.newSegment(l.lastIdx + 1); err != nil {
			return 0, err
		}
	}
	always := l.opts.Sync == SyncAlways
	buf := l.scratch[:0]
	if always {
		// The syncer writes the pending frames just before its fdatasync:
		// one write per sync however many frames, and the writer never
		// waits for I/O.
		buf = l.pending
	}
	at := len(buf)
	buf, rel = l.appendFrame(buf, records, rel)
	frame := buf[at:]
	n := uint64(len(records))
	first := l.lastIdx + 1
	sealFrame(frame, first)
	if pos != nil {
		seg := l.segments[len(l.segments)-1].first
		for i := range pos[:n] {
			pos[i] = Pos{Segment: seg, Offset: -1}
			if rel != nil {
				pos[i].Offset = l.size + int64(rel[i])
			}
		}
	}
	if always {
		l.pending = buf
	} else {
		l.scratch = keepBuffer(buf)
		if err := l.writeOut(frame); err != nil {
			return 0, err
		}
	}
	l.dirty = true
	l.lastFrame = l.size
	l.size += int64(len(frame))
	l.lastIdx = first + n - 1
	l.segments[len(l.segments)-1].last = l.lastIdx
	l.records.Add(n)
	l.bytes.Add(uint64(len(frame)))
	return l.lastIdx, nil
}

// writeOut writes frames at the end of what the active segment holds.
// Caller holds l.mu.
func (l *Log) writeOut(frames []byte) error {
	l.preallocate(l.written + int64(len(frames)))
	if _, err := l.file.WriteAt(frames, l.written); err != nil {
		// A partial write leaves a torn frame: truncate back so the next
		// frame starts on a frame boundary.
		_ = l.file.Truncate(l.written)
		l.alloc = l.written
		return fmt.Errorf("wal: write: %w", err)
	}
	l.written += int64(len(frames))
	return nil
}

// flushPending writes the frames waiting for the next sync. Their writers
// were already given indexes, so a failure fails the log. Caller holds
// l.mu.
func (l *Log) flushPending() error {
	if len(l.pending) == 0 {
		return nil
	}
	err := l.writeOut(l.pending)
	l.pending = keepBuffer(l.pending)
	if err != nil && l.failed == nil {
		l.failed = err
	}
	return err
}

// keepBuffer empties buf for reuse, unless a rare huge batch made it
// large enough that keeping it would pin the memory.
func keepBuffer(buf []byte) []byte {
	if cap(buf) > 4<<20 {
		return nil
	}
	return buf[:0]
}

// FirstIndex is the lowest index still on disk (0 when the log is empty).
func (l *Log) FirstIndex() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.segments {
		if s.last >= s.first {
			return s.first
		}
	}
	return 0
}

// LastIndex is the highest index written (0 when empty).
func (l *Log) LastIndex() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastIdx
}

// Stats returns cumulative counters.
func (l *Log) Stats() Stats {
	return Stats{
		Appends: l.appends.Load(), Records: l.records.Load(), Groups: l.groups.Load(),
		Bytes: l.bytes.Load(), Syncs: l.syncs.Load(),
		SyncTotal: time.Duration(l.syncTotal.Load()), SyncMax: time.Duration(l.syncMax.Load()),
		RepairedTail: l.repaired,
	}
}

// Close syncs (whatever the policy), tells every waiter, and closes the
// log. Writes after Close fail ("wal: closed").
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	close(l.stopped)
	l.wg.Wait()
	l.rd.mu.Lock()
	for k, r := range l.rd.files {
		r.f.Close()
		delete(l.rd.files, k)
	}
	l.rd.mu.Unlock()
	l.mu.Lock()
	_ = l.flushPending() // a failure is in l.failed, which the sync below reports
	if l.alloc > l.size {
		// Give back the preallocated space: a clean log ends at its last frame.
		if err := l.file.Truncate(l.size); err != nil && l.failed == nil {
			l.failed = fmt.Errorf("wal: truncate: %w", err)
		}
		l.alloc = l.size
	}
	l.mu.Unlock()
	err := l.sync(true)
	if cerr := l.file.Close(); err == nil && cerr != nil {
		err = cerr
	}
	return err
}
