package redisstore

import (
	"context"
	"fmt"
	"testing"

	"github.com/zaqar-go/zaqar/internal/testenv"
	"github.com/zaqar-go/zaqar/notify"
	"github.com/zaqar-go/zaqar/storage"
	"github.com/zaqar-go/zaqar/storage/storagetest"
)

// The shared store benchmarks (storagetest), as the engine runs them.

func BenchmarkPost(b *testing.B)          { storagetest.BenchPost(b, open(b, nil)) }
func BenchmarkClaimDelete(b *testing.B)   { storagetest.BenchClaimDelete(b, open(b, nil)) }
func BenchmarkClaimParallel(b *testing.B) { storagetest.BenchClaimParallel(b, open(b, nil)) }

// seeing is the store as the notifier sees it (its Close is the test's).
type seeing struct{ *Store }

func (seeing) Close() error { return nil }

// blind hides the store's SubscriptionPresence: the Redis store as it was
// before it told the notifier about subscriptions.
type blind struct{ storage.Store }

func (blind) Close() error { return nil }

// BenchmarkNotifiedPost posts one 1 KiB message at a time through the
// notifier to a queue without subscriptions: presence is the store as it
// is, blind hides its SubscriptionPresence, so every post copies its body
// and hands it to a worker that lists the (absent) subscriptions.
// Compare the two with benchstat (-count 10 interleaves them).
func BenchmarkNotifiedPost(b *testing.B) {
	for _, bc := range []struct {
		name string
		wrap func(*Store) storage.Store
	}{
		{"presence", func(s *Store) storage.Store { return seeing{s} }},
		{"blind", func(s *Store) storage.Store { return blind{s} }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s := open(b, nil)
			n, err := notify.Wrap(bc.wrap(s), notify.Options{Logger: quiet})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			msgs := []storage.NewMessage{{Body: make([]byte, 1024), TTL: 3600}}
			for i := range msgs[0].Body {
				msgs[0].Body[i] = 'x'
			}
			queue := fmt.Sprintf("q%d", b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := n.PostMessages(ctx, "bench", queue, "c", msgs); err != nil {
					b.Fatal(err)
				}
			}
			n.Close() // timed: waits for the deliveries under way
		})
	}
}

// BenchmarkPostReplicated posts 10 x 1 KiB per op through Sentinel (a
// master and one replica) with wait_replicas 0 and 1: the cost of
// acknowledging only what the replica confirmed. -count interleaves them.
func BenchmarkPostReplicated(b *testing.B) {
	sn := testenv.StartRedisSentinel(b)
	for _, wait := range []int{0, 1} {
		b.Run(fmt.Sprintf("wait_replicas=%d", wait), func(b *testing.B) {
			storagetest.BenchPost(b, openOn(b, sn.URI(), Options{WaitReplicas: wait}))
		})
	}
}
