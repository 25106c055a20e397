package wal

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/s2"
	"golang.org/x/sys/unix"
)

// Sentinel errors.
var (
	ErrClosed         = errors.New("wal: closed")
	ErrCorrupt        = errors.New("wal: corrupt log")
	ErrCRCMismatch    = errors.New("wal: crc mismatch")
	ErrRecordTooLarge = errors.New("wal: batch too large")
)

// SyncPolicy says when appended data is forced to stable storage.
type SyncPolicy int

const (
	SyncAlways   SyncPolicy = iota // fdatasync before Append returns (default)
	SyncInterval                   // fdatasync every Options.SyncInterval in the background
	SyncNever                      // never fdatasync: UNSAFE, for benchmarks only
)

// ParseSyncPolicy reads "always", "interval" or "never".
func ParseSyncPolicy(s string) (SyncPolicy, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "always":
		return SyncAlways, nil
	case "interval":
		return SyncInterval, nil
	case "never":
		return SyncNever, nil
	}
	return 0, fmt.Errorf("wal: unknown sync policy %q (want always, interval or never)", s)
}

func (p SyncPolicy) String() string {
	switch p {
	case SyncAlways:
		return "always"
	case SyncInterval:
		return "interval"
	case SyncNever:
		return "never"
	}
	return fmt.Sprintf("SyncPolicy(%d)", int(p))
}

// Options configure a Log.
type Options struct {
	Dir          string        // directory of this log's segments (created if missing)
	SegmentSize  int64         // start a new segment past this size (default 64 MiB)
	Sync         SyncPolicy    // default SyncAlways
	SyncInterval time.Duration // for SyncInterval (default 50ms)
	Compression  bool          // S2-compress each frame's payload
	Logger       *slog.Logger  // nil = slog.Default()
}

// DefaultOptions returns the defaults for a log in dir.
func DefaultOptions(dir string) Options {
	return Options{Dir: dir, SegmentSize: 64 << 20, Sync: SyncAlways, SyncInterval: 50 * time.Millisecond}
}

// MaxBatchBytes bounds one frame's payload.
const MaxBatchBytes = 64 << 20

const (
	headerSize     = 21 // len, crc, first, n, flags
	flagCompressed = 1
	slowSync       = time.Second
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Stats are cumulative counters of a Log.
type Stats struct {
	Appends      uint64        // frames written (Write and Append calls that succeeded)
	Records      uint64        // records written
	Groups       uint64        // syncs that acknowledged appends (fewer than Appends under concurrency)
	Bytes        uint64        // frame bytes written
	Syncs        uint64        // fdatasync calls
	SyncTotal    time.Duration // time spent in fdatasync
	SyncMax      time.Duration // slowest fdatasync
	RepairedTail bool          // Open truncated a torn tail
	SyncerSlice  time.Duration // the syncer thread's scheduler slice (0: the kernel's default)
}

type segment struct {
	first uint64 // index of its first record (name)
	last  uint64 // index of its last record (first-1 when empty)
	path  string
}

// waiter is a written frame whose writer waits for it to be durable.
type waiter struct {
	last    uint64
	durable func(error)
}

// retirement is a full segment being truncated, synced and closed in the
// background.
type retirement struct {
	done chan struct{}
	err  error
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
	noPrealloc bool        // the file system refused fallocate

	wake    chan struct{} // capacity 1: there are frames to sync
	stopped chan struct{}
	wg      sync.WaitGroup

	rd readers // read-only files for ReadAt

	appends, records, groups, bytes, syncs atomic.Uint64
	syncTotal, syncMax, syncerSlice        atomic.Int64
	repaired                               bool
}

// Open scans the segments in opts.Dir, repairs a torn tail, and readies the
// log for Replay and Append.
func Open(opts Options) (*Log, error) {
	if opts.Dir == "" {
		return nil, errors.New("wal: no directory")
	}
	if opts.SegmentSize <= 0 {
		opts.SegmentSize = 64 << 20
	}
	if opts.SyncInterval <= 0 {
		opts.SyncInterval = 50 * time.Millisecond
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
	if opts.Sync != SyncNever {
		l.wg.Add(1)
		go l.syncer()
	}
	return l, nil
}

func segmentName(first uint64) string { return fmt.Sprintf("%016x.wal", first) }

// segmentFirst reads the index of a segment's first record from its name.
func segmentFirst(path string) (uint64, error) {
	var first uint64
	if _, err := fmt.Sscanf(filepath.Base(path), "%016x.wal", &first); err != nil {
		return 0, fmt.Errorf("%w: unexpected file %s", ErrCorrupt, path)
	}
	return first, nil
}

// load lists and validates the segments and opens the last for appending.
func (l *Log) load() error {
	if err := os.Remove(filepath.Join(l.opts.Dir, legacySpareName)); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("wal: remove spare: %w", err)
	}
	names, err := filepath.Glob(filepath.Join(l.opts.Dir, "*.wal"))
	if err != nil {
		return fmt.Errorf("wal: list segments: %w", err)
	}
	sort.Strings(names)
	var tailEnd int64                 // where the last segment's frames end: the rest is preallocated zeros
	for i := 0; i < len(names); i++ { // the loop may shorten names
		name := names[i]
		first, err := segmentFirst(name)
		if err != nil {
			return err
		}
		seg := segment{first: first, last: first - 1, path: name}
		isLast := i == len(names)-1
		good, last, scanErr := scanSegment(name, first, nil)
		if isLast {
			tailEnd = good
		}
		if last != 0 {
			seg.last = last
		}
		if scanErr != nil && !isLast {
			var err error
			switch {
			case framelessAfter(names[i+1:]):
				// A crash came between starting the next segment and
				// making this one's tail durable: nothing after the
				// tear was acknowledged (a sync waits for the full
				// segment's), so this is the torn tail of the log.
				err = removeSegments(names[i+1:])
			case l.opts.Sync != SyncAlways && i == len(names)-2:
				// Without fsync=always the last retired segment is synced
				// in the background (the one before it was synced before
				// this one was retired), so writeback may have saved the
				// active segment's frames but not this one's tail. The
				// log is the prefix before the tear; the active segment
				// is kept aside as evidence. No checkpoint covers it: a
				// checkpoint syncs the log, which waits for the
				// retirement.
				err = setAside(names[i+1:], l.log)
			default:
				err = fmt.Errorf("%w: segment %s offset %d: %v", ErrCorrupt, name, good, scanErr)
			}
			if err == nil {
				err = syncDir(l.opts.Dir)
			}
			if err != nil {
				return err
			}
			names, isLast, tailEnd = names[:i+1], true, good
		}
		if scanErr != nil {
			if !isLast {
				return fmt.Errorf("%w: segment %s offset %d: %v", ErrCorrupt, name, good, scanErr)
			}
			if err := repairTail(name, good, l.log, scanErr); err != nil {
				return err
			}
			l.repaired = true
		}
		if len(l.segments) > 0 {
			// Segments may have been removed from the middle (Remove), so
			// gaps are fine; overlap is not.
			if prev := l.segments[len(l.segments)-1]; seg.first <= prev.last {
				return fmt.Errorf("%w: segment %s starts at %d, previous ends at %d", ErrCorrupt, name, seg.first, prev.last)
			}
		}
		l.segments = append(l.segments, seg)
	}
	if len(l.segments) == 0 {
		return l.newSegment(1)
	}
	tail := l.segments[len(l.segments)-1]
	l.lastIdx = tail.last
	f, err := os.OpenFile(tail.path, os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("wal: open segment: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("wal: stat segment: %w", err)
	}
	l.file, l.size, l.written, l.alloc = f, tailEnd, tailEnd, st.Size()
	return nil
}

// removeSegments deletes segments that hold no frame.
func removeSegments(names []string) error {
	for _, name := range names {
		if err := os.Remove(name); err != nil {
			return fmt.Errorf("wal: remove empty segment: %w", err)
		}
	}
	return nil
}

// setAside renames segments past a torn frame to "<segment>.broken": they
// are no longer part of the log, but what they hold is kept.
func setAside(names []string, log *slog.Logger) error {
	for _, name := range names {
		if err := os.Rename(name, name+".broken"); err != nil {
			return fmt.Errorf("wal: set aside segment: %w", err)
		}
		log.Warn("wal: segment after a torn frame set aside", "segment", name, "backup", name+".broken")
	}
	return nil
}

// framelessAfter reports whether every segment in names holds no frame
// (empty, or zeros only).
func framelessAfter(names []string) bool {
	for _, name := range names {
		first, err := segmentFirst(name)
		if err != nil {
			return false
		}
		if good, _, err := scanSegment(name, first, nil); good != 0 || err != nil {
			return false
		}
	}
	return true
}

// newSegment closes the active file and starts a segment at first. Caller
// holds l.mu (or is load, before any goroutine runs).
func (l *Log) newSegment(first uint64) error {
	if l.file != nil {
		if err := l.flushPending(); err != nil {
			return err
		}
		if err := l.retire(l.file, l.size); err != nil {
			return err
		}
	}
	path := filepath.Join(l.opts.Dir, segmentName(first))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("wal: create segment: %w", err)
	}
	if err := syncDir(l.opts.Dir); err != nil {
		f.Close()
		return err
	}
	l.file, l.size, l.written, l.alloc = f, 0, 0, 0
	l.segments = append(l.segments, segment{first: first, last: first - 1, path: path})
	return nil
}

// retire closes a full segment of size bytes of frames. Syncing it can
// take long (with fsync = never it may hold a whole segment of dirty
// pages), so it happens in the background; the next sync of the log waits
// for it, so nothing written after the old segment is made durable before
// the old segment is. Caller holds l.mu.
func (l *Log) retire(f *os.File, size int64) error {
	if err := l.awaitRetired(); err != nil {
		f.Close()
		return err
	}
	if l.opts.Sync == SyncAlways {
		// Its tail may not be synced yet (writers do not wait for syncs).
		// Sync it before the next segment exists, so that a crash never
		// leaves a torn frame in front of a newer segment. This costs one
		// small fdatasync per segment.
		if err := fdatasync(f); err != nil {
			l.failed = err
			f.Close()
			return err
		}
	}
	r := &retirement{done: make(chan struct{})}
	l.retiring = r
	go func() {
		// Give back the preallocated space past the last frame. Should a
		// crash come first, the zeros there read as the end of the log.
		err := f.Truncate(size)
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil && cerr != nil {
			err = cerr
		}
		if err != nil {
			r.err = fmt.Errorf("wal: retire segment: %w", err)
		}
		close(r.done)
	}()
	return nil
}

// awaitRetired waits for the last retired segment's background sync.
// Caller holds l.mu.
func (l *Log) awaitRetired() error {
	r := l.retiring
	if r == nil {
		return nil
	}
	<-r.done
	l.retiring = nil
	if r.err != nil && l.failed == nil {
		l.failed = r.err
	}
	return r.err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("wal: open dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("wal: sync dir: %w", err)
	}
	return nil
}

// checkBatch rejects a batch too large for one frame.
func checkBatch(records [][]byte) error {
	size := 0
	for _, r := range records {
		size += binary.MaxVarintLen32 + len(r)
	}
	if size > MaxBatchBytes {
		return ErrRecordTooLarge
	}
	return nil
}

// appendFrame appends the frame for records to dst; first is stamped
// later (sealFrame), by the writer that knows the next index. rel receives
// each record's offset within the frame, unless the frame is compressed.
func (l *Log) appendFrame(dst []byte, records [][]byte, rel []int) ([]byte, []int) {
	start := len(dst)
	dst = append(dst, make([]byte, headerSize)...)
	if l.opts.Compression {
		var payload []byte
		for _, r := range records {
			payload = binary.AppendUvarint(payload, uint64(len(r)))
			payload = append(payload, r...)
		}
		dst = append(dst, s2.Encode(nil, payload)...)
		sealHeader(dst[start:], len(records), flagCompressed)
		return dst, nil
	}
	rel = rel[:0]
	for _, r := range records {
		dst = binary.AppendUvarint(dst, uint64(len(r)))
		rel = append(rel, len(dst)-start)
		dst = append(dst, r...)
	}
	sealHeader(dst[start:], len(records), 0)
	return dst, rel
}

func sealHeader(frame []byte, n int, flags byte) {
	binary.LittleEndian.PutUint32(frame[0:], uint32(len(frame)-8))
	binary.LittleEndian.PutUint32(frame[16:], uint32(n))
	frame[20] = flags
}

// sealFrame stamps the first index and the checksum.
func sealFrame(frame []byte, first uint64) {
	binary.LittleEndian.PutUint64(frame[8:], first)
	binary.LittleEndian.PutUint32(frame[4:], crc32.Checksum(frame[8:], castagnoli))
}

// Append writes records as one atomic batch and returns the index of the
// last one once durable per the sync policy.
func (l *Log) Append(records [][]byte) (uint64, error) {
	return l.AppendAt(records, nil)
}

// AppendAt is Append that also reports where each record landed: when pos
// is non-nil (len(pos) >= len(records)) pos[i] receives record i's
// position, for ReadAt.
func (l *Log) AppendAt(records [][]byte, pos []Pos) (uint64, error) {
	if len(records) == 0 {
		return l.LastIndex(), nil
	}
	done := make(chan error, 1)
	last, err := l.Write(records, pos, func(err error) { done <- err })
	if err != nil {
		return 0, err
	}
	return last, <-done
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
		return 0, ErrClosed
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

// preallocate extends the active segment with zeros (fallocate) in chunks
// ahead of the frames, so most syncs write data into allocated space
// rather than also journaling a new size and new blocks. Where the file
// system cannot, the log simply grows by its writes. Caller holds l.mu.
func (l *Log) preallocate(end int64) {
	if l.noPrealloc || end <= l.alloc {
		return
	}
	chunk := min(int64(preallocChunk), max(l.opts.SegmentSize/4, 4096))
	want := (end + chunk - 1) / chunk * chunk
	if err := unix.Fallocate(int(l.file.Fd()), 0, l.alloc, want-l.alloc); err != nil {
		l.noPrealloc = true
		l.log.Info("wal: no preallocation", "dir", l.opts.Dir, "err", err)
		return
	}
	l.alloc = want
}

// legacySpareName is a zero-filled next segment that earlier versions
// prepared; Open removes one left behind.
const legacySpareName = "next.spare"

// preallocChunk is how far ahead of the frames a segment is allocated.
const preallocChunk = 1 << 20

// syncer makes written frames durable: with SyncAlways as soon as there
// are any, taking after each fdatasync everything written meanwhile (group
// commit); with SyncInterval every Options.SyncInterval.
func (l *Log) syncer() {
	defer l.wg.Done()
	if l.opts.Sync == SyncAlways {
		l.syncerSlice.Store(int64(shortenSlice(syncerSlice)))
	}
	var tick <-chan time.Time
	if l.opts.Sync == SyncInterval {
		t := time.NewTicker(l.opts.SyncInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-l.wake:
		case <-tick:
		case <-l.stopped:
			return
		}
		if err := l.sync(false); err != nil {
			l.log.Error("wal sync failed", "dir", l.opts.Dir, "err", err)
		}
	}
}

// sync makes every frame written so far durable (unless nothing was
// written since the last sync and force is false) and then tells their
// waiters. It holds l.mu only to take its snapshot, so writers go on
// meanwhile.
func (l *Log) sync(force bool) error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.Lock()
	if !force && !l.dirty {
		l.mu.Unlock()
		return nil
	}
	_ = l.flushPending() // a failure is in l.failed
	f, waiting, err := l.file, l.waiting, l.failed
	l.waiting, l.dirty = nil, false
	l.mu.Unlock()

	start := time.Now()
	if err == nil {
		err = fdatasync(f)
	}
	if err == nil {
		// Frames in segments retired before (or during) this sync are
		// covered by their retirement's sync; the last one waited on
		// implies all before it.
		l.mu.Lock()
		r := l.retiring
		l.mu.Unlock()
		if r != nil {
			<-r.done
			err = r.err
			l.mu.Lock()
			if l.retiring == r {
				l.retiring = nil
			}
			l.mu.Unlock()
		}
	}
	if err == nil {
		// A retirement that failed meanwhile (and was awaited by a
		// writer) leaves its mark here.
		l.mu.Lock()
		err = l.failed
		l.mu.Unlock()
	}
	d := time.Since(start)
	if err != nil {
		l.mu.Lock()
		if l.failed == nil {
			// After a failed fdatasync the kernel may have dropped the
			// dirty pages: nothing written since can be trusted either.
			l.failed = err
		}
		l.mu.Unlock()
	} else {
		l.syncs.Add(1)
		l.syncTotal.Add(int64(d))
		for {
			cur := l.syncMax.Load()
			if int64(d) <= cur || l.syncMax.CompareAndSwap(cur, int64(d)) {
				break
			}
		}
		if d > slowSync {
			l.log.Warn("slow wal fdatasync", "dir", l.opts.Dir, "duration", d)
		}
	}
	if len(waiting) > 0 && err == nil {
		l.groups.Add(1)
	}
	for _, w := range waiting {
		w.durable(err)
	}
	return err
}

// Sync makes every frame written so far durable, whatever the policy, and
// tells their waiters.
func (l *Log) Sync() error { return l.sync(true) }

// fdatasync syncs f unless it was closed meanwhile, which only a
// retirement does after syncing it itself.
func fdatasync(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return fmt.Errorf("wal: fdatasync: %w", err)
	}
	var serr error
	// Control holds a reference on the descriptor: a concurrent Close
	// waits, and Control fails without calling us if Close came first.
	_ = rc.Control(func(fd uintptr) {
		for {
			serr = unix.Fdatasync(int(fd))
			if serr != unix.EINTR {
				break
			}
		}
	})
	if serr != nil {
		return fmt.Errorf("wal: fdatasync: %w", serr)
	}
	return nil
}

// Replay calls fn in index order for every record with index > after.
func (l *Log) Replay(after uint64, fn func(index uint64, rec []byte) error) error {
	return l.ReplayAt(after, func(index uint64, rec []byte, _ Pos) error { return fn(index, rec) })
}

// ReplayAt is Replay that also gives each record's position.
func (l *Log) ReplayAt(after uint64, fn func(index uint64, rec []byte, pos Pos) error) error {
	l.mu.Lock()
	segs := append([]segment(nil), l.segments...)
	l.mu.Unlock()
	for _, s := range segs {
		if s.last <= after && s.last >= s.first {
			continue
		}
		_, _, err := scanSegment(s.path, s.first, func(idx uint64, rec []byte, off int64) error {
			if idx <= after {
				return nil
			}
			return fn(idx, rec, Pos{Segment: s.first, Offset: off})
		})
		if err != nil {
			return fmt.Errorf("wal: replay %s: %w", s.path, err)
		}
	}
	return nil
}

// scanSegment decodes the frames of one segment, calling fn (if non-nil) per
// record. It returns the offset just past the last good frame, the index of
// the last good record (0 if none), and the error that stopped it (nil at a
// clean end, including a zero-filled tail).
func scanSegment(path string, first uint64, fn func(uint64, []byte, int64) error) (int64, uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, fmt.Errorf("wal: open segment: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	var off int64
	var last uint64
	expect := first
	var frame []byte
	hdr := make([]byte, 8)
	for {
		if _, err := io.ReadFull(r, hdr); err != nil {
			if err == io.EOF {
				return off, last, nil
			}
			return off, last, fmt.Errorf("short frame header: %w", io.ErrUnexpectedEOF)
		}
		n := binary.LittleEndian.Uint32(hdr)
		if n == 0 && binary.LittleEndian.Uint32(hdr[4:]) == 0 {
			return off, last, nil // zero-filled (preallocated) space: end of log
		}
		if n < headerSize-8 || n > MaxBatchBytes+64 {
			return off, last, fmt.Errorf("%w: bad frame length %d", ErrCRCMismatch, n)
		}
		if cap(frame) < int(n) {
			frame = make([]byte, n)
		}
		frame = frame[:n]
		if _, err := io.ReadFull(r, frame); err != nil {
			return off, last, fmt.Errorf("short frame: %w", io.ErrUnexpectedEOF)
		}
		full := append(append(make([]byte, 0, 8+n), hdr...), frame...)
		idx, recs, err := DecodeFrame(full)
		if err != nil {
			return off, last, err
		}
		if idx != expect {
			return off, last, fmt.Errorf("%w: frame index %d, expected %d", ErrCorrupt, idx, expect)
		}
		compressed := full[20]&flagCompressed != 0
		for i, rec := range recs {
			if fn != nil {
				recOff := int64(-1)
				if !compressed {
					// recs alias full: the record's offset in the file is
					// the frame's plus its offset inside the frame.
					recOff = off + int64(cap(full)-cap(rec))
				}
				if err := fn(idx+uint64(i), rec, recOff); err != nil {
					return off, last, err
				}
			}
		}
		expect = idx + uint64(len(recs))
		last = expect - 1
		off += int64(8 + n)
	}
}

// DecodeFrame checks and decodes one complete frame, returning the index of
// its first record and the records (aliasing frame unless compressed).
func DecodeFrame(frame []byte) (uint64, [][]byte, error) {
	if len(frame) < headerSize {
		return 0, nil, fmt.Errorf("%w: frame of %d bytes", ErrCRCMismatch, len(frame))
	}
	n := binary.LittleEndian.Uint32(frame)
	if int(n) != len(frame)-8 {
		return 0, nil, fmt.Errorf("%w: length field %d for %d bytes", ErrCRCMismatch, n, len(frame)-8)
	}
	if crc32.Checksum(frame[8:], castagnoli) != binary.LittleEndian.Uint32(frame[4:]) {
		return 0, nil, ErrCRCMismatch
	}
	first := binary.LittleEndian.Uint64(frame[8:])
	count := binary.LittleEndian.Uint32(frame[16:])
	payload := frame[headerSize:]
	if frame[20]&flagCompressed != 0 {
		dl, err := s2.DecodedLen(payload)
		if err != nil || dl > MaxBatchBytes {
			return 0, nil, fmt.Errorf("%w: bad compressed payload", ErrCorrupt)
		}
		if payload, err = s2.Decode(nil, payload); err != nil {
			return 0, nil, fmt.Errorf("%w: decompress: %v", ErrCorrupt, err)
		}
	}
	if uint64(count) > uint64(len(payload)) {
		return 0, nil, fmt.Errorf("%w: %d records in %d bytes", ErrCorrupt, count, len(payload))
	}
	recs := make([][]byte, 0, count)
	for i := uint32(0); i < count; i++ {
		size, k := binary.Uvarint(payload)
		if k <= 0 || size > uint64(len(payload)-k) {
			return 0, nil, fmt.Errorf("%w: bad record %d", ErrCorrupt, i)
		}
		recs = append(recs, payload[k:k+int(size)])
		payload = payload[k+int(size):]
	}
	if len(payload) != 0 {
		return 0, nil, fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, len(payload))
	}
	return first, recs, nil
}

// Compact deletes whole segments whose records all have index <= upTo. The
// active segment is never removed.
func (l *Log) Compact(upTo uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	removed := 0
	for len(l.segments)-removed > 1 {
		s := l.segments[removed]
		if s.last > upTo {
			break
		}
		if err := os.Remove(s.path); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("wal: remove segment: %w", err)
		}
		removed++
	}
	if removed == 0 {
		return nil
	}
	l.segments = append(l.segments[:0], l.segments[removed:]...)
	return syncDir(l.opts.Dir)
}

// Rotate starts a new segment so that everything written so far can be
// compacted once covered by a checkpoint.
func (l *Log) Rotate() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	if l.size == 0 {
		return nil
	}
	return l.newSegment(l.lastIdx + 1)
}

// SkipTo makes idx the last index, so that the next record gets idx+1. It
// is for a log that lost its tail in a crash while something outside it
// (a checkpoint) already covers indexes up to idx: reusing them would hide
// new records behind that checkpoint. The indexes skipped hold nothing.
func (l *Log) SkipTo(idx uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	if idx <= l.lastIdx {
		return nil
	}
	if err := l.newSegment(idx + 1); err != nil {
		return err
	}
	l.lastIdx = idx
	return nil
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
		RepairedTail: l.repaired, SyncerSlice: time.Duration(l.syncerSlice.Load()),
	}
}

// Close syncs (whatever the policy), tells every waiter, and closes the
// log. Writes after Close fail with ErrClosed.
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
	for k, f := range l.rd.files {
		f.Close()
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
