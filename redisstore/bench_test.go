package redisstore

import (
	"context"
	"strings"
	"testing"

	"github.com/zaqar-go/zaqar/storage"
)

// Same shapes as the engine's benchmarks (engine/engine_timing_test.go),
// so the two stores compare without HTTP in between.
var kib = []byte(`{"event":"bench","payload":"` + strings.Repeat("x", 990) + `"}`)

func batch(n int) []storage.NewMessage {
	m := make([]storage.NewMessage, n)
	for i := range m {
		m[i] = storage.NewMessage{Body: kib, TTL: 3600}
	}
	return m
}

// BenchmarkPost posts 10 x 1 KiB per op from parallel goroutines to one
// queue: one script per op.
func BenchmarkPost(b *testing.B) {
	s := open(b, nil)
	ctx := context.Background()
	msgs := batch(10)
	b.SetBytes(int64(10 * len(kib)))
	b.ReportAllocs()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.PostMessages(ctx, "p", "q", "c", msgs); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkClaimDelete claims 10 and deletes each with its claim id.
func BenchmarkClaimDelete(b *testing.B) {
	s := open(b, nil)
	ctx := context.Background()
	for i := 0; i < b.N+1; i++ {
		if _, err := s.PostMessages(ctx, "p", "q", "c", batch(10)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c, err := s.CreateClaim(ctx, "p", "q", storage.ClaimOptions{TTL: 60, Grace: 60, Limit: 10})
		if err != nil || len(c.Messages) != 10 {
			b.Fatalf("claim: %d %v", len(c.Messages), err)
		}
		for _, m := range c.Messages {
			if err := s.DeleteMessage(ctx, "p", "q", m.ID, c.ID); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkClaimParallel: 8 consumers claim 10 at a time from one queue,
// the contended case the atomic claim script exists for.
func BenchmarkClaimParallel(b *testing.B) {
	s := open(b, nil)
	ctx := context.Background()
	for i := 0; i < b.N/10+9; i++ {
		if _, err := s.PostMessages(ctx, "p", "q", "c", batch(100)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c, err := s.CreateClaim(ctx, "p", "q", storage.ClaimOptions{TTL: 60, Grace: 60, Limit: 10})
			if err != nil {
				b.Error(err)
				return
			}
			ids := make([]string, len(c.Messages))
			for i, m := range c.Messages {
				ids[i] = m.ID
			}
			if err := s.DeleteMessages(ctx, "p", "q", ids, []string{c.ID}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
