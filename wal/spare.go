package wal

import (
	"fmt"
	"os"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A spare is the next segment's file, written full of zeros and synced in
// the background before the log needs it. Overwriting blocks that are
// already written is the cheapest thing a file system can sync: no block
// allocation and no unwritten-extent conversion to journal, only the data.
// Measured on ext4, 22 KB written and fdatasync'ed per round: 6,000
// rounds/s into a zero-filled file against 3,400 into a fallocate'd one,
// with half the CPU per write. The zeros read as the end of the log after
// a crash, as preallocated space does.
type spare struct {
	path   string
	file   *os.File
	size   int64
	err    error
	cancel chan struct{} // closed to stop filling
	done   chan struct{} // closed when file is filled and synced (or err)
}

const spareName = "next.spare"

// zeroChunk is the size of one zero-filling write.
const zeroChunk = 1 << 20

// zeros is the source of every spare's contents, aligned for O_DIRECT.
var zeros = alignedZeros(zeroChunk)

func alignedZeros(n int) []byte {
	raw := make([]byte, n+directBlock)
	off := (directBlock - int(uintptr(unsafe.Pointer(&raw[0]))%directBlock)) % directBlock
	return raw[off : off+n : off+n]
}

// prepareSpare starts zero-filling a spare of the segment size. A spare
// left by a crash is simply overwritten (Open removes it first).
func (l *Log) prepareSpare() *spare {
	sp := &spare{path: filepath.Join(l.opts.Dir, spareName), size: l.opts.SegmentSize,
		cancel: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(sp.done)
		sp.err = sp.fill()
		if sp.err != nil && sp.file != nil {
			sp.file.Close()
			sp.file = nil
		}
	}()
	return sp
}

// fill writes the zeros with O_DIRECT where the file system allows it: it
// costs a seventh of the CPU of going through the page cache (measured:
// 9 ms against 20 ms per 64 MiB alone, and far more while the log is
// being written), and leaves no dirty pages for the log's own fdatasync
// to wait behind. The file is then reopened for buffered writing, which
// also writes a tail that is not whole blocks.
func (sp *spare) fill() error {
	whole := sp.size / directBlock * directBlock
	if f, err := os.OpenFile(sp.path, os.O_CREATE|os.O_RDWR|os.O_TRUNC|unix.O_DIRECT, 0o644); err == nil {
		err = sp.writeZeros(f, 0, whole)
		f.Close()
		if err != nil {
			return err
		}
	} else {
		whole = 0 // no O_DIRECT here: everything goes through the page cache
	}
	f, err := os.OpenFile(sp.path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("wal: open spare: %w", err)
	}
	sp.file = f
	if err := sp.writeZeros(f, whole, sp.size); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("wal: sync spare: %w", err)
	}
	return nil
}

// directBlock is the alignment O_DIRECT writes need.
const directBlock = 4096

// writeZeros fills [from, to) of f, stopping early when cancelled.
func (sp *spare) writeZeros(f *os.File, from, to int64) error {
	for off := from; off < to; {
		select {
		case <-sp.cancel:
			return ErrClosed
		default:
		}
		n := min(int64(len(zeros)), to-off)
		if _, err := f.WriteAt(zeros[:n], off); err != nil {
			return fmt.Errorf("wal: fill spare: %w", err)
		}
		off += n
	}
	return nil
}

// takeSpare renames a ready spare to path and returns it open, with its
// size. It returns nil when no spare is ready: the caller creates the
// segment as usual, and the spare in preparation serves the next one. The
// next spare is started once the new segment is half full. Caller holds
// l.mu.
func (l *Log) takeSpare(path string) (*os.File, int64) {
	sp := l.spare
	if sp == nil {
		return nil, 0
	}
	select {
	case <-sp.done:
	default:
		return nil, 0
	}
	l.spare = nil
	if sp.err != nil {
		l.log.Warn("wal: no spare segment", "dir", l.opts.Dir, "err", sp.err)
		_ = os.Remove(sp.path)
		return nil, 0
	}
	if err := os.Rename(sp.path, path); err != nil {
		l.log.Warn("wal: spare segment not usable", "dir", l.opts.Dir, "err", err)
		sp.file.Close()
		_ = os.Remove(sp.path)
		return nil, 0
	}
	return sp.file, sp.size
}

// discardSpare stops the spare's filling and removes it. Caller holds l.mu.
func (l *Log) discardSpare() {
	sp := l.spare
	if sp == nil {
		return
	}
	l.spare = nil
	close(sp.cancel)
	<-sp.done
	if sp.file != nil {
		sp.file.Close()
	}
	_ = os.Remove(sp.path)
}
