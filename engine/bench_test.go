package engine

import (
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"testing"

	"github.com/zaqar-go/zaqar/internal/testenv"
	"github.com/zaqar-go/zaqar/storage"
	"github.com/zaqar-go/zaqar/storage/storagetest"
	"github.com/zaqar-go/zaqar/wal"
)

func benchEngine(b *testing.B, fsync wal.SyncPolicy) *Engine {
	e := openEngine(b, b.TempDir(), func(o *Options) {
		o.Fsync = fsync
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	})
	b.Cleanup(func() { e.Close() })
	return e
}

// BenchmarkPost, BenchmarkClaimDelete, BenchmarkClaimParallel: the shared
// store benchmarks (storagetest), with each durability setting.
func BenchmarkPost(b *testing.B)          { perFsync(b, storagetest.BenchPost) }
func BenchmarkClaimDelete(b *testing.B)   { perFsync(b, storagetest.BenchClaimDelete) }
func BenchmarkClaimParallel(b *testing.B) { perFsync(b, storagetest.BenchClaimParallel) }

// perFsync also reports the process's CPU time per operation.
func perFsync(b *testing.B, bench func(*testing.B, storage.Store)) {
	for _, fsync := range []wal.SyncPolicy{wal.SyncAlways, wal.SyncNever} {
		b.Run("fsync="+fsync.String(), func(b *testing.B) {
			e := benchEngine(b, fsync)
			defer testenv.ReportCPUPerOp(b)()
			bench(b, e)
		})
	}
}

func BenchmarkList(b *testing.B) {
	e := benchEngine(b, wal.SyncNever)
	for i := 0; i < 100; i++ {
		e.PostMessages(ctx, "p", "q", "c", storagetest.Batch(10))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		msgs, _, err := e.ListMessages(ctx, "p", "q", storage.ListMessagesOptions{Limit: 10, Echo: true, Marker: fmt.Sprint(i % 900)})
		if err != nil || len(msgs) != 10 {
			b.Fatalf("%d %v", len(msgs), err)
		}
	}
}

// TestIndexBytesPerMessage measures the in-memory index cost per live
// message once bodies are flushed (the memory bound of invariant 6).
func TestIndexBytesPerMessage(t *testing.T) {
	if testing.Short() {
		t.Skip("memory measurement")
	}
	e := openEngine(t, t.TempDir(), func(o *Options) {
		o.Fsync = wal.SyncNever
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	})
	defer e.Close()
	const n = 50000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	small := make([]storage.NewMessage, 100)
	for i := range small {
		small[i] = storage.NewMessage{Body: []byte("1"), TTL: 3600}
	}
	for i := 0; i < n/100; i++ {
		if _, err := e.PostMessages(ctx, "p", "q", "3a1d6a3e-0000-4000-8000-000000000001", small); err != nil {
			t.Fatal(err)
		}
	}
	p := e.partition("p", "q")
	done := make(chan struct{})
	p.flushes <- flushJob{sync: done}
	<-done
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := float64(after.HeapAlloc-before.HeapAlloc) / n
	t.Logf("index bytes per live message: %.0f", per)
	if per > 400 {
		t.Fatalf("index costs %.0f bytes per message, want a small fixed amount (< 400)", per)
	}
}

// BenchmarkClaimEmpty: a claim on a queue whose messages are all held, as
// long-poll consumers woken by a post make while one of them took it.
func BenchmarkClaimEmpty(b *testing.B) {
	e := benchEngine(b, wal.SyncAlways)
	if _, err := e.PostMessages(ctx, "p", "q", "c", storagetest.Batch(10)); err != nil {
		b.Fatal(err)
	}
	opts := storage.ClaimOptions{TTL: 600, Grace: 60, Limit: 10}
	if c, err := e.CreateClaim(ctx, "p", "q", opts); err != nil || len(c.Messages) != 10 {
		b.Fatalf("claim: %v, %d messages", err, len(c.Messages))
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if c, err := e.CreateClaim(ctx, "p", "q", opts); err != nil || len(c.Messages) != 0 {
				b.Errorf("claim: %v, %d messages", err, len(c.Messages))
				return
			}
		}
	})
}
