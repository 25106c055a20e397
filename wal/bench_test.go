package wal

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"github.com/zaqar-go/zaqar/internal/testenv"

	"golang.org/x/sys/unix"
)

func BenchmarkAppend(b *testing.B) {
	for _, pol := range []SyncPolicy{SyncAlways, SyncNever} {
		for _, batch := range []int{1, 16, 256} {
			b.Run(fmt.Sprintf("sync=%s/batch=%d", pol, batch), func(b *testing.B) {
				l, err := Open(Options{Dir: b.TempDir(), Sync: pol, SegmentSize: 64 << 20})
				if err != nil {
					b.Fatal(err)
				}
				defer l.Close()
				recs := make([][]byte, batch)
				for i := range recs {
					recs[i] = make([]byte, 1024)
				}
				b.SetBytes(int64(1024 * batch))
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if _, err := l.appendWait(recs); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkAppendParallel shows group commit: 16 goroutines appending one
// 1 KiB record each with SyncAlways share fdatasyncs.
func BenchmarkAppendParallel(b *testing.B) {
	l, err := Open(Options{Dir: b.TempDir(), Sync: SyncAlways, SegmentSize: 64 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	b.SetBytes(1024)
	b.ReportAllocs()
	b.SetParallelism(8) // x GOMAXPROCS goroutines
	b.RunParallel(func(pb *testing.PB) {
		recs := [][]byte{make([]byte, 1024)}
		for pb.Next() {
			if _, err := l.appendWait(recs); err != nil {
				b.Error(err)
				return
			}
		}
	})
	st := l.Stats()
	b.ReportMetric(float64(st.Appends)/float64(max(st.Syncs, 1)), "appends/sync")
}

// BenchmarkFdatasync is the substrate: one write plus fdatasync, as the
// syncer makes them, into space in the states a log can find it in.
// "append" grows the file, "fallocated" writes into preallocated
// (unwritten) extents, "zero-ahead" writes zeros a chunk ahead of the
// writes, as the log does, "zeroed" overwrites blocks written beforehand,
// and "zeroed+fill" also writes as many zeros to another file per round,
// which is what zero-filling the next segment costs while the log is busy:
// every fdatasync flushes the disk's cache, zeros included. "direct" is
// zero-ahead with O_DIRECT, bypassing the page cache: each write starts at
// the block holding the end of the previous one and rewrites that block's
// written bytes, as a log writing that way would have to.
func BenchmarkFdatasync(b *testing.B) {
	for _, size := range []int{1 << 10, 44 << 10} {
		for _, space := range []string{"append", "fallocated", "zero-ahead", "direct", "zeroed", "zeroed+fill"} {
			b.Run(fmt.Sprintf("size=%d/%s", size, space), func(b *testing.B) {
				benchSyncedWrites(b, size, space)
			})
		}
	}
}

func benchSyncedWrites(b *testing.B, size int, space string) {
	if space == "direct" {
		benchDirectWrites(b, size)
		return
	}
	dir := b.TempDir()
	f, err := os.Create(filepath.Join(dir, "log"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	total := int64(size) * int64(b.N)
	var fill *os.File
	switch space {
	case "fallocated":
		if err := unix.Fallocate(int(f.Fd()), 0, 0, total); err != nil {
			b.Skipf("fallocate: %v", err)
		}
	case "zeroed", "zeroed+fill":
		zeros := make([]byte, 1<<20)
		for off := int64(0); off < total; off += int64(len(zeros)) {
			if _, err := f.WriteAt(zeros[:min(int64(len(zeros)), total-off)], off); err != nil {
				b.Fatal(err)
			}
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		if space == "zeroed+fill" {
			if fill, err = os.Create(filepath.Join(dir, "fill")); err != nil {
				b.Fatal(err)
			}
			defer fill.Close()
		}
	}
	buf := make([]byte, size)
	zeros := make([]byte, size)
	var zeroedTo int64
	b.SetBytes(int64(size))
	b.ResetTimer()
	defer testenv.ReportCPUPerOp(b)()
	for i := 0; i < b.N; i++ {
		if end := int64((i + 1) * size); space == "zero-ahead" && end > zeroedTo {
			if _, err := f.WriteAt(zeroChunk, zeroedTo); err != nil {
				b.Fatal(err)
			}
			zeroedTo += int64(len(zeroChunk))
		}
		if fill != nil {
			// Written back by the kernel in the background, as the
			// filler's writes reach the disk while the log syncs.
			if _, err := fill.Write(zeros); err != nil {
				b.Fatal(err)
			}
			if err := unix.SyncFileRange(int(fill.Fd()), int64(i*size), int64(size), unix.SYNC_FILE_RANGE_WRITE); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := f.WriteAt(buf, int64(i*size)); err != nil {
			b.Fatal(err)
		}
		if err := unix.Fdatasync(int(f.Fd())); err != nil {
			b.Fatal(err)
		}
	}
}

// directBlock is the alignment O_DIRECT asks of offsets, lengths and
// buffers (the filesystem's block; 512 would do on most disks).
const directBlock = 4096

// alignedBuffer is n bytes starting at a multiple of directBlock.
func alignedBuffer(n int) []byte {
	b := make([]byte, n+directBlock)
	skip := (directBlock - int(uintptr(unsafe.Pointer(&b[0]))%directBlock)) % directBlock
	return b[skip : skip+n : skip+n]
}

func benchDirectWrites(b *testing.B, size int) {
	f, err := os.OpenFile(filepath.Join(b.TempDir(), "log"), os.O_CREATE|os.O_RDWR|unix.O_DIRECT, 0o644)
	if err != nil {
		b.Skipf("O_DIRECT: %v", err)
	}
	defer f.Close()
	zeros := alignedBuffer(len(zeroChunk))
	// buf holds the partial block left by the last write, then the frame.
	buf := alignedBuffer(size + 2*directBlock)
	frame := make([]byte, size)
	var zeroedTo, end int64
	b.SetBytes(int64(size))
	b.ResetTimer()
	defer testenv.ReportCPUPerOp(b)()
	for i := 0; i < b.N; i++ {
		if end+int64(size) > zeroedTo {
			if _, err := f.WriteAt(zeros, zeroedTo); err != nil {
				b.Fatal(err)
			}
			zeroedTo += int64(len(zeros))
		}
		start := end &^ (directBlock - 1)
		tail := int(end - start)
		n := copy(buf[tail:], frame) + tail
		padded := (n + directBlock - 1) &^ (directBlock - 1)
		clear(buf[n:padded])
		if _, err := f.WriteAt(buf[:padded], start); err != nil {
			b.Fatal(err)
		}
		end += int64(size)
		next := end &^ (directBlock - 1)
		copy(buf, buf[next-start:n])
		if err := unix.Fdatasync(int(f.Fd())); err != nil {
			b.Fatal(err)
		}
	}
}
