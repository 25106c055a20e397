package redisstore

import (
	"context"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/zaqar-go/zaqar/storage"
)

// Long-poll waiters (storage.Waker) of a Redis store are woken through
// Redis Pub/Sub, so that a post through any server node wakes them: the
// scripts that make messages claimable PUBLISH on the queue's wake channel
// (scripts.go), and each store holds one Pub/Sub connection, subscribed to
// the channels of the queues it has waiters on, whose messages it fans
// out to them (storage.Signals). PUBLISH, unlike SPUBLISH, reaches
// subscribers on every node of a Redis Cluster. Nothing of this exists
// until the store's first waiter: no connection, no goroutine.

var _ storage.Waker = (*Store)(nil)

// DefaultWakeLinger is how long a queue's channel stays subscribed after
// its last waiter left: a consumer waits again right after each answer,
// and would otherwise cost a SUBSCRIBE and an UNSUBSCRIBE per request.
const DefaultWakeLinger = 30 * time.Second

type waker struct {
	s      *Store
	linger time.Duration
	sig    storage.Signals

	mu      sync.Mutex
	subs    map[string]*subscription // the channels waiters need
	started bool                     // the manager runs
	closed  bool
	kick    chan struct{} // capacity 1: subs changed
	stop    chan struct{}
	stopped chan struct{} // the manager has returned

	// Owned by the manager.
	ps       *redis.PubSub
	have     map[string]bool // channels SUBSCRIBEd
	received chan struct{}   // closed when the receiver has returned
}

type subscription struct {
	refs   int         // waiters
	linger *time.Timer // pending unsubscribe while refs is 0
}

func (w *waker) init(s *Store) {
	w.s, w.linger = s, DefaultWakeLinger
	w.kick, w.stop, w.stopped = make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
	w.have, w.subs = map[string]bool{}, map[string]*subscription{}
}

// Changes implements storage.Waker. Posts and released claims wake
// waiters as soon as Redis delivers the PUBLISH (through any node); claims
// that ran out and delays that ended at the sweep that visits the queue
// (SweepInterval, when the store has at most SweepQueues queues). A
// waiter whose queue was not yet subscribed is woken once the
// subscription is confirmed, so that nothing posted before it is missed;
// and every waiter is woken when the Pub/Sub connection comes back after
// an outage. A closed store cannot wake (nil channel).
func (s *Store) Changes(project, queue string) (<-chan struct{}, func()) {
	w := &s.wake
	name := s.qk(project, queue).wake
	// Watch before asking for the subscription, so that its confirmation
	// finds this waiter.
	ch, done := w.sig.Watch(name)
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		done()
		return storage.NoChanges()
	}
	sub := w.subs[name]
	if sub == nil {
		sub = &subscription{}
		w.subs[name] = sub
		w.kickLocked()
	}
	if sub.linger != nil {
		sub.linger.Stop()
		sub.linger = nil
	}
	sub.refs++
	w.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			done()
			w.release(name, sub)
		})
	}
}

// kickLocked tells the manager (started on first need) that subs changed.
func (w *waker) kickLocked() {
	if !w.started {
		w.started = true
		go w.manage()
	}
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// release drops a waiter; the channel is unsubscribed after the linger.
func (w *waker) release(name string, sub *subscription) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if sub.refs--; sub.refs > 0 || w.closed {
		return
	}
	sub.linger = time.AfterFunc(w.linger, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		// A waiter may have come back while this ran.
		if sub.refs == 0 && w.subs[name] == sub && !w.closed {
			delete(w.subs, name)
			w.kickLocked()
		}
	})
}

// manage brings the Pub/Sub subscriptions to what subs needs; it alone
// does Pub/Sub I/O, so that subscribes and unsubscribes of a channel
// reach Redis in the order they were decided, and no request waits on it.
func (w *waker) manage() {
	defer close(w.stopped)
	ctx := context.Background()
	for {
		select {
		case <-w.stop:
			return
		case <-w.kick:
		}
		var add, drop []string
		w.mu.Lock()
		for name := range w.subs {
			if !w.have[name] {
				add = append(add, name)
			}
		}
		for name := range w.have {
			if w.subs[name] == nil {
				drop = append(drop, name)
			}
		}
		w.mu.Unlock()
		if len(add) > 0 {
			// On failure go-redis still records the channels, and
			// subscribes to them when its connection comes back.
			var err error
			if w.ps == nil {
				w.ps = w.s.rdb.Subscribe(ctx, add...)
				w.received = make(chan struct{})
				go w.receive(w.ps.ChannelWithSubscriptions())
			} else {
				err = w.ps.Subscribe(ctx, add...)
			}
			if err != nil {
				w.s.log.Debug("redis wake: subscribe failed; retried on reconnect", "err", err)
			}
			for _, name := range add {
				w.have[name] = true
			}
		}
		if len(drop) > 0 {
			if err := w.ps.Unsubscribe(ctx, drop...); err != nil {
				w.s.log.Debug("redis wake: unsubscribe failed", "err", err)
			}
			for _, name := range drop {
				delete(w.have, name)
			}
		}
	}
}

// receive fans Pub/Sub traffic out to waiters: a published change, or a
// subscription confirmed (first, or again after a reconnect: whatever was
// published meanwhile was lost, so waiters look again).
func (w *waker) receive(ch <-chan any) {
	defer close(w.received)
	for m := range ch {
		switch m := m.(type) {
		case *redis.Message:
			w.sig.Wake(m.Channel)
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				w.sig.Wake(m.Channel)
			}
		}
	}
}

// close stops the Pub/Sub work and wakes every waiter: they look again
// (and find a closed store) rather than wait for a channel nobody closes.
func (w *waker) close() {
	w.mu.Lock()
	w.closed = true
	started := w.started
	for _, sub := range w.subs {
		if sub.linger != nil {
			sub.linger.Stop()
		}
	}
	w.mu.Unlock()
	if started {
		close(w.stop)
		<-w.stopped
		if w.ps != nil {
			w.ps.Close()
			<-w.received
		}
	}
	w.sig.WakeAll()
}
