package httpapi

import (
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/zaqar-go/zaqar/engine"
	"github.com/zaqar-go/zaqar/wal"
)

func benchAPI(b *testing.B, fsync wal.SyncPolicy) fasthttp.RequestHandler {
	eo := engine.DefaultOptions(b.TempDir())
	eo.Fsync = fsync
	eo.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	store, err := engine.Open(eo)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	opts := DefaultOptions()
	opts.Logger = eo.Logger
	api, err := New(store, opts)
	if err != nil {
		b.Fatal(err)
	}
	return api.Handler()
}

var post10x1k = func() []byte {
	parts := make([]string, 10)
	for i := range parts {
		parts[i] = `{"ttl":3600,"body":{"event":"bench","payload":"` + strings.Repeat("x", 990) + `"}}`
	}
	return []byte(`{"messages":[` + strings.Join(parts, ",") + `]}`)
}()

// serve runs one request through the handler without a network.
func serve(h fasthttp.RequestHandler, ctx *fasthttp.RequestCtx, method, uri string, body []byte) int {
	ctx.Request.Reset()
	ctx.Response.Reset()
	ctx.Request.Header.SetMethod(method)
	ctx.Request.SetRequestURI(uri)
	ctx.Request.Header.Set("Client-ID", testClient)
	ctx.Request.Header.Set("X-Project-ID", "bench")
	ctx.Request.Header.SetContentType("application/json")
	ctx.Request.SetBody(body)
	h(ctx)
	return ctx.Response.StatusCode()
}

func BenchmarkHTTPPost10x1KiB(b *testing.B) {
	for _, fsync := range []wal.SyncPolicy{wal.SyncAlways, wal.SyncNever} {
		b.Run("fsync="+fsync.String(), func(b *testing.B) {
			h := benchAPI(b, fsync)
			b.SetBytes(int64(len(post10x1k)))
			b.ReportAllocs()
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				var ctx fasthttp.RequestCtx
				for pb.Next() {
					if st := serve(h, &ctx, "POST", "/v2/queues/q/messages", post10x1k); st != 201 {
						b.Errorf("status %d", st)
						return
					}
				}
			})
		})
	}
}

func BenchmarkHTTPList(b *testing.B) {
	h := benchAPI(b, wal.SyncNever)
	var ctx fasthttp.RequestCtx
	for i := 0; i < 50; i++ {
		serve(h, &ctx, "POST", "/v2/queues/q/messages", post10x1k)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if st := serve(h, &ctx, "GET", "/v2/queues/q/messages?echo=true&limit=10", nil); st != 200 {
			b.Fatalf("status %d", st)
		}
	}
}

// BenchmarkHTTPClaimDelete claims 10 messages and deletes them by ids.
func BenchmarkHTTPClaimDelete(b *testing.B) {
	h := benchAPI(b, wal.SyncNever)
	var ctx fasthttp.RequestCtx
	for i := 0; i < b.N+1; i++ {
		serve(h, &ctx, "POST", "/v2/queues/q/messages", post10x1k)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if st := serve(h, &ctx, "POST", "/v2/queues/q/claims?limit=10", []byte(`{"ttl":60,"grace":60}`)); st != 201 {
			b.Fatalf("claim status %d", st)
		}

		body := string(ctx.Response.Body())
		var ids []string
		for _, part := range strings.Split(body, `"id":"`)[1:] {
			ids = append(ids, part[:32])
		}
		if st := serve(h, &ctx, "DELETE", "/v2/queues/q/messages?ids="+strings.Join(ids, ","), nil); st != 204 {
			b.Fatalf("delete status %d", st)
		}
	}
}
