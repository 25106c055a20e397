package wsapi

import (
	"bufio"
	"sync"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/gobwas/ws"
)

// frame is one outgoing message.
type frame struct {
	data   []byte
	binary bool
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
		if c.isDone() {
			c.wmu.Lock()
			c.writing, c.out, c.queued = false, nil, 0
			c.wmu.Unlock()
			return
		}
		op := ws.OpText
		if f.binary {
			op = ws.OpBinary
		}
		if err := c.writeFrame(op, f.data, writeTimeout); err != nil {
			c.close(websocket.CloseAbnormalClosure, "")
		}
	}
}

// frameWriter is a writing goroutine's buffers, pooled: idle connections
// hold none.
type frameWriter struct {
	bw  *bufio.Writer
	hdr [ws.MaxHeaderSize]byte
}

var writers = sync.Pool{New: func() any { return &frameWriter{bw: bufio.NewWriterSize(nil, 4096)} }}

// writeFrame writes one unfragmented frame, waiting at most timeout.
func (c *conn) writeFrame(op ws.OpCode, payload []byte, timeout time.Duration) error {
	fw := writers.Get().(*frameWriter)
	defer writers.Put(fw)
	fw.bw.Reset(c.nc)
	defer fw.bw.Reset(nil)
	c.sock.Lock()
	defer c.sock.Unlock()
	_ = c.nc.SetWriteDeadline(time.Now().Add(timeout))
	err := ws.WriteHeaderBuffer(fw.bw, ws.Header{Fin: true, OpCode: op, Length: int64(len(payload))}, fw.hdr[:])
	if err == nil {
		_, err = fw.bw.Write(payload)
	}
	if err == nil {
		err = fw.bw.Flush()
	}
	return err
}

// pingFrame is the server's ping, written as is.
var pingFrame = ws.MustCompileFrame(ws.NewPingFrame(nil))

// ping sends a ping without waiting and without allocating, unless a
// frame is being written (the caller tries again later); it reports
// whether the ping went out (or will). A socket whose buffer is full
// gets none: its client reads nothing, so would not answer.
func (c *conn) ping() bool {
	if c.raw == nil {
		go func() { _ = c.writeFrame(ws.OpPing, nil, writeTimeout) }()
		return true
	}
	if !c.sock.TryLock() {
		return false
	}
	n, err := c.pingNow()
	if err == nil && n < len(pingFrame) {
		// Part of the frame went out: the rest must follow before any
		// other frame.
		go func() {
			defer c.sock.Unlock()
			_ = c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
			_, _ = c.nc.Write(pingFrame[n:])
		}()
		return true
	}
	c.sock.Unlock()
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
