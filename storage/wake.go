package storage

import (
	"sync"
	"sync/atomic"
)

// Changes asks s through Waker for the queue's next change. ok is false
// when s cannot tell (it is no Waker, or answered a nil channel: a
// decorator over a store that cannot wake, a pool that cannot be
// resolved, a closed store): the caller must then not wait for ch, and
// finds out what changed by looking again at its own deadline. done is
// never nil and must be called once the caller stops waiting.
func Changes(s Store, project, queue string) (ch <-chan struct{}, done func(), ok bool) {
	w, isWaker := s.(Waker)
	if !isWaker {
		return nil, noWait, false
	}
	return waitable(w.Changes(project, queue))
}

// ClaimChanges is Changes for a waiter that claims: through ClaimWaker
// when s is one, else through Waker.
func ClaimChanges(s Store, project, queue string) (ch <-chan struct{}, done func(), ok bool) {
	w, isClaimWaker := s.(ClaimWaker)
	if !isClaimWaker {
		return Changes(s, project, queue)
	}
	return waitable(w.ClaimChanges(project, queue))
}

// waitable normalises a Waker's answer: a nil done becomes noWait, and a
// nil channel (the Waker cannot tell) is released at once and reported.
func waitable(ch <-chan struct{}, done func()) (<-chan struct{}, func(), bool) {
	if done == nil {
		done = noWait
	}
	if ch == nil {
		done()
		return nil, noWait, false
	}
	return ch, done, true
}

func noWait() {}

// NoChanges is the answer of a Waker that cannot wake waiters of a queue
// (see Changes): they answer at their deadline.
func NoChanges() (<-chan struct{}, func()) { return nil, noWait }

// Signals are broadcast channels by key, for Wakers outside the engine:
// the waiters of a key share one channel, closed by Wake and replaced for
// the next ones, so thousands of waiters cost one channel and no CPU.
// The zero Signals is ready to use.
type Signals struct {
	waiting atomic.Int64 // so that Wake costs one load while nobody waits
	mu      sync.Mutex
	slots   map[string]*signalSlot
}

type signalSlot struct {
	ch      chan struct{} // nil after a wake until the next waiter
	waiters int
}

// Watch registers a waiter of key: ch is closed at the next Wake of key
// (or WakeAll); done, idempotent, must be called when it stops waiting.
func (s *Signals) Watch(key string) (ch <-chan struct{}, done func()) {
	s.mu.Lock()
	if s.slots == nil {
		s.slots = map[string]*signalSlot{}
	}
	sl := s.slots[key]
	if sl == nil {
		sl = &signalSlot{}
		s.slots[key] = sl
	}
	if sl.ch == nil {
		sl.ch = make(chan struct{})
	}
	sl.waiters++
	c := sl.ch
	s.mu.Unlock()
	s.waiting.Add(1)
	var once sync.Once
	return c, func() {
		once.Do(func() {
			s.waiting.Add(-1)
			s.mu.Lock()
			if sl.waiters--; sl.waiters == 0 && s.slots[key] == sl {
				delete(s.slots, key)
			}
			s.mu.Unlock()
		})
	}
}

// Wake closes the channel of key's current waiters.
func (s *Signals) Wake(key string) {
	if s.waiting.Load() == 0 {
		return
	}
	s.mu.Lock()
	if sl := s.slots[key]; sl != nil && sl.ch != nil {
		close(sl.ch)
		sl.ch = nil
	}
	s.mu.Unlock()
}

// WakeAll wakes the waiters of every key (a lost connection, a closing
// store: they look again rather than trust a channel nobody will close).
func (s *Signals) WakeAll() {
	s.mu.Lock()
	for _, sl := range s.slots {
		if sl.ch != nil {
			close(sl.ch)
			sl.ch = nil
		}
	}
	s.mu.Unlock()
}

// Waiting is how many waiters are registered.
func (s *Signals) Waiting() int64 { return s.waiting.Load() }
