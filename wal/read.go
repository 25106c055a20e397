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
	files map[uint64]*segmentReader
}

// segmentReader is an open segment for ReadAt. A segment that open did not
// read (sealed) has its frames checked once, before the first record is
// read from it.
type segmentReader struct {
	f     *os.File
	check sync.Once
	err   error // what the check found
	// unchecked, path, first and last: for the check
	unchecked   bool
	path        string
	first, last uint64
}

func (l *Log) readFile(seg uint64) (*segmentReader, error) {
	l.rd.mu.RLock()
	r := l.rd.files[seg]
	l.rd.mu.RUnlock()
	if r != nil {
		return r, nil
	}
	l.mu.Lock()
	var s segment
	for _, c := range l.segments {
		if c.first == seg {
			s = c
		}
	}
	l.mu.Unlock()
	if s.path == "" {
		return nil, ErrSegmentGone
	}
	l.rd.mu.Lock()
	defer l.rd.mu.Unlock()
	if r = l.rd.files[seg]; r != nil {
		return r, nil
	}
	f, err := os.Open(s.path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSegmentGone, err)
	}
	if l.rd.files == nil {
		l.rd.files = map[uint64]*segmentReader{}
	}
	r = &segmentReader{f: f, unchecked: s.unchecked, path: s.path, first: s.first, last: s.last}
	l.rd.files[seg] = r
	return r, nil
}

// checked reads a sealed segment's frames once and reports corruption
// from then on: a record is never served from a segment that fails its
// CRCs, even if open did not read it.
func (r *segmentReader) checked(l *Log) error {
	if !r.unchecked {
		return nil
	}
	r.check.Do(func() {
		sc, err := scanSegment(r.path, r.first, nil)
		if err == nil && sc.last != r.last && !(sc.end == 0 && r.last == r.first-1) {
			err = fmt.Errorf("ends at record %d, its seal says %d", sc.last, r.last)
		}
		if err != nil {
			r.err = fmt.Errorf("%w: segment %s offset %d: %v", errCorrupt, r.path, sc.end, err)
			l.log.Error("wal: sealed segment is corrupt", "segment", r.path, "offset", sc.end, "err", err)
		}
	})
	return r.err
}

// ReadAt reads len(p) bytes of a record at pos (as reported by Write or
// ReplayAt), plus any offset inside the record the caller adds to
// pos.Offset. Safe for concurrent use, also on the segment being written.
func (l *Log) ReadAt(pos Pos, p []byte) error {
	if pos.Offset < 0 {
		return fmt.Errorf("wal: record at %d is not addressable (compressed frame)", pos.Segment)
	}
	r, err := l.readFile(pos.Segment)
	if err != nil {
		return err
	}
	if err := r.checked(l); err != nil {
		return err
	}
	if _, err := r.f.ReadAt(p, pos.Offset); err != nil {
		return fmt.Errorf("wal: read segment %016x at %d: %w", pos.Segment, pos.Offset, err)
	}
	return nil
}
