package httpapi

import (
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/zaqar-go/zaqar/engine"
	"github.com/zaqar-go/zaqar/internal/testenv"
	"github.com/zaqar-go/zaqar/keystone"
	"github.com/zaqar-go/zaqar/wal"
)

func benchAPI(b *testing.B, fsync wal.SyncPolicy, mut ...func(*Options)) fasthttp.RequestHandler {
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
	for _, m := range mut {
		m(&opts)
	}
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

// serve runs one request through the handler without a network; headers
// are extra name, value pairs.
func serve(h fasthttp.RequestHandler, ctx *fasthttp.RequestCtx, method, uri string, body []byte, headers ...string) int {
	ctx.Request.Reset()
	ctx.Response.Reset()
	ctx.Request.Header.SetMethod(method)
	ctx.Request.SetRequestURI(uri)
	ctx.Request.Header.Set("Client-ID", testClient)
	ctx.Request.Header.Set("X-Project-ID", "bench")
	ctx.Request.Header.SetContentType("application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		ctx.Request.Header.Set(headers[i], headers[i+1])
	}
	ctx.Request.SetBody(body)
	h(ctx)
	return ctx.Response.StatusCode()
}

// postParallel posts post10x1k through h from 8 goroutines a CPU;
// headers are extra name, value pairs.
func postParallel(b *testing.B, h fasthttp.RequestHandler, headers ...string) {
	b.SetBytes(int64(len(post10x1k)))
	b.ReportAllocs()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		var ctx fasthttp.RequestCtx
		for pb.Next() {
			if st := serve(h, &ctx, "POST", "/v2/queues/q/messages", post10x1k, headers...); st != 201 {
				b.Errorf("status %d", st)
				return
			}
		}
	})
}

func BenchmarkHTTPPost10x1KiB(b *testing.B) {
	for _, fsync := range []wal.SyncPolicy{wal.SyncAlways, wal.SyncNever} {
		b.Run("fsync="+fsync.String(), func(b *testing.B) {
			h := benchAPI(b, fsync)
			postParallel(b, h)
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
	defer testenv.ReportCPUPerOp(b)()
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

// BenchmarkHTTPPostAuth compares a post with auth_strategy = keystone (the
// token validated once by a real Keystone, then served from the cache)
// with the same post in noauth mode. Keystone is started once per test
// binary; later runs (-count) need only the cache.
func BenchmarkHTTPPostAuth(b *testing.B) {
	auth, tok := benchKeystone(b)
	for _, mode := range []string{"noauth", "keystone"} {
		b.Run("auth="+mode, func(b *testing.B) {
			h := benchAPI(b, wal.SyncNever, func(o *Options) {
				if mode == "keystone" {
					o.Auth = auth
				}
			})
			postParallel(b, h, "X-Auth-Token", tok)
		})
	}
}

// BenchmarkAuthenticate isolates what the two modes add before a
// request's own work: header parsing and policy (noauth), or a cached
// token lookup and policy (keystone).
func BenchmarkAuthenticate(b *testing.B) {
	auth, tok := benchKeystone(b)
	for _, mode := range []string{"noauth", "keystone"} {
		b.Run("auth="+mode, func(b *testing.B) {
			opts := DefaultOptions()
			if mode == "keystone" {
				opts.Auth = auth
			}
			api, err := New(nil, opts)
			if err != nil {
				b.Fatal(err)
			}
			rule, _ := api.policy.Rule("messages:create")
			var ctx fasthttp.RequestCtx
			ctx.Request.Header.Set("X-Auth-Token", tok)
			ctx.Request.Header.Set("X-Project-ID", "bench")
			ctx.Request.Header.Set("Client-ID", testClient)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				rq := request{}
				if !api.authenticate(&ctx, &rq) || !api.authorize(&ctx, &rq, rule) {
					b.Fatal("refused")
				}
			}
		})
	}
}

var benchAuth struct {
	once  sync.Once
	v     *keystone.Validator
	token string
}

func benchKeystone(b *testing.B) (*keystone.Validator, string) {
	benchAuth.once.Do(func() {
		ks := testenv.StartKeystone(b)
		ks.User("zaqar", "bench-service", "service", "service")
		ks.User("bench", "bench-user", "bench", "member")
		v, err := keystone.New(keystone.Options{AuthURL: ks.URL(), Username: "zaqar", Password: "bench-service",
			ProjectName: "service", TokenCacheTime: time.Hour, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			b.Fatal(err)
		}
		tok := ks.Token("bench", "bench-user", "bench")
		if _, err := v.Validate([]byte(tok)); err != nil {
			b.Fatal(err)
		}
		benchAuth.v, benchAuth.token = v, tok
	})
	if benchAuth.v == nil {
		b.Skip("Keystone set-up failed in an earlier run")
	}
	return benchAuth.v, benchAuth.token
}
