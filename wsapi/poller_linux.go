package wsapi

import (
	"errors"
	"sync"

	"golang.org/x/sys/unix"
)

// poller tells when a parked connection's socket has something to read,
// so that an idle connection holds no goroutine: one epoll instance,
// each socket registered one-shot (it must be re-armed after each event,
// which also makes sure that only one reader runs per connection).
//
// The netpoll libraries that do this (github.com/lesismal/nbio,
// github.com/cloudwego/netpoll) take over the whole connection, its
// reads, write queue and HTTP server; fasthttp upgrades ours, and the
// one thing needed here is readiness, a few epoll calls.
type poller struct {
	epfd, wake int

	mu    sync.Mutex
	conns map[uint64]*conn // by token, the epoll event's data
	next  uint64
}

// wakeToken marks the event that stops the poller.
const wakeToken = 0

func newPoller() (*poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, err
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wake, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(wake)
		return nil, err
	}
	p := &poller{epfd: epfd, wake: wake, conns: map[uint64]*conn{}, next: wakeToken + 1}
	go p.run()
	return p, nil
}

func (p *poller) run() {
	defer func() {
		unix.Close(p.epfd)
		unix.Close(p.wake)
	}()
	events := make([]unix.EpollEvent, 256)
	for {
		n, err := unix.EpollWait(p.epfd, events, -1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return
		}
		for _, ev := range events[:n] {
			token := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
			if token == wakeToken {
				return
			}
			p.mu.Lock()
			c := p.conns[token]
			p.mu.Unlock()
			if c != nil {
				c.readable()
			}
		}
	}
}

// add gives c a token; arm registers its socket.
func (p *poller) add(c *conn) {
	p.mu.Lock()
	c.token = p.next
	p.next++
	p.conns[c.token] = c
	p.mu.Unlock()
}

// arm asks for one event when c's socket is readable (or closed by the
// peer); a socket that has data already reports at once.
func (p *poller) arm(c *conn) error {
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT,
		Fd: int32(uint32(c.token)), Pad: int32(uint32(c.token >> 32))}
	var opErr error
	err := c.raw.Control(func(fd uintptr) {
		op := unix.EPOLL_CTL_MOD
		if !c.armed.Load() {
			op = unix.EPOLL_CTL_ADD
		}
		opErr = unix.EpollCtl(p.epfd, op, int(fd), &ev)
		if opErr == nil {
			c.armed.Store(true)
		}
	})
	if err != nil {
		return err
	}
	return opErr
}

// remove forgets c (before its socket closes).
func (p *poller) remove(c *conn) {
	p.mu.Lock()
	delete(p.conns, c.token)
	p.mu.Unlock()
	if c.armed.Load() {
		_ = c.raw.Control(func(fd uintptr) { _ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, int(fd), nil) })
	}
}

// close stops the poller.
func (p *poller) close() {
	var one = [8]byte{1}
	_, _ = unix.Write(p.wake, one[:])
}

// preparePing makes the function pingNow writes with, once per
// connection, so that a ping allocates nothing.
func (c *conn) preparePing() {
	c.pingWrite = func(fd uintptr) bool {
		c.pingN, c.pingErr = unix.Write(int(fd), pingFrame)
		return true
	}
}

// pingNow writes the ping frame without waiting: the bytes written, or an
// error (EAGAIN when the socket's buffer is full). The caller holds sock.
func (c *conn) pingNow() (int, error) {
	if err := c.raw.Write(c.pingWrite); err != nil {
		return 0, err
	}
	return max(c.pingN, 0), c.pingErr
}
