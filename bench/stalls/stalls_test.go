package stalls

import (
	"bytes"
	"runtime"
	"runtime/trace"
	"strings"
	"testing"
	"time"
)

// spinFor readies whoever waits on ready, then keeps its P busy for d.
func spinFor(ready chan<- struct{}, d time.Duration) {
	close(ready)
	for start := time.Now(); time.Since(start) < d; {
	}
}

// TestFindsTheGoroutineThatHeldTheCPU: with one P, a goroutine woken by a
// busy one waits until the scheduler preempts the busy one (about 10 ms):
// the report must show that stall and name the busy goroutine.
func TestFindsTheGoroutineThatHeldTheCPU(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var buf bytes.Buffer
	if err := trace.Start(&buf); err != nil {
		t.Fatal(err)
	}
	ready, woke := make(chan struct{}), make(chan struct{})
	go func() {
		<-ready
		close(woke)
	}()
	time.Sleep(time.Millisecond) // the waiter blocks before the spinner starts
	go spinFor(ready, 40*time.Millisecond)
	<-woke
	trace.Stop()

	r, err := Analyze(&buf, Options{Min: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	r.WriteText(&text, 3)
	if len(r.Windows) == 0 {
		t.Fatalf("no stall found:\n%s", text.String())
	}
	found := false
	for _, w := range r.Windows {
		if w.End-w.Start >= 5*time.Millisecond && len(w.Running) > 0 && strings.HasSuffix(w.Running[0].Name, ".spinFor") {
			found = true
		}
	}
	if !found {
		t.Fatalf("no stall window names spinFor as the goroutine that ran:\n%s", text.String())
	}
	var goroutineStalls int
	for _, d := range r.Delays {
		if d.Kind == "goroutine" {
			goroutineStalls = d.Stalls
		}
	}
	if goroutineStalls == 0 {
		t.Fatalf("the waiter, woken by a goroutine, is not counted as stalled:\n%s", text.String())
	}
	if !strings.Contains(text.String(), "stall windows") {
		t.Fatalf("text report lacks its summary:\n%s", text.String())
	}
}

func TestRejectsWhatIsNotATrace(t *testing.T) {
	if _, err := Analyze(strings.NewReader("not a trace"), Options{}); err == nil {
		t.Fatal("analysed garbage without an error")
	}
}
