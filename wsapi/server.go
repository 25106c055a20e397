package wsapi

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/zaqar-go/zaqar/httpapi"
	"github.com/zaqar-go/zaqar/policy"
	"github.com/zaqar-go/zaqar/storage"
)

// Defaults of Options' limits ([drivers:transport:websocket]).
const (
	DefaultMaxConnections = 10000
	DefaultIdleTimeout    = 60 * time.Second
	DefaultOutboundBytes  = 1 << 20
	// EnvelopeSlack is what a frame may carry besides its messages: a
	// frame may be max_messages_post_size plus this.
	EnvelopeSlack = 16 << 10
)

// Close codes sent by the server besides the protocol's own.
const (
	// CloseAuthExpired: the token the connection authenticated with
	// expired (Zaqar's code).
	CloseAuthExpired = 4003
	// CloseSlowReader: the client reads too slowly; its outbound buffer
	// reached its bound.
	CloseSlowReader = websocket.ClosePolicyViolation
)

// Options configure the transport. API carries what it shares with the
// HTTP transport: limits, authentication, policy, signed URL key, logger
// and metrics registry.
type Options struct {
	API httpapi.Options
	// MaxConnections bounds open connections (max_connections); further
	// upgrades are answered 503.
	MaxConnections int
	// IdleTimeout closes a connection that sent nothing, not even a pong,
	// for that long (idle_timeout); pings go out at a third of it.
	IdleTimeout time.Duration
	// OutboundBytes bounds the answers and notifications queued for one
	// connection (max_outbound_bytes); beyond it the connection is closed
	// with CloseSlowReader.
	OutboundBytes int
	// SubscriberPrefix starts the subscriber URI of socket subscriptions,
	// e.g. "websocket://127.0.0.1:9000/"; the connection id follows.
	SubscriberPrefix string
	// Now is the clock token expiry is measured with (time.Now when nil).
	Now func() time.Time
	// Plain is served for requests that are not upgrades (e.g. GET
	// /metrics when no HTTP transport runs); nil answers them 400.
	Plain fasthttp.RequestHandler
}

// DefaultOptions are Zaqar's API defaults and this package's limits.
func DefaultOptions() Options {
	return Options{API: httpapi.DefaultOptions(), MaxConnections: DefaultMaxConnections,
		IdleTimeout: DefaultIdleTimeout, OutboundBytes: DefaultOutboundBytes, SubscriberPrefix: SubscriberScheme + "local/"}
}

// SubscriberScheme is the scheme of socket subscribers' URIs: the
// notifier hands their notifications to Server.Push.
const SubscriberScheme = "websocket://"

// Server serves WebSocket connections over one store.
type Server struct {
	store    storage.Store
	opts     Options
	policy   *policy.Enforcer
	log      *slog.Logger
	metrics  *metrics
	upgrader websocket.FastHTTPUpgrader
	actions  map[string]*action

	open    atomic.Int64
	readers atomic.Int64   // reader goroutines running (parked connections have none)
	active  sync.WaitGroup // serveConn calls running
	mu      sync.RWMutex
	conns   map[string]*conn // by connection id, for Push and Close

	closed atomic.Bool

	// Started by Serve, stopped by Close.
	startOnce sync.Once
	poller    *poller       // nil: connections keep their reader goroutine
	stopSweep chan struct{} // ends the sweeper
}

// New builds the server; Serve serves it.
func New(store storage.Store, o Options) (*Server, error) {
	if err := o.API.Validate(); err != nil {
		return nil, fmt.Errorf("wsapi: %w", err)
	}
	if o.MaxConnections < 1 || o.IdleTimeout < time.Second || o.OutboundBytes < 1024 {
		return nil, errors.New("wsapi: max_connections must be at least 1, idle_timeout at least 1s, max_outbound_bytes at least 1024")
	}
	if o.API.Logger == nil {
		o.API.Logger = slog.Default()
	}
	if o.API.Registry == nil {
		o.API.Registry = prometheus.NewRegistry()
	}
	if o.API.Policy == nil {
		o.API.Policy = policy.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if !strings.HasPrefix(o.SubscriberPrefix, SubscriberScheme) {
		return nil, fmt.Errorf("wsapi: subscriber prefix %q must start with %s", o.SubscriberPrefix, SubscriberScheme)
	}
	s := &Server{store: store, opts: o, policy: o.API.Policy, log: o.API.Logger, conns: map[string]*conn{}}
	var err error
	if s.actions, err = s.actionTable(); err != nil {
		return nil, err
	}
	if s.metrics, err = newMetrics(o.API.Registry, s); err != nil {
		return nil, err
	}
	s.upgrader = websocket.FastHTTPUpgrader{
		// The upgrader's connection is only a handshake: frames are read
		// and written on the socket it hands over (conn.go), so its
		// buffers stay as small as it allows.
		ReadBufferSize: 128, WriteBufferSize: 128, WriteBufferPool: &sync.Pool{},
		// Browsers from any origin may connect, as to Zaqar's server:
		// every frame is authenticated on its own (token or headers).
		CheckOrigin: func(*fasthttp.RequestCtx) bool { return true },
	}
	return s, nil
}

// handler upgrades requests to WebSocket connections, on any path. It
// needs the fasthttp.Server settings of Serve (hijacked connections kept).
func (s *Server) handler() fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		if s.closed.Load() {
			ctx.Error("server is shutting down", fasthttp.StatusServiceUnavailable)
			return
		}
		if s.opts.Plain != nil && !websocket.FastHTTPIsWebSocketUpgrade(ctx) {
			s.opts.Plain(ctx)
			return
		}
		if n := s.open.Add(1); n > int64(s.opts.MaxConnections) {
			s.open.Add(-1)
			s.metrics.rejected.Inc()
			ctx.Error("too many connections", fasthttp.StatusServiceUnavailable)
			return
		}
		err := s.upgrader.Upgrade(ctx, func(ws *websocket.Conn) {
			// The server keeps hijacked connections (Serve), so the
			// request's context and buffers go back to fasthttp now and
			// the connection lives on (conn.go).
			s.active.Add(1)
			s.start(ws.NetConn())
		})
		if err != nil {
			// The upgrader has answered the request (400 and the reason).
			s.open.Add(-1)
		}
	}
}

// Serve accepts connections on ln until Close.
func (s *Server) Serve(ln net.Listener) error {
	s.startOnce.Do(func() {
		p, err := newPoller()
		if err != nil {
			s.log.Warn("websocket connections not parked when idle: each keeps a goroutine", "err", err)
		} else {
			s.poller = p
		}
		s.stopSweep = make(chan struct{})
		go s.sweep(s.stopSweep)
	})
	srv := &fasthttp.Server{Handler: s.handler(), Name: "zaqar-server", ReadTimeout: 30 * time.Second,
		Logger: quietLogger{s.log},
		// An upgraded connection keeps neither the request's context nor
		// its read buffer: the handler returns at once and the
		// connection, kept open, is closed by the transport.
		KeepHijackedConns: true, ReduceMemoryUsage: true}
	return srv.Serve(ln)
}

type quietLogger struct{ l *slog.Logger }

func (q quietLogger) Printf(format string, args ...any) { q.l.Debug(fmt.Sprintf(format, args...)) }

// Close closes every connection (1001, going away) and refuses new ones.
func (s *Server) Close() {
	s.closed.Store(true)
	s.mu.RLock()
	conns := make([]*conn, 0, len(s.conns))
	for _, c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.RUnlock()
	for _, c := range conns {
		c.close(websocket.CloseGoingAway, "Server shutting down.")
	}
	// Let connections delete their socket subscriptions while the store
	// is still open.
	finished := make(chan struct{})
	go func() {
		s.active.Wait()
		close(finished)
	}()
	select {
	case <-finished:
	case <-time.After(closeGrace):
		s.log.Warn("websocket connections still closing at shutdown")
	}
	s.startOnce.Do(func() {}) // nothing starts after this
	if s.stopSweep != nil {
		close(s.stopSweep)
	}
	if s.poller != nil {
		s.poller.close()
	}
}

// pingInterval: pings go out at a third of the idle timeout.
func (s *Server) pingInterval() time.Duration { return s.opts.IdleTimeout / 3 }

// sweep pings connections and closes those idle for IdleTimeout: one
// ticker for all connections instead of a timer (and a read deadline)
// each.
func (s *Server) sweep(stop chan struct{}) {
	tick := time.NewTicker(min(time.Second, s.opts.IdleTimeout/12))
	defer tick.Stop()
	var expired []*conn
	for {
		select {
		case <-stop:
			return
		case now := <-tick.C:
			expired = s.sweepOnce(now.UnixNano(), expired[:0])
			for i, c := range expired {
				c.close(websocket.CloseNormalClosure, "")
				expired[i] = nil
			}
		}
	}
}

// sweepOnce pings the connections due and returns those expired.
func (s *Server) sweepOnce(now int64, expired []*conn) []*conn {
	idle, interval := int64(s.opts.IdleTimeout), int64(s.pingInterval())
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, c := range s.conns {
		switch {
		case now-c.lastRead.Load() > idle:
			expired = append(expired, c)
		case c.nextPing.Load() <= now:
			if c.ping() {
				c.nextPing.Store(now + interval)
			}
		}
	}
	return expired
}

// closeGrace bounds how long Close waits for connections to finish.
const closeGrace = 5 * time.Second

// Open is the number of open connections.
func (s *Server) Open() int64 { return s.open.Load() }

// Push delivers a notification to the socket a subscriber URI names, if it
// is a connection of this server; it reports whether it was. Notification
// is at most once: a connection gone, or one whose outbound buffer is
// full (it is then closed), loses it.
func (s *Server) Push(subscriber string, payload []byte) bool {
	id := subscriber[strings.LastIndexByte(subscriber, '/')+1:]
	s.mu.RLock()
	c := s.conns[id]
	s.mu.RUnlock()
	if c == nil {
		return false
	}
	c.notify(payload)
	return true
}

func (s *Server) register(c *conn) {
	s.mu.Lock()
	s.conns[c.id] = c
	s.mu.Unlock()
}

func (s *Server) unregister(c *conn) {
	s.mu.Lock()
	delete(s.conns, c.id)
	s.mu.Unlock()
}

func newConnID() string { return uuid.NewString() }
