package wal

import (
	"fmt"
	"os"
	"path/filepath"
)

type segment struct {
	first uint64 // index of its first record (name)
	last  uint64 // index of its last record (first-1 when empty)
	path  string
	// unchecked: open trusted its seal and did not read it; ReadAt
	// checks its frames before reading any record from it.
	unchecked bool
}

// retirement is a full segment being truncated, synced and closed in the
// background.
type retirement struct {
	done chan struct{}
	err  error
}

func segmentName(first uint64) string { return fmt.Sprintf("%016x.wal", first) }

// segmentFirst reads the index of a segment's first record from its name.
func segmentFirst(path string) (uint64, error) {
	var first uint64
	if _, err := fmt.Sscanf(filepath.Base(path), "%016x.wal", &first); err != nil {
		return 0, fmt.Errorf("%w: unexpected file %s", errCorrupt, path)
	}
	return first, nil
}

// newSegment closes the active file and starts a segment at first. Caller
// holds l.mu (or is load, before any goroutine runs).
func (l *Log) newSegment(first uint64) error {
	if l.file != nil {
		if err := l.flushPending(); err != nil {
			return err
		}
		active := l.segments[len(l.segments)-1]
		if err := l.retire(l.file, active.path, seal{last: active.last, end: l.size, lastFrame: l.lastFrame}); err != nil {
			return err
		}
	}
	path := filepath.Join(l.opts.Dir, segmentName(first))
	if err := removeSeal(path); err != nil { // left by a segment of this name removed before a crash
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("wal: create segment: %w", err)
	}
	if err := syncDir(l.opts.Dir); err != nil {
		f.Close()
		return err
	}
	l.file, l.size, l.written, l.alloc, l.lastFrame = f, 0, 0, 0, 0
	l.segments = append(l.segments, segment{first: first, last: first - 1, path: path})
	return nil
}

// retire closes a full segment, whose frames s describes, and seals it
// once synced. Syncing it can take long (with fsync = never it may hold a
// whole segment of dirty pages), so it happens in the background; the
// next sync of the log waits for it, so nothing written after the old
// segment is made durable before the old segment is. Caller holds l.mu.
func (l *Log) retire(f *os.File, path string, s seal) error {
	size := s.end
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
		} else if err := writeSeal(path, s); err != nil {
			// The next start scans the segment instead.
			l.log.Warn("wal: could not seal segment", "segment", path, "err", err)
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

// preallocate writes zeros ahead of the frames, a chunk at a time, so
// that most syncs overwrite blocks the file already has: such an
// fdatasync flushes data only. Writing into fallocated (unwritten) extents
// makes every sync also write the extents' conversion, and growing the
// file a new size; the zeros leave one such metadata write per chunk, in
// the sync that also carries the chunk's first frames. On ext4 here, a
// 10 KiB write plus fdatasync cost 105-130 µs of CPU and 200-235 µs of
// wall time this way, against 175-210 µs and 305-365 µs into fallocated
// space (docs/cpu-per-request.md). Zero-filling
// a whole segment ahead, by contrast, made the log's own syncs flush
// megabytes of zeros at once. Where the writes fail (a full file system),
// the log simply grows by its frames. Caller holds l.mu.
func (l *Log) preallocate(end int64) {
	if l.noPrealloc || end <= l.alloc {
		return
	}
	chunk := min(int64(preallocChunk), max(l.opts.SegmentSize/4, 4096))
	want := (end + chunk - 1) / chunk * chunk
	for l.alloc < want {
		n, err := l.file.WriteAt(zeroChunk[:min(want-l.alloc, int64(len(zeroChunk)))], l.alloc)
		l.alloc += int64(n)
		if err != nil {
			l.noPrealloc = true
			l.log.Info("wal: no zeros ahead of the log", "dir", l.opts.Dir, "err", err)
			return
		}
	}
}

// legacySpareName is a zero-filled next segment that earlier versions
// prepared; Open removes one left behind.
const legacySpareName = "next.spare"

// preallocChunk is how far ahead of the frames a segment is zero-filled.
const preallocChunk = 512 << 10

// zeroChunk is the source of those zeros; it is only ever read.
var zeroChunk = make([]byte, preallocChunk)

// compact deletes whole segments whose records all have index <= upTo. The
// active segment is never removed.
func (l *Log) compact(upTo uint64) error {
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
		if err := removeSeal(s.path); err != nil {
			return err
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
		return errClosed
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
		return errClosed
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

// SegmentInfo describes one segment for removal decisions.
type SegmentInfo struct {
	First, Last uint64 // index range (Last = First-1 when empty)
	Active      bool   // the segment being appended to
	Size        int64  // bytes written (active segment only)
}

// Segments lists the segments in order.
func (l *Log) Segments() []SegmentInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]SegmentInfo, len(l.segments))
	for i, s := range l.segments {
		out[i] = SegmentInfo{First: s.first, Last: s.last, Active: i == len(l.segments)-1}
	}
	out[len(out)-1].Size = l.size
	return out
}

// Remove deletes one segment that is not active. Its records must no longer
// be needed: covered by a checkpoint and not referenced by ReadAt users.
func (l *Log) Remove(first uint64) error {
	l.mu.Lock()
	idx := -1
	for i, s := range l.segments {
		if s.first == first {
			idx = i
		}
	}
	if idx < 0 || idx == len(l.segments)-1 {
		l.mu.Unlock()
		return nil
	}
	path := l.segments[idx].path
	l.segments = append(l.segments[:idx], l.segments[idx+1:]...)
	l.mu.Unlock()
	l.rd.mu.Lock()
	if r := l.rd.files[first]; r != nil {
		r.f.Close()
		delete(l.rd.files, first)
	}
	l.rd.mu.Unlock()
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("wal: remove segment: %w", err)
	}
	if err := removeSeal(path); err != nil {
		return err
	}
	return syncDir(l.opts.Dir)
}

// SegmentPath is the file of the segment whose first index is first.
func (l *Log) SegmentPath(first uint64) string {
	return filepath.Join(l.opts.Dir, segmentName(first))
}
