package wal

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// defaultOptions are the options of a log in dir as Open completes them.
func defaultOptions(dir string) Options {
	return Options{Dir: dir, SegmentSize: defaultSegmentSize, Sync: SyncAlways, SyncInterval: defaultSyncInterval}
}

// appendWait writes records as one batch and waits until it is durable
// per the sync policy, returning the index of the last record.
func (l *Log) appendWait(records [][]byte) (uint64, error) {
	return l.appendWaitAt(records, nil)
}

// appendWaitAt is appendWait that also reports where each record landed:
// when pos is non-nil (len(pos) >= len(records)) pos[i] receives record
// i's position, for ReadAt.
func (l *Log) appendWaitAt(records [][]byte, pos []Pos) (uint64, error) {
	if len(records) == 0 {
		return l.LastIndex(), nil
	}
	done := make(chan error, 1)
	last, err := l.Write(records, pos, func(err error) { done <- err })
	if err != nil {
		return 0, err
	}
	return last, <-done
}

// replay is ReplayAt without the positions.
func (l *Log) replay(after uint64, fn func(index uint64, rec []byte) error) error {
	return l.ReplayAt(after, func(index uint64, rec []byte, _ Pos) error { return fn(index, rec) })
}

func openTest(t *testing.T, dir string, mut func(*Options)) *Log {
	t.Helper()
	o := defaultOptions(dir)
	if mut != nil {
		mut(&o)
	}
	l, err := Open(o)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return l
}

// appendRecs appends rec(1) to rec(n), one frame each.
func appendRecs(t *testing.T, l *Log, n int) {
	t.Helper()
	for i := 1; i <= n; i++ {
		if _, err := l.appendWait([][]byte{rec(i)}); err != nil {
			t.Fatal(err)
		}
	}
}

func rec(i int) []byte {
	return []byte(fmt.Sprintf("record-%06d-%s", i, bytes.Repeat([]byte{'x'}, i%50)))
}

func replayAll(t *testing.T, l *Log, after uint64) map[uint64][]byte {
	t.Helper()
	got := map[uint64][]byte{}
	prev := after
	err := l.replay(after, func(idx uint64, r []byte) error {
		if idx != prev+1 {
			return fmt.Errorf("index %d after %d", idx, prev)
		}
		prev = idx
		got[idx] = append([]byte(nil), r...)
		return nil
	})
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	return got
}

func TestRoundTripAcrossReopenAndPolicies(t *testing.T) {
	for _, pol := range []SyncPolicy{SyncAlways, SyncInterval, SyncNever} {
		for _, comp := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/compress=%v", pol, comp), func(t *testing.T) {
				dir := t.TempDir()
				mut := func(o *Options) { o.Sync = pol; o.Compression = comp; o.SegmentSize = 4 << 10 }
				l := openTest(t, dir, mut)
				idx := 0
				for b := 0; b < 50; b++ {
					var batch [][]byte
					for i := 0; i < b%7+1; i++ {
						idx++
						batch = append(batch, rec(idx))
					}
					last, err := l.appendWait(batch)
					if err != nil || last != uint64(idx) {
						t.Fatalf("append: last=%d want %d err=%v", last, idx, err)
					}
				}
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
				if _, err := l.appendWait([][]byte{[]byte("x")}); !errors.Is(err, errClosed) {
					t.Fatalf("append after close: %v", err)
				}
				l = openTest(t, dir, mut)
				defer l.Close()
				if l.LastIndex() != uint64(idx) || l.FirstIndex() != 1 {
					t.Fatalf("first/last = %d/%d", l.FirstIndex(), l.LastIndex())
				}
				got := replayAll(t, l, 0)
				for i := 1; i <= idx; i++ {
					if !bytes.Equal(got[uint64(i)], rec(i)) {
						t.Fatalf("record %d = %q", i, got[uint64(i)])
					}
				}
				if n := len(replayAll(t, l, 100)); n != idx-100 {
					t.Fatalf("replay after 100: %d records", n)
				}
				last, err := l.appendWait([][]byte{[]byte("next")})
				if err != nil || last != uint64(idx+1) {
					t.Fatalf("append after reopen: %d %v", last, err)
				}
			})
		}
	}
}

func TestCompactDropsCoveredSegments(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, func(o *Options) { o.SegmentSize = 1024 })
	defer l.Close()
	appendRecs(t, l, 200)
	before, _ := filepath.Glob(filepath.Join(dir, "*.wal"))
	if err := l.compact(150); err != nil {
		t.Fatal(err)
	}
	after, _ := filepath.Glob(filepath.Join(dir, "*.wal"))
	if len(after) >= len(before) {
		t.Fatalf("compact removed nothing: %d -> %d segments", len(before), len(after))
	}
	first := l.FirstIndex()
	if first > 151 || first < 2 {
		t.Fatalf("first index %d after compact(150)", first)
	}
	got := replayAll(t, l, first-1)
	if len(got) != int(200-first+1) || !bytes.Equal(got[200], rec(200)) {
		t.Fatalf("replay after compact: %d records", len(got))
	}
	if err := l.Rotate(); err != nil {
		t.Fatal(err)
	}
	if err := l.compact(l.LastIndex()); err != nil {
		t.Fatal(err)
	}
	if l.FirstIndex() != 0 {
		t.Fatalf("everything compacted, first index = %d", l.FirstIndex())
	}
}

func TestConcurrentAppendersGroupCommit(t *testing.T) {
	l := openTest(t, t.TempDir(), nil)
	defer l.Close()
	const workers, per = 16, 100
	var mu sync.Mutex
	seen := map[uint64]string{}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				a, b := fmt.Sprintf("w%d-%d-a", w, i), fmt.Sprintf("w%d-%d-b", w, i)
				last, err := l.appendWait([][]byte{[]byte(a), []byte(b)})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				seen[last-1], seen[last] = a, b
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != workers*per*2 {
		t.Fatalf("%d distinct indexes, want %d", len(seen), workers*per*2)
	}
	got := replayAll(t, l, 0)
	for idx, want := range seen {
		if string(got[idx]) != want {
			t.Fatalf("index %d = %q want %q", idx, got[idx], want)
		}
	}
	st := l.Stats()
	if st.Appends != workers*per || st.Syncs >= st.Appends {
		t.Fatalf("no group commit: %+v", st)
	}
	t.Logf("appends=%d groups=%d syncs=%d", st.Appends, st.Groups, st.Syncs)
}

func TestRecordTooLarge(t *testing.T) {
	l := openTest(t, t.TempDir(), nil)
	defer l.Close()
	if _, err := l.appendWait([][]byte{make([]byte, maxBatchBytes+1)}); !errors.Is(err, errRecordTooLarge) {
		t.Fatalf("err = %v", err)
	}
}

// TestRetiredSegmentSyncedInBackground: a full segment is synced off the
// append path, and the next sync (here Close) waits for it.
func TestRetiredSegmentSyncedInBackground(t *testing.T) {
	for _, pol := range []SyncPolicy{SyncNever, SyncInterval, SyncAlways} {
		t.Run(pol.String(), func(t *testing.T) {
			dir := t.TempDir()
			l := openTest(t, dir, func(o *Options) { o.Sync, o.SegmentSize, o.SyncInterval = pol, 512, time.Hour })
			for i := 0; i < 40; i++ {
				if _, err := l.appendWait([][]byte{rec(i)}); err != nil {
					t.Fatal(err)
				}
			}
			l.mu.Lock()
			segs := len(l.segments)
			l.mu.Unlock()
			if segs < 3 {
				t.Fatalf("%d segments: no rotation", segs)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if l.retiring != nil {
				t.Fatal("Close did not wait for the retired segment")
			}
			l = openTest(t, dir, nil)
			defer l.Close()
			if got := replayAll(t, l, 0); len(got) != 40 {
				t.Fatalf("replayed %d of 40", len(got))
			}
		})
	}
}
