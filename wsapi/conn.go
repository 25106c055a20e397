package wsapi

import (
	"context"
	"errors"
	"math/rand/v2"
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

	// Outgoing frames: a writer goroutine runs only while there are some,
	// so an idle connection costs its reader goroutine and a ping timer.
	wmu     sync.Mutex
	out     []frame        // queued, oldest first
	queued  int            // bytes in out
	writing bool           // a writer goroutine is running
	writers sync.WaitGroup // the writer, waited for at close
	ping    *time.Timer

	done chan struct{}
	once sync.Once

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

func (s *Server) serveConn(ws *websocket.Conn) {
	c := &conn{s: s, ws: ws, id: newConnID(), done: make(chan struct{})}
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
	c.schedulePing(idle / 3)
	defer func() {
		// The reader is done: stop writing (sending a close frame, if
		// none has been sent), then wait for a writer still running.
		c.close(websocket.CloseNormalClosure, "")
		c.writers.Wait()
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

// schedulePing sends a ping every interval, the first after a random
// part of it, so that connections opened together do not ping together.
// A timer, not a goroutine, waits between pings.
func (c *conn) schedulePing(interval time.Duration) {
	var fire func()
	fire = func() {
		select {
		case <-c.done:
			return
		default:
		}
		// WriteControl is safe beside a writer; a failure is left to the
		// idle timeout.
		_ = c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeTimeout))
		c.wmu.Lock()
		c.ping.Reset(interval)
		c.wmu.Unlock()
	}
	c.wmu.Lock()
	c.ping = time.AfterFunc(interval/2+rand.N(interval/2+1), fire)
	c.wmu.Unlock()
}

// writeLoop sends queued frames until none is left (or the connection
// closes).
func (c *conn) writeLoop() {
	defer c.writers.Done()
	for {
		c.wmu.Lock()
		if len(c.out) == 0 {
			c.writing = false
			c.out = nil // an idle connection keeps no buffer
			c.wmu.Unlock()
			return
		}
		f := c.out[0]
		c.out[0] = frame{}
		c.out = c.out[1:]
		c.queued -= len(f.data)
		c.wmu.Unlock()
		select {
		case <-c.done:
			c.wmu.Lock()
			c.writing, c.out, c.queued = false, nil, 0
			c.wmu.Unlock()
			return
		default:
		}
		kind := websocket.TextMessage
		if f.binary {
			kind = websocket.BinaryMessage
		}
		_ = c.ws.SetWriteDeadline(time.Now().Add(writeTimeout))
		if err := c.ws.WriteMessage(kind, f.data); err != nil {
			c.close(websocket.CloseAbnormalClosure, "")
		}
	}
}

// writeTimeout bounds writing one frame to a client.
const writeTimeout = 10 * time.Second

// send queues a frame, starting a writer if none runs; a connection whose
// queue would exceed its bound is closed instead (its reader is too
// slow).
func (c *conn) send(f frame) bool {
	c.wmu.Lock()
	select {
	case <-c.done:
		c.wmu.Unlock()
		return false
	default:
	}
	if c.queued+len(f.data) > c.s.opts.OutboundBytes {
		c.wmu.Unlock()
		c.close(CloseSlowReader, "Outbound buffer full: the client reads too slowly.")
		return false
	}
	c.out = append(c.out, f)
	c.queued += len(f.data)
	if !c.writing {
		c.writing = true
		c.writers.Add(1)
		go c.writeLoop()
	}
	c.wmu.Unlock()
	return true
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
		c.wmu.Lock()
		if c.ping != nil {
			c.ping.Stop()
		}
		c.wmu.Unlock()
		// Unblocks the reader; a writer sees done.
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
