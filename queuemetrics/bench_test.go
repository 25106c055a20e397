package queuemetrics

import (
	"fmt"
	"testing"
)

// BenchmarkCounting is what the decorator adds to a successful post: find
// the queue's counters (read lock, map lookup) and add to them, from 8
// goroutines over 64 queues.
func BenchmarkCounting(b *testing.B) {
	m := &Store{queues: map[key]*counts{}}
	names := make([]string, 64)
	for i := range names {
		names[i] = fmt.Sprintf("q%d", i)
	}
	b.ReportAllocs()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			m.counts("p", names[i%len(names)], true).posted.Add(10)
			m.posted.Add(10)
			i++
		}
	})
}
