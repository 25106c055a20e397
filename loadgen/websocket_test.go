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
	"github.com/zaqar-go/zaqar/notify"
	"github.com/zaqar-go/zaqar/wal"
	"github.com/zaqar-go/zaqar/wsapi"
)

type relay struct{ s *wsapi.Server }

func (r *relay) Push(sub string, p []byte) bool { return r.s.Push(sub, p) }

// startBoth runs HTTP and WebSocket over one engine behind the notifier,
// as zaqar-server does; it returns both URLs.
func startBoth(t *testing.T) (string, string) {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	eo := engine.DefaultOptions(t.TempDir())
	eo.Fsync, eo.Logger = wal.SyncNever, logger
	store, err := engine.Open(eo)
	if err != nil {
		t.Fatal(err)
	}
	rl := &relay{}
	n, err := notify.Wrap(store, notify.Options{Logger: logger, Sockets: rl})
	if err != nil {
		t.Fatal(err)
	}
	o := wsapi.DefaultOptions()
	o.API.Logger = logger
	ws, err := wsapi.New(n, o)
	if err != nil {
		t.Fatal(err)
	}
	rl.s = ws
	api, err := httpapi.New(n, o.API)
	if err != nil {
		t.Fatal(err)
	}
	hln, _ := net.Listen("tcp", "127.0.0.1:0")
	wln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: api.Handler()}
	go srv.Serve(hln)
	go ws.Serve(wln)
	t.Cleanup(func() { wln.Close(); ws.Close(); srv.Shutdown(); n.Close() })
	return "http://" + hln.Addr().String(), "ws://" + wln.Addr().String() + "/"
}

// TestWebSocketRun: producers and consumers over sockets deliver every
// message exactly once, and subscribed sockets receive each one pushed.
func TestWebSocketRun(t *testing.T) {
	cfg := loadgen.DefaultConfig()
	cfg.ServerURL, cfg.WebSocketURL = startBoth(t)
	cfg.Transport = loadgen.TransportWebSocket
	cfg.Duration, cfg.MaxMessages = 0, 2000
	cfg.Queues = 2
	cfg.Producers, cfg.Consumers = loadgen.Role{Workers: 2}, loadgen.Role{Workers: 2}
	cfg.MessageSize, cfg.BatchSize = 100, 5
	cfg.Subscribers = 3
	cfg.DrainTimeout = 30 * time.Second
	res, err := loadgen.Run(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	l := res.Ledger
	if l.Produced < 2000 || l.Duplicates != 0 || l.Lost != 0 || !l.Drained || l.Remaining != 0 {
		t.Fatalf("ledger %+v", l)
	}
	for _, op := range []string{loadgen.OpPost, loadgen.OpClaim, loadgen.OpDelete} {
		if o := res.Ops[op]; o == nil || o.Requests == 0 || len(o.Errors) != 0 {
			t.Fatalf("%s: %+v", op, o)
		}
	}
	// Every message reaches the 3 sockets of its queue; the run ends when
	// producing does, so the last pushes may still be under way.
	push := res.Ops[loadgen.OpPush]
	if push == nil || push.Messages < int64(l.Produced)*3*9/10 {
		t.Fatalf("pushed %+v of %d messages to 3 sockets each", push, l.Produced)
	}
	if res.EndToEnd.TotalCount() == 0 {
		t.Fatal("no post-to-push latency recorded")
	}
}
