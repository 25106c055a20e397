package main

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"github.com/zaqar-go/zaqar/config"
	"github.com/zaqar-go/zaqar/httpapi"
	"github.com/zaqar-go/zaqar/storage"
	"github.com/zaqar-go/zaqar/wsapi"
)

// transports reads [drivers] transport: which of HTTP and WebSocket this
// process serves.
func transports(names []string) (http, ws bool, err error) {
	for _, n := range names {
		switch strings.ToLower(strings.TrimSpace(n)) {
		case config.TransportHTTP:
			http = true
		case config.TransportWebSocket:
			ws = true
		default:
			return false, false, fmt.Errorf("%w: [drivers] transport: unknown transport %q (wsgi, websocket)", errConfig, n)
		}
	}
	if !http && !ws {
		return false, false, fmt.Errorf("%w: [drivers] transport names no transport", errConfig)
	}
	return http, ws, nil
}

// socketRelay hands the notifier's pushes to the WebSocket server, which
// is built after the notifier it serves through.
type socketRelay struct{ s atomic.Pointer[wsapi.Server] }

func (r *socketRelay) Push(subscriber string, payload []byte) bool {
	if s := r.s.Load(); s != nil {
		return s.Push(subscriber, payload)
	}
	return false
}

// startWebSocket listens on [drivers:transport:websocket] and serves the
// WebSocket transport over store with the API's options.
func startWebSocket(s config.Settings, api httpapi.Options, store storage.Store, relay *socketRelay,
	logger *slog.Logger, plain fasthttp.RequestHandler) (*wsapi.Server, net.Listener, error) {
	addr := net.JoinHostPort(s.WebSocket.Bind, strconv.FormatInt(s.WebSocket.Port, 10))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	o := s.WebSocket.Options
	o.API, o.Plain = api, plain
	// The subscriber URI of socket subscriptions names this server.
	o.SubscriberPrefix = wsapi.SubscriberScheme + ln.Addr().String() + "/"
	srv, err := wsapi.New(store, o)
	if err != nil {
		ln.Close()
		return nil, nil, fmt.Errorf("%w: %v", errConfig, err)
	}
	relay.s.Store(srv)
	logger.Info("zaqar-server websocket listening", "addr", ln.Addr().String())
	return srv, ln, nil
}

// waitForSignal runs a WebSocket-only server until a signal or a failure,
// then closes the store.
func waitForSignal(served chan error, logger *slog.Logger, store storage.Store, closeWS func()) error {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	var serveErr error
	select {
	case s := <-sigs:
		logger.Info("shutting down", "signal", s.String())
	case serveErr = <-served:
	}
	closeWS()
	if err := store.Close(); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	logger.Info("stopped")
	return serveErr
}

// metricsOnly serves GET /metrics (and 404 elsewhere) on the WebSocket
// port when no HTTP transport runs.
func metricsOnly(reg *prometheus.Registry) fasthttp.RequestHandler {
	metrics := fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) == "/metrics" {
			metrics(ctx)
			return
		}
		ctx.Error("Not found: this port serves WebSocket upgrades and /metrics", fasthttp.StatusNotFound)
	}
}
