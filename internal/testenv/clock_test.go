package testenv

import (
	"sync"
	"testing"
	"time"
)

func TestClock(t *testing.T) {
	start := time.Date(2027, 1, 15, 12, 0, 0, 0, time.UTC)
	c := NewClock(start)
	if got := c.Now(); !got.Equal(start) || got.Location() != time.UTC {
		t.Fatalf("Now %v, want %v", got, start)
	}
	var now func() time.Time = c.Now // as storage.Clock and keystone.Options.Now
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				c.Add(time.Second)
				now()
			}
		})
	}
	wg.Wait()
	if got, want := c.Now(), start.Add(800*time.Second); !got.Equal(want) {
		t.Fatalf("after 800 concurrent Add(1s): %v, want %v", got, want)
	}
	c.Add(-time.Hour)
	if got, want := c.Now(), start.Add(800*time.Second-time.Hour); !got.Equal(want) {
		t.Fatalf("Add(-1h): %v, want %v", got, want)
	}
	c.Set(start)
	if !c.Now().Equal(start) {
		t.Fatalf("Set: %v", c.Now())
	}
	var zero Clock
	if !zero.Now().IsZero() {
		t.Fatalf("zero Clock reads %v", zero.Now())
	}
	zero.Add(time.Minute)
	if got := zero.Now(); got != (time.Time{}).Add(time.Minute) {
		t.Fatalf("zero Clock after Add(1m): %v", got)
	}
}
