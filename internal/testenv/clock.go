package testenv

import (
	"sync/atomic"
	"time"
)

// Clock is the fake time source of every package's tests: it stands still
// until the test moves it. It is safe for concurrent use, so a store's
// background goroutines may read it while the test advances it. Its Now
// method value serves as a storage.Clock and as keystone.Options.Now. The
// zero Clock reads the zero time.
type Clock struct{ t atomic.Pointer[time.Time] }

// NewClock returns a clock that reads t until it is moved.
func NewClock(t time.Time) *Clock {
	c := &Clock{}
	c.Set(t)
	return c
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	if p := c.t.Load(); p != nil {
		return *p
	}
	return time.Time{}
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) { c.t.Store(&t) }

// Add moves the clock by d (backwards when d is negative). Concurrent
// calls all count.
func (c *Clock) Add(d time.Duration) {
	for {
		old := c.t.Load()
		var next time.Time
		if old != nil {
			next = *old
		}
		next = next.Add(d)
		if c.t.CompareAndSwap(old, &next) {
			return
		}
	}
}
