package wal

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

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
					if _, err := l.Append(recs); err != nil {
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
			if _, err := l.Append(recs); err != nil {
				b.Error(err)
				return
			}
		}
	})
	st := l.Stats()
	b.ReportMetric(float64(st.Appends)/float64(max(st.Syncs, 1)), "appends/sync")
}

// BenchmarkFdatasync is the substrate: one 1 KiB write plus fdatasync.
func BenchmarkFdatasync(b *testing.B) {
	f, err := os.Create(filepath.Join(b.TempDir(), "raw"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1024)
	b.SetBytes(1024)
	for i := 0; i < b.N; i++ {
		if _, err := f.Write(buf); err != nil {
			b.Fatal(err)
		}
		if err := unix.Fdatasync(int(f.Fd())); err != nil {
			b.Fatal(err)
		}
	}
}
