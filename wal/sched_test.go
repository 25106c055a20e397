package wal

import (
	"testing"

	"golang.org/x/sys/unix"
)

// kernelHasCustomSlices probes on a thread of its own, which ends with its
// goroutine, so the test's threads keep the default slice.
func kernelHasCustomSlices() bool {
	got := make(chan bool)
	go func() {
		got <- shortenSlice(syncerSlice) == syncerSlice
		// Still locked when it returns: the thread ends here.
	}()
	return <-got
}

func TestSyncerAsksForShortSlice(t *testing.T) {
	want := syncerSlice
	if !kernelHasCustomSlices() {
		t.Log("this kernel has no custom scheduler slices: the syncer keeps the default")
		want = 0
	}
	for _, policy := range []SyncPolicy{SyncAlways, SyncInterval} {
		l := openTest(t, t.TempDir(), func(o *Options) { o.Sync = policy })
		if _, err := l.appendWait([][]byte{rec(1)}); err != nil {
			t.Fatal(err)
		}
		if policy == SyncInterval {
			want = 0 // nobody waits for its syncs
		}
		if got := l.Stats().SyncerSlice; got != want {
			t.Errorf("%v: syncer slice = %v, want %v", policy, got, want)
		}
		l.Close()
	}
	// The probe left this goroutine's thread as it was.
	if attr, err := unix.SchedGetAttr(0, 0); err == nil && attr.Runtime == uint64(syncerSlice) {
		t.Error("the test's own thread got the short slice")
	}
}
