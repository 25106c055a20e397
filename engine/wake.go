package engine

import (
	"sync"
	"sync/atomic"
)

// waker tells waiting consumers (storage.Waker) that a queue may have
// messages for them. A queue's waiters share one channel, closed at a wake
// and replaced by the next waiter, so thousands of them cost one channel
// and no CPU while they wait. It is keyed by queue key rather than kept in
// the queue's state, which request goroutines must not create.
type waker struct {
	waiting atomic.Int64 // waiters in the partition: no work at all while zero
	slots   sync.Map     // qkey -> *wakeSlot
}

type wakeSlot struct {
	mu      sync.Mutex
	ch      chan struct{} // nil until someone waits
	waiters int
}

// changes registers a waiter on the queue.
func (w *waker) changes(qk string) (<-chan struct{}, func()) {
	v, _ := w.slots.LoadOrStore(qk, &wakeSlot{})
	s := v.(*wakeSlot)
	s.mu.Lock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	ch := s.ch
	s.waiters++
	s.mu.Unlock()
	w.waiting.Add(1)
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			w.waiting.Add(-1)
			s.mu.Lock()
			s.waiters--
			if s.waiters == 0 {
				w.slots.Delete(qk)
			}
			s.mu.Unlock()
		})
	}
}

// wake closes the queue's channel, if anyone waits on it.
func (w *waker) wake(qk string) {
	if w.waiting.Load() == 0 {
		return
	}
	v, ok := w.slots.Load(qk)
	if !ok {
		return
	}
	s := v.(*wakeSlot)
	s.mu.Lock()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
	s.mu.Unlock()
}

// wakeFor wakes the waiters of the queues a completed group may have made
// messages available in: posted to, or released claims of.
func (w *waker) wakeFor(recs []applied) {
	if w.waiting.Load() == 0 {
		return
	}
	for _, a := range recs {
		if t := a.rec.Type; t == recPost || t == recClaimRelease {
			w.wake(qkey(a.rec.Project, a.rec.Queue))
		}
	}
}

// Changes implements storage.Waker. Waiters learn of posts and released
// claims as soon as they are acknowledged, and of claims and delays that
// ran out at the reaper's next pass (ReapInterval).
func (e *Engine) Changes(project, queue string) (<-chan struct{}, func()) {
	return e.partition(project, queue).wake.changes(qkey(project, queue))
}
