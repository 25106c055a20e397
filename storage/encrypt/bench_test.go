package encrypt_test

import (
	"context"
	"strings"
	"testing"

	"github.com/zaqar-go/zaqar/storage"
	"github.com/zaqar-go/zaqar/storage/encrypt"
)

// BenchmarkPost: what the layer costs a post of ten 1 KB messages to a
// plain queue (one metadata read) and to an encrypted one, against the
// engine without the layer.
func BenchmarkPost(b *testing.B) {
	body := []byte(`{"p":"` + strings.Repeat("x", 1000) + `"}`)
	batch := make([]storage.NewMessage, 10)
	for i := range batch {
		batch[i] = storage.NewMessage{Body: body, TTL: 3600}
	}
	e := openEngine(b, b.TempDir(), nil)
	defer e.Close()
	ctx := context.Background()
	layer := encrypt.Wrap(e, "AES256")
	if _, err := e.CreateQueue(ctx, "p", "enc", storage.Metadata{storage.MetaEnableEncryption: true}); err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		store storage.Store
		queue string
	}{{"engine", e, "plain"}, {"layer-plain", layer, "plain"}, {"layer-encrypted", layer, "enc"}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := c.store.PostMessages(ctx, "p", c.queue, "c", batch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPostRedis: the same over the Redis store, where a metadata
// read is a round trip: "redis" is the store alone, "layer-plain" the
// layer in front of it for a queue without encryption.
func BenchmarkPostRedis(b *testing.B) {
	st, _, _ := openRedisStore(b, "zqencbench")
	ctx := context.Background()
	batch := []storage.NewMessage{{Body: []byte(`{"p":"` + strings.Repeat("x", 1000) + `"}`), TTL: 3600}}
	for _, c := range []struct {
		name  string
		store storage.Store
	}{{"redis", st}, {"layer-plain", encrypt.Wrap(st, "AES256")}} {
		b.Run(c.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, err := c.store.PostMessages(ctx, "p", "plain", "c", batch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
