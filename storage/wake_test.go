package storage

import (
	"context"
	"testing"
)

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestSignals(t *testing.T) {
	var s Signals
	s.Wake("a") // nobody waits: nothing to do
	a1, done1 := s.Watch("a")
	a2, done2 := s.Watch("a")
	b, doneB := s.Watch("b")
	if a1 != a2 {
		t.Fatal("waiters of one key must share a channel")
	}
	if s.Waiting() != 3 {
		t.Fatalf("waiting %d, want 3", s.Waiting())
	}
	s.Wake("a")
	if !closed(a1) || closed(b) {
		t.Fatal("Wake(a) must close a's channel only")
	}
	again, doneAgain := s.Watch("a")
	if closed(again) {
		t.Fatal("a waiter after a wake must get a new channel")
	}
	s.WakeAll()
	if !closed(again) || !closed(b) {
		t.Fatal("WakeAll must close every channel")
	}
	for _, d := range []func(){done1, done2, doneB, doneAgain, done1} { // done is idempotent
		d()
	}
	if s.Waiting() != 0 || len(s.slots) != 0 {
		t.Fatalf("after every done: waiting %d, %d slots", s.Waiting(), len(s.slots))
	}
}

// waker is a Store (by embedding a nil one, never called) answering
// Changes with ch.
type waker struct {
	Store
	ch    chan struct{}
	dones int
}

func (w *waker) Changes(string, string) (<-chan struct{}, func()) {
	if w.ch == nil {
		return nil, nil
	}
	return w.ch, func() { w.dones++ }
}

type notWaker struct{ Store }

func (notWaker) Ping(context.Context) error { return nil }

func TestChanges(t *testing.T) {
	if ch, done, ok := Changes(notWaker{}, "p", "q"); ok || ch != nil || done == nil {
		t.Fatal("a store without Waker: ok must be false, done callable")
	}
	w := &waker{}
	if _, done, ok := Changes(w, "p", "q"); ok || done == nil {
		t.Fatal("a nil channel: ok must be false, done callable")
	} else {
		done()
	}
	w.ch = make(chan struct{})
	ch, done, ok := Changes(w, "p", "q")
	if !ok || ch != w.ch {
		t.Fatal("a Waker's channel must be passed on")
	}
	done()
	if w.dones != 1 {
		t.Fatalf("done called the Waker's %d times", w.dones)
	}
	if ch, done := NoChanges(); ch != nil || done == nil {
		t.Fatal("NoChanges")
	}
}
