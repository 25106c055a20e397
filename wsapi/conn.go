package wsapi

import (
	"bufio"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/gobwas/ws"
)

// conn is one client connection. A reader goroutine runs only while the
// socket has something to read; an idle connection is parked in the
// server's poller and costs this struct, its map entry and an epoll
// registration: no goroutine, no buffer, no timer (the server's sweeper
// pings it and enforces the idle timeout). A writer goroutine runs only
// while frames are queued (outbound.go).
//
// The reader owns the request state (authentication, a message being
// received, the request being served); readers never overlap (reading,
// and the poller's one-shot registration).
type conn struct {
	s     *Server
	nc    net.Conn        // the socket
	raw   syscall.RawConn // nil when the socket cannot be polled: its reader never parks
	id    string
	token uint64 // the poller's
	armed atomic.Bool

	// Unix nanoseconds of the last frame received (any, pongs included)
	// and of the next ping.
	lastRead atomic.Int64
	nextPing atomic.Int64

	// Reader-owned.
	pipelined   []byte // what the client sent right behind its upgrade request
	message     []byte // a message being received
	messageOp   ws.OpCode
	fragmenting bool
	auth        *session

	// Outgoing frames (outbound.go).
	wmu     sync.Mutex
	out     []frame        // queued, oldest first
	queued  int            // bytes in out
	writing bool           // a writer goroutine is running
	writers sync.WaitGroup // the writer, waited for at close
	sock    sync.Mutex     // one frame at a time on the socket

	// The sweeper's pings (under sock).
	pingWrite func(fd uintptr) bool
	pingN     int
	pingErr   error

	done chan struct{}
	once sync.Once

	// notifyBinary: notifications are encoded as the last successful
	// socket subscription request was (Zaqar's rule).
	notifyBinary atomic.Bool

	mu          sync.Mutex
	reading     bool // a reader goroutine runs
	closed      bool // close was called; the last one out tears down
	closeCode   int  // the close frame to send (0: an empty one)
	closeReason string
	authExpiry  *time.Timer // closes the connection when the token expires
	subs        []socketSub // subscriptions to delete when the socket closes
	teardownRun sync.Once
}

type socketSub struct{ project, queue, id string }

// dataLinger is how long a reader waits for the next request before it
// parks the connection: an active client's requests then skip the
// poller (a wake-up and an epoll call each). After pongs and pings
// alone a connection parks at once.
const dataLinger = time.Second

// start serves an upgraded connection. fasthttp hands over a wrapper
// that first returns what it read past the upgrade request (a client
// must wait for the 101 before sending, but may not): those bytes are
// taken, then the socket itself is read.
func (s *Server) start(nc net.Conn) {
	c := &conn{s: s, nc: nc, id: newConnID(), done: make(chan struct{})}
	c.pipelined = takeBuffered(nc)
	if u, ok := nc.(interface{ UnsafeConn() net.Conn }); ok {
		c.nc = u.UnsafeConn()
	}
	if sc, ok := c.nc.(syscall.Conn); ok && s.poller != nil {
		if raw, err := sc.SyscallConn(); err == nil {
			c.raw = raw
			c.preparePing()
			s.poller.add(c)
		}
	}
	now := time.Now().UnixNano()
	c.lastRead.Store(now)
	// Connections opened together do not ping together.
	interval := int64(s.pingInterval())
	c.nextPing.Store(now + interval/2 + rand.Int64N(interval/2+1))
	c.reading = true
	s.register(c)
	// Bytes already here are served; otherwise the connection parks
	// until its first frame.
	go c.readLoop(false, 0)
}

// takeBuffered returns what nc has already read (without waiting for the
// socket).
func takeBuffered(nc net.Conn) []byte {
	if nc.SetReadDeadline(time.Unix(1, 0)) != nil {
		return nil
	}
	defer nc.SetReadDeadline(time.Time{})
	fr := readers.Get().(*frameReader)
	defer readers.Put(fr)
	fr.br.Reset(nc)
	defer fr.br.Reset(nil)
	if _, err := fr.br.Peek(1); err != nil {
		return nil
	}
	b, _ := fr.br.Peek(fr.br.Buffered())
	return append([]byte(nil), b...)
}

// frameReader is a reader goroutine's buffers, pooled: parked
// connections hold none.
type frameReader struct {
	br      *bufio.Reader
	hdr     [ws.MaxHeaderSize - 2]byte
	control [ws.MaxControlFramePayloadSize]byte
}

var readers = sync.Pool{New: func() any { return &frameReader{br: bufio.NewReaderSize(nil, 4096)} }}

// connReader reads the client's bytes: the pipelined ones, then the
// socket's.
type connReader conn

func (r *connReader) Read(p []byte) (int, error) {
	if len(r.pipelined) > 0 {
		n := copy(p, r.pipelined)
		r.pipelined = r.pipelined[n:]
		if len(r.pipelined) == 0 {
			r.pipelined = nil
		}
		return n, nil
	}
	return r.nc.Read(p)
}

// readLoop serves frames until the socket has had nothing to read for
// linger, then parks the connection (or until it closes). woken: the
// poller saw the socket readable.
func (c *conn) readLoop(woken bool, linger time.Duration) {
	c.s.readers.Add(1)
	fr := readers.Get().(*frameReader)
	fr.br.Reset((*connReader)(c))
	park := false
	defer func() {
		fr.br.Reset(nil)
		readers.Put(fr)
		c.s.readers.Add(-1)
		c.stopReading(park)
	}()
	maxMessage := int64(c.s.opts.API.MaxMessagesPostSize + EnvelopeSlack)
	for {
		if fr.br.Buffered() == 0 && len(c.pipelined) == 0 {
			var deadline time.Time
			switch {
			case c.raw == nil, woken:
				// Wait as long as it takes (the sweeper closes an idle
				// connection), or read what the poller saw.
			case linger > 0:
				deadline = time.Now().Add(linger)
			default:
				park = true
				return
			}
			woken = false
			_ = c.nc.SetReadDeadline(deadline)
			if c.isDone() {
				return
			}
			if _, err := fr.br.Peek(1); err != nil {
				if c.raw != nil && errors.Is(err, os.ErrDeadlineExceeded) && !c.isDone() {
					park = true
					return
				}
				c.readFailed(err, maxMessage)
				return
			}
			if !deadline.IsZero() {
				// The rest of the frame takes what it takes; close sets a
				// deadline after done, so this cannot undo it unseen.
				_ = c.nc.SetReadDeadline(time.Time{})
				if c.isDone() {
					return
				}
			}
		}
		data, binary, err := c.readMessage(fr, maxMessage)
		if err != nil {
			c.readFailed(err, maxMessage)
			return
		}
		if data == nil {
			continue // a control frame
		}
		c.handle(data, binary)
		linger = dataLinger
		if c.isDone() {
			return
		}
	}
}

var (
	errTooLarge   = errors.New("message too large")
	errPeerClosed = errors.New("closed by the client")
)

// readMessage reads frames until a data message is complete (returned)
// or a control frame has been served (nil, nil).
func (c *conn) readMessage(fr *frameReader, maxMessage int64) (data []byte, binary bool, err error) {
	for {
		h, err := ws.ReadHeaderBuffer(fr.br, fr.hdr[:])
		if err != nil {
			return nil, false, err
		}
		state := ws.StateServerSide
		if c.fragmenting {
			state = state.Set(ws.StateFragmented)
		}
		if err := ws.CheckHeader(h, state); err != nil {
			return nil, false, err
		}
		c.lastRead.Store(time.Now().UnixNano())
		if h.OpCode.IsControl() {
			payload := fr.control[:h.Length]
			if _, err := io.ReadFull(fr.br, payload); err != nil {
				return nil, false, err
			}
			ws.Cipher(payload, h.Mask, 0)
			switch h.OpCode {
			case ws.OpPing:
				_ = c.writeFrame(ws.OpPong, payload, time.Second)
			case ws.OpClose:
				code, reason := ws.ParseCloseFrameData(payload)
				if len(payload) > 0 {
					if err := ws.CheckCloseFrameData(code, reason); err != nil {
						return nil, false, err
					}
				}
				// The close frame echoes the client's code.
				c.shutdown(int(code), "", false)
				return nil, false, errPeerClosed
			}
			return nil, false, nil
		}
		have := len(c.message)
		if int64(have)+h.Length > maxMessage {
			return nil, false, errTooLarge
		}
		if c.message == nil {
			c.message = make([]byte, 0, h.Length)
		}
		c.message = append(c.message, make([]byte, h.Length)...)
		part := c.message[have:]
		if _, err := io.ReadFull(fr.br, part); err != nil {
			return nil, false, err
		}
		ws.Cipher(part, h.Mask, 0)
		if h.OpCode != ws.OpContinuation {
			c.messageOp = h.OpCode
		}
		if !h.Fin {
			c.fragmenting = true
			continue
		}
		data, binary = c.message, c.messageOp == ws.OpBinary
		c.message, c.fragmenting = nil, false
		return data, binary, nil
	}
}

// readFailed closes the connection after a read error: a message over
// the limit with 1009, a protocol violation with 1002, anything else
// (the client went away, the connection was closed) with 1000.
func (c *conn) readFailed(err error, maxMessage int64) {
	var protocol ws.ProtocolError
	switch {
	case errors.Is(err, errTooLarge):
		c.close(websocket.CloseMessageTooBig, "Frame larger than "+strconv.FormatInt(maxMessage, 10)+" bytes.")
	case errors.As(err, &protocol), errors.Is(err, ws.ErrHeaderLengthMSB), errors.Is(err, ws.ErrHeaderLengthUnexpected):
		c.close(websocket.CloseProtocolError, err.Error())
	default:
		c.close(websocket.CloseNormalClosure, "")
	}
}

func (c *conn) isDone() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// stopReading ends a reader: the connection is torn down if it was
// closed, or parked until its socket is readable again.
func (c *conn) stopReading(park bool) {
	c.mu.Lock()
	c.reading = false
	closed := c.closed
	c.mu.Unlock()
	switch {
	case closed:
		c.teardown()
	case !park:
		c.close(websocket.CloseNormalClosure, "")
	default:
		if err := c.s.poller.arm(c); err != nil {
			c.close(websocket.CloseAbnormalClosure, "")
		}
	}
}

// readable starts a reader for a parked connection whose socket has
// something to read.
func (c *conn) readable() {
	c.mu.Lock()
	if c.closed || c.reading {
		c.mu.Unlock()
		return
	}
	c.reading = true
	c.mu.Unlock()
	go c.readLoop(true, 0)
}

// close closes the connection with code and reason (once; the close
// frame follows the frame being written, queued ones are dropped);
// CloseAbnormalClosure sends no close frame.
func (c *conn) close(code int, reason string) {
	c.shutdown(code, reason, code != websocket.CloseAbnormalClosure && code != websocket.CloseNormalClosure)
}

// shutdown is close; count says whether the code goes into the closes
// metric (not for a close the client started).
func (c *conn) shutdown(code int, reason string, count bool) {
	c.once.Do(func() {
		if count {
			c.s.metrics.closes.WithLabelValues(strconv.Itoa(code)).Inc()
		}
		c.mu.Lock()
		c.closed = true
		c.closeCode, c.closeReason = code, reason
		if c.authExpiry != nil {
			c.authExpiry.Stop()
		}
		reading := c.reading
		c.mu.Unlock()
		close(c.done)
		if reading {
			// Unblocks the reader, whose exit tears down.
			_ = c.nc.SetReadDeadline(time.Now())
		} else {
			go c.teardown()
		}
	})
}

// teardown sends the close frame once the writer is done, closes the
// socket and deletes the connection's socket subscriptions: they end
// with the socket.
func (c *conn) teardown() {
	c.teardownRun.Do(func() {
		c.writers.Wait()
		if c.closeCode != websocket.CloseAbnormalClosure {
			var body []byte
			if c.closeCode != 0 && c.closeCode != websocket.CloseNoStatusReceived {
				body = ws.NewCloseFrameBody(ws.StatusCode(c.closeCode), c.closeReason)
			}
			_ = c.writeFrame(ws.OpClose, body, time.Second)
		}
		if c.raw != nil {
			c.s.poller.remove(c)
		}
		_ = c.nc.Close()
		c.s.unregister(c)
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
		c.s.open.Add(-1)
		c.s.active.Done()
	})
}

func (c *conn) addSub(s socketSub) {
	c.mu.Lock()
	c.subs = append(c.subs, s)
	c.mu.Unlock()
}
