package wal

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

const spareSegSize = 64 << 10

func spareOpts(o *Options) { o.SegmentSize, o.Sync = spareSegSize, SyncAlways }

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

func spareExists(t *testing.T, dir string) bool {
	t.Helper()
	_, err := os.Stat(filepath.Join(dir, spareName))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return err == nil
}

// awaitSpare waits for the spare in preparation, if any, to be filled. The
// wait happens outside l.mu: the filler never takes it, but a writer would.
func awaitSpare(t *testing.T, l *Log) bool {
	t.Helper()
	l.mu.Lock()
	sp := l.spare
	l.mu.Unlock()
	if sp == nil {
		return false
	}
	select {
	case <-sp.done:
	case <-time.After(10 * time.Second):
		t.Fatal("spare never became ready")
	}
	if sp.err != nil {
		t.Fatalf("spare: %v", sp.err)
	}
	return true
}

// appendUntilSpare appends bigRec(n+1), bigRec(n+2), ... until a spare is
// ready, checks that it is on disk, and returns the last number appended.
func appendUntilSpare(t *testing.T, l *Log, dir string, n int) int {
	t.Helper()
	for ; !awaitSpare(t, l); n++ {
		if _, err := l.Append([][]byte{bigRec(n + 1)}); err != nil {
			t.Fatal(err)
		}
	}
	if !spareExists(t, dir) {
		t.Fatal("ready spare not on disk")
	}
	return n
}

// appendThroughSpares appends bigRec(from..) one at a time until the log
// has moved into a segment taken from a spare rotations times,
// waiting for each spare so that every rotation finds one ready. It
// returns the next record number.
func appendThroughSpares(t *testing.T, l *Log, dir string, from, rotations int) int {
	t.Helper()
	i := from
	for done := 0; done < rotations; i++ {
		awaitSpare(t, l)
		segsBefore := segmentCount(l)
		l.mu.Lock()
		ready := l.spare != nil
		l.mu.Unlock()
		if _, err := l.Append([][]byte{bigRec(i)}); err != nil {
			t.Fatal(err)
		}
		if segmentCount(l) == segsBefore {
			continue
		}
		if !ready {
			t.Fatalf("record %d: the segment filled up before a spare was started", i)
		}
		l.mu.Lock()
		alloc, size, path := l.alloc, l.size, l.segments[len(l.segments)-1].path
		l.mu.Unlock()
		if alloc < spareSegSize {
			t.Fatalf("record %d: new segment has %d bytes allocated, want the spare's %d", i, alloc, spareSegSize)
		}
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() < spareSegSize || st.Size() < size {
			t.Fatalf("record %d: new segment file is %d bytes, want >= %d", i, st.Size(), spareSegSize)
		}
		// Recovery reads the first non-frame bytes as the end of the log:
		// the spare must hold nothing else.
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if j := bytes.IndexFunc(data[size:], func(r rune) bool { return r != 0 }); j >= 0 {
			t.Fatalf("record %d: new segment has a non-zero byte at %d past its frames", i, size+int64(j))
		}
		if spareExists(t, dir) {
			t.Fatalf("record %d: %s still exists after it became a segment", i, spareName)
		}
		done++
	}
	return i
}

// TestSpareBecomesNextSegment: a busy log rotates into zero-filled spares,
// and a clean close leaves neither the spare nor the zeros behind.
func TestSpareBecomesNextSegment(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, spareOpts)
	n := appendThroughSpares(t, l, dir, 1, 3) - 1
	if segs := segmentCount(l); segs < 4 {
		t.Fatalf("%d segments after three rotations", segs)
	}
	// Half into the current segment a new spare is due: Close must remove it.
	n = appendUntilSpare(t, l, dir, n)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if spareExists(t, dir) {
		t.Fatalf("%s left after Close", spareName)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "*.wal"))
	for _, s := range segs {
		if st, _ := os.Stat(s); st.Size() >= spareSegSize+spareSegSize/2 {
			t.Fatalf("%s is %d bytes after a clean close: zeros kept", s, st.Size())
		}
	}

	l = openTest(t, dir, spareOpts)
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

// copyDir copies every file of src as it is now, while the log is open:
// what a crash would leave, minus what the page cache had not written.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// TestCrashInSpareSegment: after a crash the zeros of a segment taken from
// a spare are the end of the log, not a torn tail to repair.
func TestCrashInSpareSegment(t *testing.T) {
	src := t.TempDir()
	l := openTest(t, src, spareOpts)
	defer l.Close()
	n := appendThroughSpares(t, l, src, 1, 2) - 1
	for range 3 { // a few more frames well inside the new segment
		n++
		if _, err := l.Append([][]byte{bigRec(n)}); err != nil {
			t.Fatal(err)
		}
	}
	l.mu.Lock()
	active, frames := l.segments[len(l.segments)-1].path, l.size
	l.mu.Unlock()

	dir := copyDir(t, src)
	seg := filepath.Join(dir, filepath.Base(active))
	st, err := os.Stat(seg)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() < spareSegSize || st.Size() <= frames {
		t.Fatalf("crashed segment is %d bytes for %d of frames: not a spare", st.Size(), frames)
	}

	l2 := openTest(t, dir, spareOpts)
	if l2.LastIndex() != uint64(n) || l2.Stats().RepairedTail {
		t.Fatalf("after crash: last=%d want %d, repaired=%v", l2.LastIndex(), n, l2.Stats().RepairedTail)
	}
	if spareExists(t, dir) {
		t.Fatalf("Open kept a crashed %s", spareName)
	}
	if broken, _ := filepath.Glob(filepath.Join(dir, "*.broken")); len(broken) != 0 {
		t.Fatalf("zeros were taken for damage: %v", broken)
	}
	if last, err := l2.Append([][]byte{[]byte("after-crash")}); err != nil || last != uint64(n+1) {
		t.Fatalf("append after crash: %d %v, want %d", last, err, n+1)
	}
	if err := l2.Close(); err != nil {
		t.Fatal(err)
	}
	l2 = openTest(t, dir, spareOpts)
	defer l2.Close()
	got := replayAll(t, l2, 0)
	if len(got) != n+1 || string(got[uint64(n+1)]) != "after-crash" {
		t.Fatalf("replayed %d records, want %d ending in after-crash", len(got), n+1)
	}
	for i := 1; i <= n; i++ {
		if !bytes.Equal(got[uint64(i)], bigRec(i)) {
			t.Fatalf("record %d differs", i)
		}
	}
}

// TestRotateDiscardsSpare: an explicit Rotate means the log is idle, so
// the zero-filled space is given back rather than used.
func TestRotateDiscardsSpare(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, spareOpts)
	defer l.Close()
	n := appendUntilSpare(t, l, dir, 0)
	if err := l.Rotate(); err != nil {
		t.Fatal(err)
	}
	if spareExists(t, dir) {
		t.Fatalf("%s survived Rotate", spareName)
	}
	l.mu.Lock()
	sp, alloc, path := l.spare, l.alloc, l.segments[len(l.segments)-1].path
	l.mu.Unlock()
	if sp != nil {
		t.Fatal("Rotate kept the spare")
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() != 0 || alloc != 0 {
		t.Fatalf("idle rotation's segment is %d bytes, %d allocated: want a fresh empty file", st.Size(), alloc)
	}
	if last, err := l.Append([][]byte{[]byte("after-rotate")}); err != nil || last != uint64(n+1) {
		t.Fatalf("append after rotate: %d %v", last, err)
	}
	if got := replayAll(t, l, 0); len(got) != n+1 {
		t.Fatalf("replayed %d of %d", len(got), n+1)
	}
}

// TestOpenRemovesLeftoverSpare: a spare is never part of the log, whatever
// a crash left in it.
func TestOpenRemovesLeftoverSpare(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, spareOpts)
	appendRecs(t, l, 5)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// Garbage that would parse as a frame header if anything read it.
	garbage := bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef, 0x10, 0, 0, 0}, 1024)
	if err := os.WriteFile(filepath.Join(dir, spareName), garbage, 0o644); err != nil {
		t.Fatal(err)
	}
	l = openTest(t, dir, spareOpts)
	defer l.Close()
	if spareExists(t, dir) {
		t.Fatalf("Open left %s", spareName)
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
	if last, err := l.Append([][]byte{[]byte("six")}); err != nil || last != 6 {
		t.Fatalf("append: %d %v", last, err)
	}
}

// TestFramesPaddedToPage: each write reaches a page boundary with zeros,
// which the next frame overwrites. Without preallocation the file grows
// only by the writes, so its size shows the padding was written.
func TestFramesPaddedToPage(t *testing.T) {
	for _, prealloc := range []bool{true, false} {
		t.Run(fmt.Sprintf("prealloc=%v", prealloc), func(t *testing.T) {
			dir := t.TempDir()
			l := openTest(t, dir, nil)
			defer l.Close()
			l.mu.Lock()
			l.noPrealloc = !prealloc
			l.padWrites = true // as in a segment taken from a spare
			path := l.segments[len(l.segments)-1].path
			l.mu.Unlock()
			var want [][]byte
			for i := 0; i < 40; i++ {
				// Sizes vary so frames end at many offsets within a page,
				// one exactly on the boundary.
				r := bytes.Repeat([]byte{byte(i + 1)}, 1+i*i*7%5000)
				if i == 7 {
					l.mu.Lock()
					used := l.size % pageSize
					l.mu.Unlock()
					// header, 2-byte uvarint length, record: end on a page.
					r = bytes.Repeat([]byte{0xee}, int(2*pageSize-used-headerSize-2))
				}
				want = append(want, r)
				if _, err := l.Append([][]byte{r}); err != nil {
					t.Fatal(err)
				}
				l.mu.Lock()
				end := l.size
				l.mu.Unlock()
				if i == 7 && end%pageSize != 0 {
					t.Fatalf("frame 7 meant to end on a page ends at %d", end)
				}
				pageEnd := (end + pageSize - 1) / pageSize * pageSize
				f, err := os.Open(path)
				if err != nil {
					t.Fatal(err)
				}
				st, _ := f.Stat()
				tail := make([]byte, pageEnd-end)
				_, err = f.ReadAt(tail, end)
				f.Close()
				if err != nil && err != io.EOF {
					t.Fatal(err)
				}
				if err == io.EOF {
					t.Fatalf("frame %d: file is %d bytes, frames end at %d: no padding", i, st.Size(), end)
				}
				if !bytes.Equal(tail, make([]byte, len(tail))) {
					t.Fatalf("frame %d: non-zero bytes between %d and %d", i, end, pageEnd)
				}
				if !prealloc && st.Size() != pageEnd {
					t.Fatalf("frame %d: file is %d bytes, want frames' end %d padded to %d", i, st.Size(), end, pageEnd)
				}
			}
			got := replayAll(t, l, 0)
			if len(got) != len(want) {
				t.Fatalf("replayed %d of %d", len(got), len(want))
			}
			for i, r := range want {
				if !bytes.Equal(got[uint64(i+1)], r) {
					t.Fatalf("record %d: %d bytes, want %d", i+1, len(got[uint64(i+1)]), len(r))
				}
			}
		})
	}
}

// TestNoSpareWithoutSyncAlways: without per-commit syncs a spare only costs
// (writing into written, uncached blocks is dearer than into preallocated
// ones), so only SyncAlways logs prepare one.
func TestNoSpareWithoutSyncAlways(t *testing.T) {
	for _, pol := range []SyncPolicy{SyncNever, SyncInterval} {
		t.Run(pol.String(), func(t *testing.T) {
			dir := t.TempDir()
			l := openTest(t, dir, func(o *Options) { spareOpts(o); o.Sync = pol })
			defer l.Close()
			for i := 1; segmentCount(l) < 3; i++ {
				if _, err := l.Append([][]byte{bigRec(i)}); err != nil {
					t.Fatal(err)
				}
			}
			l.mu.Lock()
			sp := l.spare
			l.mu.Unlock()
			if sp != nil || spareExists(t, dir) {
				t.Fatal("a spare was prepared")
			}
		})
	}
}
