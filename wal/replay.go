package wal

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"os"
)

// ReplayAt calls fn in index order for every record with index > after,
// with the record's position (for ReadAt).
func (l *Log) ReplayAt(after uint64, fn func(index uint64, rec []byte, pos Pos) error) error {
	l.mu.Lock()
	segs := append([]segment(nil), l.segments...)
	l.mu.Unlock()
	for _, s := range segs {
		if s.last <= after && s.last >= s.first {
			continue
		}
		_, err := scanSegment(s.path, s.first, func(idx uint64, rec []byte, off int64) error {
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

// scanned is where a scan of a segment stopped.
type scanned struct {
	end       int64  // just past the last good frame
	last      uint64 // index of the last good record (0 if none)
	lastFrame int64  // offset of the last good frame
}

// scanSegment decodes the frames of one segment, calling fn (if non-nil) per
// record. It returns where the good frames end and the error that stopped
// it (nil at a clean end, including a zero-filled tail).
func scanSegment(path string, first uint64, fn func(uint64, []byte, int64) error) (sc scanned, _ error) {
	f, err := os.Open(path)
	if err != nil {
		return sc, fmt.Errorf("wal: open segment: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	expect := first
	var full []byte // the frame being read; reused when no record escapes (fn == nil)
	hdr := make([]byte, 8)
	for {
		if _, err := io.ReadFull(r, hdr); err != nil {
			if err == io.EOF {
				return sc, nil
			}
			return sc, fmt.Errorf("short frame header: %w", io.ErrUnexpectedEOF)
		}
		n := binary.LittleEndian.Uint32(hdr)
		if n == 0 && binary.LittleEndian.Uint32(hdr[4:]) == 0 {
			return sc, nil // zero-filled (preallocated) space: end of log
		}
		if n < headerSize-8 || n > maxBatchBytes+64 {
			return sc, fmt.Errorf("%w: bad frame length %d", errCRCMismatch, n)
		}
		if fn != nil || cap(full) < int(8+n) {
			// fn may keep the records, which alias the frame.
			full = make([]byte, 8+n)
		}
		full = full[:8+n]
		copy(full, hdr)
		if _, err := io.ReadFull(r, full[8:]); err != nil {
			return sc, fmt.Errorf("short frame: %w", io.ErrUnexpectedEOF)
		}
		idx, recs, err := decodeFrame(full)
		if err != nil {
			return sc, err
		}
		if idx != expect {
			return sc, fmt.Errorf("%w: frame index %d, expected %d", errCorrupt, idx, expect)
		}
		compressed := full[20]&flagCompressed != 0
		for i, rec := range recs {
			if fn != nil {
				recOff := int64(-1)
				if !compressed {
					// recs alias full: the record's offset in the file is
					// the frame's plus its offset inside the frame.
					recOff = sc.end + int64(cap(full)-cap(rec))
				}
				if err := fn(idx+uint64(i), rec, recOff); err != nil {
					return sc, err
				}
			}
		}
		expect = idx + uint64(len(recs))
		sc.last = expect - 1
		sc.lastFrame = sc.end
		sc.end += int64(8 + n)
	}
}
