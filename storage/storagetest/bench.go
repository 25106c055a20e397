package storagetest

import (
	"context"
	"strings"
	"testing"

	"github.com/zaqar-go/zaqar/storage"
)

// The store benchmarks every driver runs, so stores compare on the same
// workloads without HTTP in between.

// KiB is a 1 KiB JSON message body.
var KiB = []byte(`{"event":"bench","payload":"` + strings.Repeat("x", 990) + `"}`)

// Batch is n messages of KiB.
func Batch(n int) []storage.NewMessage {
	m := make([]storage.NewMessage, n)
	for i := range m {
		m[i] = storage.NewMessage{Body: KiB, TTL: 3600}
	}
	return m
}

// BenchPost posts 10 x 1 KiB per op from 8 goroutines per CPU to one queue
// (the wrk post10x1k workload without HTTP).
func BenchPost(b *testing.B, s storage.Store) {
	ctx := context.Background()
	msgs := Batch(10)
	b.SetBytes(int64(10 * len(KiB)))
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

// BenchClaimDelete claims 10 and deletes each with its claim id.
func BenchClaimDelete(b *testing.B, s storage.Store) {
	ctx := context.Background()
	for i := 0; i < b.N+1; i++ {
		if _, err := s.PostMessages(ctx, "p", "q", "c", Batch(10)); err != nil {
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

// BenchClaimParallel: consumers on 4 goroutines per CPU claim 10 at a
// time from one queue and bulk-delete with the claim id: the contended
// case atomic claiming exists for.
func BenchClaimParallel(b *testing.B, s storage.Store) {
	ctx := context.Background()
	for i := 0; i < b.N/10+9; i++ {
		if _, err := s.PostMessages(ctx, "p", "q", "c", Batch(100)); err != nil {
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
