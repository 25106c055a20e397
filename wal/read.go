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

// ReadAt reads len(p) bytes of a record at pos (as reported by Write or
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
