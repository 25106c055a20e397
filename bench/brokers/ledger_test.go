package brokers

import (
	"bytes"
	"sync"
	"testing"
)

func TestLedgerExactlyOnce(t *testing.T) {
	l := newLedgerID("run1", 2)
	l.Produced(0, 0, 10)
	l.Produced(1, 0, 5)
	for w, n := range []int{10, 5} {
		for i := range n {
			if l.Consumed(l.AppendKey(nil, w, uint64(i))) {
				t.Fatalf("first delivery of %d.%d reported as a duplicate", w, i)
			}
		}
	}
	if !l.Complete() {
		t.Fatal("all consumed, yet not complete")
	}
	got := l.Account(0, true)
	want := Counts{Produced: 15, Consumed: 15, Drained: true}
	if got != want {
		t.Fatalf("account = %+v, want %+v", got, want)
	}
}

func TestLedgerLostDuplicatesUnacked(t *testing.T) {
	l := newLedgerID("run1", 1)
	l.Produced(0, 0, 10) // 0..9 acknowledged
	for i := range 8 {   // 8 and 9 never come
		l.Consumed(l.AppendKey(nil, 0, uint64(i)))
	}
	if !l.Consumed(l.AppendKey(nil, 0, 3)) {
		t.Fatal("second delivery of 0.3 not reported as a duplicate")
	}
	l.Consumed(l.AppendKey(nil, 0, 3))              // a third: two duplicates in all
	l.Consumed(l.AppendKey(nil, 0, 12))             // a send that failed, yet was stored
	l.Consumed([]byte("other.0.1"))                 // another run's message
	l.Consumed(l.AppendKey(nil, 7, 1))              // a worker that does not exist
	l.Consumed(append(l.AppendKey(nil, 0, 0), 'x')) // malformed
	if l.Complete() {
		t.Fatal("complete with two messages missing")
	}
	got := l.Account(2, true)
	want := Counts{Produced: 10, Consumed: 8, Duplicates: 2, Unacked: 1, Foreign: 3, Remaining: 2, Drained: true, Lost: 2}
	if got != want {
		t.Fatalf("account = %+v, want %+v", got, want)
	}
	if got := l.Account(2, false); got.Lost != 0 || got.Drained {
		t.Fatalf("undrained account claims %d lost", got.Lost)
	}
}

// A consumer may see a message before its producer sees the
// acknowledgement: that is neither unacked nor a duplicate once the
// acknowledgement is recorded.
func TestLedgerConsumedBeforeProduced(t *testing.T) {
	l := newLedgerID("r", 1)
	l.Consumed(l.AppendKey(nil, 0, 4))
	if got := l.Account(0, true); got.Unacked != 1 || got.Produced != 0 {
		t.Fatalf("before the ack: %+v", got)
	}
	l.Produced(0, 0, 5)
	l.Produced(0, 0, 5) // a repeat changes nothing
	for i := range 4 {
		l.Consumed(l.AppendKey(nil, 0, uint64(i)))
	}
	if got := l.Account(0, true); got != (Counts{Produced: 5, Consumed: 5, Drained: true}) {
		t.Fatalf("after the ack: %+v", got)
	}
	if !l.Complete() {
		t.Fatal("not complete")
	}
}

func TestLedgerRejectsHugeSequence(t *testing.T) {
	l := newLedgerID("r", 1)
	l.Consumed(l.AppendKey(nil, 0, maxSeq))
	if got := l.Account(0, true); got.Foreign != 1 || len(l.workers[0].state) != 0 {
		t.Fatalf("a key past maxSeq was taken: %+v, %d states", got, len(l.workers[0].state))
	}
}

func TestLedgerConcurrent(t *testing.T) {
	const workers, per = 4, 5000
	l := NewLedger(workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for n := 0; n < per; n += 10 {
				l.Produced(w, uint64(n), 10)
			}
		})
		wg.Go(func() {
			for n := range per {
				l.Consumed(l.AppendKey(nil, w, uint64(n)))
			}
		})
	}
	wg.Wait()
	if got := l.Account(0, true); got != (Counts{Produced: workers * per, Consumed: workers * per, Drained: true}) {
		t.Fatalf("account = %+v", got)
	}
}

func TestBodyCarriesKey(t *testing.T) {
	l := newLedgerID("abc", 3)
	key := l.AppendKey(nil, 2, 77)
	b := appendBody(nil, key, 1000)
	if len(b) != 1000 || !bytes.Equal(keyOf(b), []byte("abc.2.77")) {
		t.Fatalf("body %d bytes, key %q", len(b), keyOf(b))
	}
	if bytes.ContainsAny(b, "\"\\") {
		t.Fatal("body needs JSON escaping")
	}
}

func TestRequireLoopback(t *testing.T) {
	for _, ok := range []string{"http://127.0.0.1:8888", "http://localhost:1", "amqp://guest:guest@127.0.0.1:5672/", "http://[::1]:80", "http://127.3.2.1"} {
		if err := requireLoopback(ok); err != nil {
			t.Errorf("%s refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"http://10.0.0.1:8888", "amqp://guest@192.168.1.2/", "http://example.com", "http://0.0.0.0:1"} {
		if requireLoopback(bad) == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
