package loadgen_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/zaqar-go/zaqar/engine"
	"github.com/zaqar-go/zaqar/httpapi"
	"github.com/zaqar-go/zaqar/loadgen"
	"github.com/zaqar-go/zaqar/wal"
)

// startServer runs the real API over the embedded engine on 127.0.0.1.
func startServer(t *testing.T) string {
	t.Helper()
	eo := engine.DefaultOptions(t.TempDir())
	eo.Fsync = wal.SyncNever
	eo.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	store, err := engine.Open(eo)
	if err != nil {
		t.Fatal(err)
	}
	opts := httpapi.DefaultOptions()
	opts.Logger = eo.Logger
	api, err := httpapi.New(store, opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: api.Handler()}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown(); store.Close() })
	return "http://" + ln.Addr().String()
}

func TestBoundedRunDeliversExactlyOnce(t *testing.T) {
	cfg := loadgen.DefaultConfig()
	cfg.ServerURL = startServer(t)
	cfg.Duration = 0
	cfg.MaxMessages = 3000
	cfg.Queues, cfg.Projects = 2, 2
	cfg.Producers = loadgen.Role{Workers: 3}
	cfg.Consumers = loadgen.Role{Workers: 3, Conns: 2}
	cfg.Observers = loadgen.Role{Workers: 1}
	cfg.MessageSize, cfg.MessageSizeMax, cfg.BatchSize = 100, 400, 5
	cfg.DrainTimeout = 30 * time.Second
	res, err := loadgen.Run(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	l := res.Ledger
	if l.Produced < 3000 || l.Duplicates != 0 || l.Lost != 0 || !l.Drained || l.Remaining != 0 {
		t.Fatalf("ledger %+v", l)
	}
	if l.Produced != l.Consumed+l.Remaining {
		t.Fatalf("produced %d != consumed %d + remaining %d", l.Produced, l.Consumed, l.Remaining)
	}
	for _, op := range []string{loadgen.OpPost, loadgen.OpClaim, loadgen.OpDelete, loadgen.OpList} {
		o := res.Ops[op]
		if o == nil || o.Requests == 0 {
			t.Fatalf("no %s requests recorded", op)
		}
		h := o.Hist
		p50, p90, p99, mx := h.ValueAtQuantile(50), h.ValueAtQuantile(90), h.ValueAtQuantile(99), h.Max()
		if !(p50 > 0 && p50 <= p90 && p90 <= p99 && p99 <= mx) {
			t.Fatalf("%s percentiles out of order: %d %d %d %d", op, p50, p90, p99, mx)
		}
		if len(o.Errors) != 0 {
			t.Fatalf("%s errors: %v", op, o.Errors)
		}
	}
	if res.Ops[loadgen.OpPost].Messages < 3000 || res.EndToEnd.TotalCount() == 0 {
		t.Fatalf("posted %d messages, %d deliveries timed", res.Ops[loadgen.OpPost].Messages, res.EndToEnd.TotalCount())
	}
}

// TestOpenLoopRate: with a target rate the producers send on schedule.
func TestOpenLoopRate(t *testing.T) {
	cfg := loadgen.DefaultConfig()
	cfg.ServerURL = startServer(t)
	cfg.Duration = 2 * time.Second
	cfg.Producers = loadgen.Role{Workers: 2}
	cfg.Consumers = loadgen.Role{Workers: 2}
	cfg.Rate = 200
	res, err := loadgen.Run(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := float64(res.Ops[loadgen.OpPost].Requests) / cfg.Duration.Seconds()
	if got < 150 || got > 250 {
		t.Fatalf("open loop at 200 req/s sent %.0f req/s", got)
	}
	if res.Ledger.Lost != 0 || res.Ledger.Duplicates != 0 {
		t.Fatalf("ledger %+v", res.Ledger)
	}
}

// TestLongPollRun: with Wait, consumers and observers long-poll: every
// message is still delivered once, and idle consumers no longer send a
// claim per millisecond (here about one claim per post).
func TestLongPollRun(t *testing.T) {
	cfg := loadgen.DefaultConfig()
	cfg.ServerURL = startServer(t)
	cfg.Duration = 2 * time.Second
	cfg.Producers = loadgen.Role{Workers: 1}
	cfg.Consumers = loadgen.Role{Workers: 2}
	cfg.Observers = loadgen.Role{Workers: 1}
	cfg.Rate, cfg.BatchSize, cfg.Wait = 20, 1, 2
	res, err := loadgen.Run(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if l := res.Ledger; l.Lost != 0 || l.Duplicates != 0 || !l.Drained {
		t.Fatalf("ledger %+v", l)
	}
	posts, claims := res.Ops[loadgen.OpPost].Requests, res.Ops[loadgen.OpClaim].Requests
	t.Logf("%d posts, %d claims, %d listings", posts, claims, res.Ops[loadgen.OpList].Requests)
	if claims > 3*posts+10 {
		t.Fatalf("%d claims for %d posts: consumers did not wait", claims, posts)
	}
	for _, op := range []string{loadgen.OpPost, loadgen.OpClaim, loadgen.OpList} {
		if o := res.Ops[op]; o == nil || len(o.Errors) != 0 {
			t.Fatalf("%s: %+v", op, o)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, mut := range []func(*loadgen.Config){
		func(c *loadgen.Config) { c.ServerURL = "ftp://x" },
		func(c *loadgen.Config) { c.Duration, c.MaxMessages = 0, 0 },
		func(c *loadgen.Config) { c.BatchSize = 0 },
		func(c *loadgen.Config) {
			c.Producers, c.Consumers, c.Observers = loadgen.Role{}, loadgen.Role{}, loadgen.Role{}
		},
		func(c *loadgen.Config) { c.MessageSize, c.MessageSizeMax = 10, 5 },
		func(c *loadgen.Config) { c.Wait = -1 },
	} {
		c := loadgen.DefaultConfig()
		mut(&c)
		if c.Validate() == nil {
			t.Fatalf("accepted %+v", c)
		}
	}
}
