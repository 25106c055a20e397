package loadgen

import "testing"

func TestLedgerAccount(t *testing.T) {
	l := newLedger("run1")
	key := func(worker int, n uint64) string { return string(l.appendMessageKey(nil, worker, n)) }
	l.produced(0, 0, 10) // worker 0: messages 0-9
	l.produced(7, 0, 10) // worker 7: messages 0-9, distinct from worker 0's
	for n := uint64(0); n < 10; n++ {
		if l.consumed(key(0, n)) {
			t.Fatalf("first delivery of 0.%d reported as a duplicate", n)
		}
	}
	if !l.consumed(key(0, 3)) {
		t.Fatal("second delivery of 0.3 not reported as a duplicate")
	}
	// Consumed before its producer saw the 201, then acknowledged.
	if l.consumed(key(2, 0)) {
		t.Fatal("early delivery reported as a duplicate")
	}
	l.produced(2, 0, 1)
	// Never acknowledged; and keys of another run or malformed.
	l.consumed(key(3, 5))
	for _, k := range []string{"run2.0.1", "run1.x.1", "run1.1", "run1.1.-1", ""} {
		if l.consumed(k) {
			t.Fatalf("first delivery of %q reported as a duplicate", k)
		}
	}
	if !l.consumed("run2.0.1") {
		t.Fatal("second delivery of another run's key not reported as a duplicate")
	}
	got := l.account(1, 2, true)
	want := Ledger{Produced: 21, Consumed: 11, Duplicates: 1, Unacked: 6, Lost: 10, Remaining: 2, Drained: true}
	if got != want {
		t.Fatalf("account %+v, want %+v", got, want)
	}
}

func TestLedgerKeyRoundTrip(t *testing.T) {
	l := newLedger("abcd1234")
	k, ok := l.parseKey(string(l.appendMessageKey(nil, 65535, 1<<40)))
	if !ok || k != (ledgerKey{worker: 65535, n: 1 << 40}) {
		t.Fatalf("parsed %+v %v", k, ok)
	}
}
