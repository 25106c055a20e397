package wal

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

const smallSegSize = 64 << 10

// bigRec is large enough that a few dozen appends cross several segments,
// which keeps the fdatasync-per-append tests fast.
func bigRec(i int) []byte {
	return append([]byte(fmt.Sprintf("big-%06d-", i)), bytes.Repeat([]byte{byte('a' + i%26)}, 4000)...)
}

func segmentCount(l *Log) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.segments)
}

// TestBusyLogRotatesWithoutKeepingZeros: a log filling segment after
// segment keeps every record, and every segment it retired, as well as
// the active one after a clean close, ends at its last frame.
func TestBusyLogRotatesWithoutKeepingZeros(t *testing.T) {
	dir := t.TempDir()
	opts := func(o *Options) { o.SegmentSize, o.Sync = smallSegSize, SyncAlways }
	l := openTest(t, dir, opts)
	n := 0
	for segmentCount(l) < 4 {
		n++
		if _, err := l.appendWait([][]byte{bigRec(n)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "*.wal"))
	if len(segs) < 4 {
		t.Fatalf("%d segment files for 4 segments", len(segs))
	}
	for _, s := range segs {
		st, err := os.Stat(s)
		if err != nil {
			t.Fatal(err)
		}
		first, err := segmentFirst(s)
		if err != nil {
			t.Fatal(err)
		}
		sc, err := scanSegment(s, first, nil)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if sc.end != st.Size() {
			t.Fatalf("%s is %d bytes for %d of frames: zeros kept", s, st.Size(), sc.end)
		}
	}

	l = openTest(t, dir, opts)
	defer l.Close()
	if l.LastIndex() != uint64(n) || l.Stats().RepairedTail {
		t.Fatalf("reopen: last=%d want %d, repaired=%v", l.LastIndex(), n, l.Stats().RepairedTail)
	}
	got := replayAll(t, l, 0)
	if len(got) != n {
		t.Fatalf("replayed %d of %d", len(got), n)
	}
	for i := 1; i <= n; i++ {
		if !bytes.Equal(got[uint64(i)], bigRec(i)) {
			t.Fatalf("record %d differs", i)
		}
	}
}

// TestOpenRemovesLegacySpare: earlier versions prepared the next segment
// as a zero-filled next.spare. It was never part of the log, whatever a
// crash left in it, and Open removes it.
func TestOpenRemovesLegacySpare(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, nil)
	appendRecs(t, l, 5)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// Garbage that would parse as a frame header if anything read it.
	garbage := bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef, 0x10, 0, 0, 0}, 1024)
	spare := filepath.Join(dir, legacySpareName)
	if err := os.WriteFile(spare, garbage, 0o644); err != nil {
		t.Fatal(err)
	}
	l = openTest(t, dir, nil)
	defer l.Close()
	if _, err := os.Stat(spare); !os.IsNotExist(err) {
		t.Fatalf("Open left %s: %v", legacySpareName, err)
	}
	if l.LastIndex() != 5 || l.FirstIndex() != 1 || l.Stats().RepairedTail {
		t.Fatalf("first/last %d/%d repaired=%v", l.FirstIndex(), l.LastIndex(), l.Stats().RepairedTail)
	}
	got := replayAll(t, l, 0)
	for i := 1; i <= 5; i++ {
		if !bytes.Equal(got[uint64(i)], rec(i)) {
			t.Fatalf("record %d = %q", i, got[uint64(i)])
		}
	}
	if last, err := l.appendWait([][]byte{[]byte("six")}); err != nil || last != 6 {
		t.Fatalf("append: %d %v", last, err)
	}
}
