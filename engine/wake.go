package engine

import (
	"slices"
	"sync"
	"sync/atomic"
)

// waker tells waiting consumers (storage.Waker) that a queue may have
// messages for them. A queue's waiters share one channel, closed at a wake
// and replaced by the next waiter, so thousands of them cost one channel
// and no CPU while they wait. It is keyed by queue key rather than kept in
// the queue's state, which request goroutines must not create.
//
// Claim waiters (storage.ClaimWaker) each have a channel of their own and
// are woken one at a time: a post of 10 messages woke 16 waiting
// consumers, of which one took the messages and 15 looked in vain, each
// a goroutine switch and a trip through the request's store stack. A
// change wakes one; a claim that took as many messages as it asked for
// wakes the next (CreateClaim, on the writer, so that the next claim
// joins the following group rather than wait for this one's sync); and a
// woken waiter that is done (done) with messages still free passes the
// wake on, so none sleeps beside free messages.
type waker struct {
	waiting atomic.Int64 // waiters in the partition: no work at all while zero
	slots   sync.Map     // qkey -> *wakeSlot
}

type wakeSlot struct {
	mu       sync.Mutex
	ch       chan struct{} // nil until someone waits
	waiters  int
	claimers []*claimWaiter // not yet woken, newest last
	gone     bool           // removed from slots: registrations go to a new slot
}

// claimWaiter is one registered claim waiter.
type claimWaiter struct {
	ch    chan struct{}
	woken bool
}

// slot returns the queue's slot, locked, with a registration counted.
func (w *waker) slot(qk string) *wakeSlot {
	for {
		v, _ := w.slots.LoadOrStore(qk, &wakeSlot{})
		s := v.(*wakeSlot)
		s.mu.Lock()
		if !s.gone {
			s.waiters++
			return s
		}
		s.mu.Unlock() // emptied and removed meanwhile: a wake would not find it
	}
}

// leave counts a registration out of its slot, removing an empty slot.
// Called with s.mu held.
func (w *waker) leave(qk string, s *wakeSlot) {
	s.waiters--
	if s.waiters == 0 {
		s.gone = true
		w.slots.Delete(qk)
	}
}

// changes registers a waiter on the queue.
func (w *waker) changes(qk string) (<-chan struct{}, func()) {
	s := w.slot(qk)
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	ch := s.ch
	s.mu.Unlock()
	w.waiting.Add(1)
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			w.waiting.Add(-1)
			s.mu.Lock()
			w.leave(qk, s)
			s.mu.Unlock()
		})
	}
}

// claimChanges registers a claim waiter on the queue; free reports
// whether a claim could take messages now.
func (w *waker) claimChanges(qk string, free func() bool) (<-chan struct{}, func()) {
	s := w.slot(qk)
	cw := &claimWaiter{ch: make(chan struct{})}
	s.claimers = append(s.claimers, cw)
	s.mu.Unlock()
	w.waiting.Add(1)
	var once sync.Once
	return cw.ch, func() {
		once.Do(func() {
			w.waiting.Add(-1)
			s.mu.Lock()
			if !cw.woken {
				if i := slices.Index(s.claimers, cw); i >= 0 {
					s.claimers = slices.Delete(s.claimers, i, i+1)
				}
			}
			w.leave(qk, s)
			s.mu.Unlock()
			if cw.woken && free() {
				// Woken, and done with messages still free (it took
				// part of them, or left without looking): the next
				// claim waiter's turn.
				w.wakeClaimer(qk)
			}
		})
	}
}

// wake closes the queue's shared channel, if anyone waits on it, and
// wakes a claim waiter.
func (w *waker) wake(qk string) { w.signal(qk, true) }

// wakeClaimer wakes a claim waiter of the queue, if one waits.
func (w *waker) wakeClaimer(qk string) { w.signal(qk, false) }

// signal wakes the newest claim waiter (the one whose deadline is
// furthest) and, with all, the waiters of the shared channel.
func (w *waker) signal(qk string, all bool) {
	if w.waiting.Load() == 0 {
		return
	}
	v, ok := w.slots.Load(qk)
	if !ok {
		return
	}
	s := v.(*wakeSlot)
	s.mu.Lock()
	if all && s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
	if n := len(s.claimers); n > 0 {
		cw := s.claimers[n-1]
		s.claimers[n-1] = nil
		s.claimers = s.claimers[:n-1]
		cw.woken = true
		close(cw.ch)
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

// ClaimChanges implements storage.ClaimWaker: as Changes, for a waiter
// that claims; such waiters are woken one at a time (waker).
func (e *Engine) ClaimChanges(project, queue string) (<-chan struct{}, func()) {
	p := e.partition(project, queue)
	qk := qkey(project, queue)
	return p.wake.claimChanges(qk, func() bool {
		q := p.queue(qk)
		return q != nil && q.mayClaim(e.now())
	})
}
