package wal

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// writeCall is one Write as its callback saw it. The callback may run
// before Write returns, so it only records the pointer; last is filled in by
// the writer afterwards and read once every writer has finished.
type writeCall struct {
	last  uint64
	calls int   // guarded by the test's mutex
	err   error // guarded by the test's mutex
}

// TestWriteCallbacksInIndexOrder: with SyncAlways, concurrent writers'
// callbacks each run once, with nil, in the order of their indexes, and
// every record written survives a reopen.
func TestWriteCallbacksInIndexOrder(t *testing.T) {
	const workers, per = 8, 200
	const total = workers * per
	dir := t.TempDir()
	l := openTest(t, dir, nil)
	closed := false
	defer func() {
		if !closed {
			l.Close()
		}
	}()

	var mu sync.Mutex
	var order []*writeCall
	allDone := make(chan struct{})
	var syncsAtCallback []uint64

	var wg sync.WaitGroup
	want := make([][]string, workers) // per worker: record contents by call
	lasts := make([][]*writeCall, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				c := &writeCall{}
				rec := fmt.Sprintf("w%d-%d", w, i)
				last, err := l.Write([][]byte{[]byte(rec)}, nil, func(err error) {
					syncs := l.Stats().Syncs
					mu.Lock()
					defer mu.Unlock()
					c.calls++
					c.err = err
					if c.calls == 1 {
						order = append(order, c)
						syncsAtCallback = append(syncsAtCallback, syncs)
						if len(order) == total {
							close(allDone)
						}
					}
				})
				if err != nil {
					t.Error(err)
					return
				}
				c.last = last
				want[w] = append(want[w], rec)
				lasts[w] = append(lasts[w], c)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	select {
	case <-allDone:
	case <-time.After(10 * time.Second):
		mu.Lock()
		n := len(order)
		mu.Unlock()
		t.Fatalf("only %d of %d callbacks ran", n, total)
	}

	// Every callback has run and no sync is pending: the counters are still.
	st := l.Stats()
	if st.Appends != total || st.Records != total {
		t.Fatalf("appends=%d records=%d, want %d", st.Appends, st.Records, total)
	}
	if st.Groups < 1 || st.Groups > st.Syncs {
		t.Fatalf("groups=%d syncs=%d: want 1 <= groups <= syncs", st.Groups, st.Syncs)
	}
	t.Logf("appends=%d groups=%d syncs=%d", st.Appends, st.Groups, st.Syncs)

	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	closed = true

	// Close must not have called any callback a second time.
	mu.Lock()
	defer mu.Unlock()
	if len(order) != total {
		t.Fatalf("%d callbacks, want %d", len(order), total)
	}
	for i, c := range order {
		if c.calls != 1 || c.err != nil {
			t.Fatalf("callback for index %d: %d calls, err %v", c.last, c.calls, c.err)
		}
		if syncsAtCallback[i] == 0 {
			t.Fatalf("callback for index %d ran before any fdatasync", c.last)
		}
		if i > 0 && c.last <= order[i-1].last {
			t.Fatalf("callback %d for index %d after callback for index %d", i, c.last, order[i-1].last)
		}
	}
	if order[0].last != 1 || order[total-1].last != total {
		t.Fatalf("indexes %d..%d, want 1..%d", order[0].last, order[total-1].last, total)
	}

	l = openTest(t, dir, nil)
	defer l.Close()
	got := replayAll(t, l, 0)
	if len(got) != total {
		t.Fatalf("replayed %d of %d", len(got), total)
	}
	for w := range workers {
		for i, c := range lasts[w] {
			if string(got[c.last]) != want[w][i] {
				t.Fatalf("index %d = %q, want %q", c.last, got[c.last], want[w][i])
			}
		}
	}
}

// TestWriteCallbackBeforeReturnWithoutSyncAlways: without SyncAlways no
// sync is awaited, so the caller is told before Write returns.
func TestWriteCallbackBeforeReturnWithoutSyncAlways(t *testing.T) {
	for _, pol := range []SyncPolicy{SyncNever, SyncInterval} {
		t.Run(pol.String(), func(t *testing.T) {
			l := openTest(t, t.TempDir(), func(o *Options) { o.Sync, o.SyncInterval = pol, time.Hour })
			defer l.Close()
			for i := 1; i <= 20; i++ {
				var calls atomic.Int32
				var gotErr atomic.Value
				last, err := l.Write([][]byte{rec(i)}, nil, func(err error) {
					calls.Add(1)
					if err != nil {
						gotErr.Store(err)
					}
				})
				if err != nil || last != uint64(i) {
					t.Fatalf("write %d: last=%d err=%v", i, last, err)
				}
				if n := calls.Load(); n != 1 {
					t.Fatalf("write %d: callback ran %d times before Write returned", i, n)
				}
				if e := gotErr.Load(); e != nil {
					t.Fatalf("write %d: callback err %v", i, e)
				}
			}
			if got := replayAll(t, l, 0); len(got) != 20 {
				t.Fatalf("replayed %d of 20", len(got))
			}
		})
	}
}

// TestWriteErrorsSkipCallback: a Write that fails must not also report
// its batch through the callback.
func TestWriteErrorsSkipCallback(t *testing.T) {
	for _, pol := range []SyncPolicy{SyncAlways, SyncInterval, SyncNever} {
		t.Run(pol.String(), func(t *testing.T) {
			l := openTest(t, t.TempDir(), func(o *Options) { o.Sync = pol })
			var calls atomic.Int32
			cb := func(error) { calls.Add(1) }
			for _, empty := range [][][]byte{nil, {}} {
				if _, err := l.Write(empty, nil, cb); err == nil {
					t.Fatalf("Write(%#v) succeeded", empty)
				}
			}
			if l.LastIndex() != 0 {
				t.Fatalf("empty batch took index %d", l.LastIndex())
			}
			if _, err := l.Write([][]byte{[]byte("kept")}, nil, nil); err != nil {
				t.Fatalf("write without callback: %v", err)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := l.Write([][]byte{[]byte("late")}, nil, cb); !errors.Is(err, errClosed) {
				t.Fatalf("write after close: %v, want errClosed", err)
			}
			if n := calls.Load(); n != 0 {
				t.Fatalf("callback ran %d times for failed writes", n)
			}
		})
	}
}

// TestSyncRunsPendingCallbacks holds syncMu so the syncer cannot tell
// anyone: the callbacks are then provably pending, and Sync alone must
// deliver them, in order, before it returns.
func TestSyncRunsPendingCallbacks(t *testing.T) {
	l := openTest(t, t.TempDir(), nil)
	defer l.Close()
	const n = 10
	var mu sync.Mutex
	var got []int

	l.syncMu.Lock()
	for i := range n {
		if _, err := l.Write([][]byte{rec(i)}, nil, func(err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Errorf("callback %d: %v", i, err)
			}
			got = append(got, i)
		}); err != nil {
			l.syncMu.Unlock()
			t.Fatal(err)
		}
	}
	mu.Lock()
	early := len(got)
	mu.Unlock()
	l.syncMu.Unlock()
	if early != 0 {
		t.Fatalf("%d callbacks ran without a sync", early)
	}

	if err := l.Sync(); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != n {
		t.Fatalf("%d of %d callbacks ran by the time Sync returned", len(got), n)
	}
	for i, v := range got {
		if v != i {
			t.Fatalf("callbacks ran in order %v", got)
		}
	}
	if st := l.Stats(); st.Groups < 1 || st.Groups > st.Syncs {
		t.Fatalf("groups=%d syncs=%d", st.Groups, st.Syncs)
	}
}

// TestSyncWithNothingWritten: Sync forces an fdatasync even when nothing
// is pending, whatever the policy.
func TestSyncWithNothingWritten(t *testing.T) {
	for _, pol := range []SyncPolicy{SyncAlways, SyncInterval, SyncNever} {
		t.Run(pol.String(), func(t *testing.T) {
			l := openTest(t, t.TempDir(), func(o *Options) { o.Sync = pol })
			if err := l.Sync(); err != nil {
				t.Fatalf("Sync on an empty log: %v", err)
			}
			if _, err := l.appendWait([][]byte{rec(1)}); err != nil {
				t.Fatal(err)
			}
			if err := l.Sync(); err != nil {
				t.Fatalf("Sync: %v", err)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestCallerSyncs: with CallerSyncs no goroutine syncs on its own; frames
// written are durable (their callbacks run, in order) only once the caller
// syncs, and one SyncWritten covers every frame written before it.
func TestCallerSyncs(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, func(o *Options) { o.Sync = SyncAlways; o.CallerSyncs = true })
	var mu sync.Mutex
	var told []int
	for i := range 3 {
		if _, err := l.Write([][]byte{[]byte(fmt.Sprintf("r%d", i))}, nil, func(err error) {
			if err != nil {
				t.Errorf("frame %d: %v", i, err)
			}
			mu.Lock()
			told = append(told, i)
			mu.Unlock()
		}); err != nil {
			t.Fatal(err)
		}
	}
	// Without CallerSyncs the writes would have woken the syncer, which
	// usually syncs before this looks.
	mu.Lock()
	early := len(told)
	mu.Unlock()
	if early != 0 || l.Stats().Syncs != 0 {
		t.Fatalf("frames made durable without the caller: %d told, %d syncs", early, l.Stats().Syncs)
	}
	if err := l.SyncWritten(); err != nil {
		t.Fatal(err)
	}
	if st := l.Stats(); st.Syncs != 1 || st.Groups != 1 {
		t.Fatalf("one sync for three frames: %+v", st)
	}
	if fmt.Sprint(told) != "[0 1 2]" {
		t.Fatalf("callbacks %v, want [0 1 2]", told)
	}
	if err := l.SyncWritten(); err != nil || l.Stats().Syncs != 1 {
		t.Fatalf("a sync with nothing written: %v, %d syncs", err, l.Stats().Syncs)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTest(t, dir, nil)
	defer l.Close()
	if got := l.LastIndex(); got != 3 {
		t.Fatalf("last index after reopen %d, want 3", got)
	}
}
