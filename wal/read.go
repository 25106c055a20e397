package wal

import (
	"errors"
	"fmt"
	"os"
	"sync"
)

// ErrSegmentGone: ReadAt named a segment that was removed.
var ErrSegmentGone = errors.New("wal: segment removed")

// readers caches one read-only file per segment for ReadAt.
type readers struct {
	mu    sync.RWMutex
	files map[uint64]*os.File
}

func (l *Log) readFile(seg uint64) (*os.File, error) {
	l.rd.mu.RLock()
	f := l.rd.files[seg]
	l.rd.mu.RUnlock()
	if f != nil {
		return f, nil
	}
	l.mu.Lock()
	path := ""
	for _, s := range l.segments {
		if s.first == seg {
			path = s.path
		}
	}
	l.mu.Unlock()
	if path == "" {
		return nil, ErrSegmentGone
	}
	l.rd.mu.Lock()
	defer l.rd.mu.Unlock()
	if f = l.rd.files[seg]; f != nil {
		return f, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSegmentGone, err)
	}
	if l.rd.files == nil {
		l.rd.files = map[uint64]*os.File{}
	}
	l.rd.files[seg] = f
	return f, nil
}

// ReadAt reads len(p) bytes of a record at pos (as reported by AppendAt or
// ReplayAt), plus any offset inside the record the caller adds to
// pos.Offset. Safe for concurrent use, also on the segment being written.
func (l *Log) ReadAt(pos Pos, p []byte) error {
	if pos.Offset < 0 {
		return fmt.Errorf("wal: record at %d is not addressable (compressed frame)", pos.Segment)
	}
	f, err := l.readFile(pos.Segment)
	if err != nil {
		return err
	}
	if _, err := f.ReadAt(p, pos.Offset); err != nil {
		return fmt.Errorf("wal: read segment %016x at %d: %w", pos.Segment, pos.Offset, err)
	}
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
	if f := l.rd.files[first]; f != nil {
		f.Close()
		delete(l.rd.files, first)
	}
	l.rd.mu.Unlock()
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("wal: remove segment: %w", err)
	}
	return syncDir(l.opts.Dir)
}
