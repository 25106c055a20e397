package wsapi

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"
)

// frame is one outgoing message.
type frame struct {
	data   []byte
	binary bool
}

// conn is one client connection. The reader goroutine (serveConn) owns
// the request state (authentication, the request being served); the
// writer goroutine owns the socket's write side; out and queued are
// shared between them and Push, under the bound OutboundBytes.
type conn struct {
	s  *Server
	ws *websocket.Conn
	id string

	out    chan frame
	queued atomic.Int64 // bytes in out
	done   chan struct{}
	once   sync.Once

	// notifyBinary: notifications are encoded as the last successful
	// socket subscription request was (Zaqar's rule).
	notifyBinary atomic.Bool

	// Reader-owned.
	auth *session

	mu         sync.Mutex
	authExpiry *time.Timer // closes the connection when the token expires
	subs       []socketSub // subscriptions to delete when the socket closes
}

type socketSub struct{ project, queue, id string }

// outCapacity is the number of frames a connection may have queued; the
// byte bound OutboundBytes is the one that matters.
const outCapacity = 1024

func (s *Server) serveConn(ws *websocket.Conn) {
	c := &conn{s: s, ws: ws, id: newConnID(), out: make(chan frame, outCapacity), done: make(chan struct{})}
	s.register(c)
	defer func() {
		s.unregister(c)
		c.cleanup()
	}()
	maxFrame := int64(s.opts.API.MaxMessagesPostSize + EnvelopeSlack)
	ws.SetReadLimit(maxFrame)
	idle := s.opts.IdleTimeout
	_ = ws.SetReadDeadline(time.Now().Add(idle))
	ws.SetPongHandler(func(string) error { return ws.SetReadDeadline(time.Now().Add(idle)) })
	ws.SetPingHandler(func(data string) error {
		_ = ws.SetReadDeadline(time.Now().Add(idle))
		// WriteControl is safe beside the writer goroutine.
		err := ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
		if errors.Is(err, websocket.ErrCloseSent) {
			return nil
		}
		return err
	})
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.writeLoop(idle / 3)
	}()
	defer func() {
		// The reader is done: end the writer (sending a close frame, if
		// none has been sent), then wait for it.
		c.close(websocket.CloseNormalClosure, "")
		<-writerDone
	}()
	for {
		kind, data, err := ws.ReadMessage()
		if err != nil {
			if errors.Is(err, websocket.ErrReadLimit) {
				c.close(websocket.CloseMessageTooBig, "Frame larger than "+strconv.FormatInt(maxFrame, 10)+" bytes.")
			}
			return
		}
		_ = ws.SetReadDeadline(time.Now().Add(idle))
		if kind != websocket.TextMessage && kind != websocket.BinaryMessage {
			continue
		}
		c.handle(data, kind == websocket.BinaryMessage)
		select {
		case <-c.done:
			return
		default:
		}
	}
}

// writeLoop sends queued frames and keep-alive pings until the
// connection closes.
func (c *conn) writeLoop(pingEvery time.Duration) {
	ping := time.NewTicker(pingEvery)
	defer ping.Stop()
	for {
		select {
		case <-c.done:
			return
		case f := <-c.out:
			c.queued.Add(-int64(len(f.data)))
			kind := websocket.TextMessage
			if f.binary {
				kind = websocket.BinaryMessage
			}
			_ = c.ws.SetWriteDeadline(time.Now().Add(writeTimeout))
			if err := c.ws.WriteMessage(kind, f.data); err != nil {
				c.close(websocket.CloseAbnormalClosure, "")
				return
			}
		case <-ping.C:
			if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeTimeout)); err != nil {
				c.close(websocket.CloseAbnormalClosure, "")
				return
			}
		}
	}
}

// writeTimeout bounds writing one frame to a client.
const writeTimeout = 10 * time.Second

// send queues a frame; a connection whose queue is over its bound is
// closed instead (its reader is too slow).
func (c *conn) send(f frame) bool {
	if c.queued.Add(int64(len(f.data))) > int64(c.s.opts.OutboundBytes) {
		c.queued.Add(-int64(len(f.data)))
		c.close(CloseSlowReader, "Outbound buffer full: the client reads too slowly.")
		return false
	}
	select {
	case c.out <- f:
		return true
	case <-c.done:
		return false
	default:
		c.close(CloseSlowReader, "Outbound buffer full: the client reads too slowly.")
		return false
	}
}

// notify pushes a notification (JSON from the notifier).
func (c *conn) notify(payload []byte) {
	binary := c.notifyBinary.Load()
	data := payload
	if binary {
		v, err := decodeFrame(payload, false)
		if err == nil {
			data, err = encodeFrame(v, true)
		}
		if err != nil {
			c.s.log.Warn("websocket notification not encodable", "err", err)
			return
		}
	}
	if c.send(frame{data: data, binary: binary}) {
		c.s.metrics.framesOut.WithLabelValues("notification", "").Inc()
	}
}

// close sends a close frame with code and reason (once) and ends both
// goroutines; CloseAbnormalClosure sends none.
func (c *conn) close(code int, reason string) {
	c.once.Do(func() {
		if code != websocket.CloseAbnormalClosure && code != websocket.CloseNormalClosure {
			c.s.metrics.closes.WithLabelValues(strconv.Itoa(code)).Inc()
		}
		if code != websocket.CloseAbnormalClosure {
			msg := websocket.FormatCloseMessage(code, reason)
			_ = c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
		}
		close(c.done)
		c.mu.Lock()
		if c.authExpiry != nil {
			c.authExpiry.Stop()
		}
		c.mu.Unlock()
		// Unblocks the reader; the writer sees done.
		_ = c.ws.NetConn().SetReadDeadline(time.Now())
	})
}

// cleanup deletes the connection's socket subscriptions: they end with
// the socket.
func (c *conn) cleanup() {
	c.mu.Lock()
	subs := c.subs
	c.subs = nil
	c.mu.Unlock()
	for _, sub := range subs {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := c.s.store.DeleteSubscription(ctx, sub.project, sub.queue, sub.id); err != nil {
			c.s.log.Warn("socket subscription not deleted at close", "queue", sub.queue, "subscription", sub.id, "err", err)
		}
		cancel()
	}
	_ = c.ws.Close()
}

func (c *conn) addSub(s socketSub) {
	c.mu.Lock()
	c.subs = append(c.subs, s)
	c.mu.Unlock()
}
