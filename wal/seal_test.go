package wal

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// sealedLog writes 40 records of one frame each in segments of 256 bytes
// and closes the log, returning the segment files and where each record
// lies.
func sealedLog(t *testing.T, dir string) ([]string, map[uint64]Pos) {
	t.Helper()
	l := openTest(t, dir, func(o *Options) { o.SegmentSize = 256 })
	where := map[uint64]Pos{}
	for i := 1; i <= 40; i++ {
		pos := make([]Pos, 1)
		if _, err := l.appendWaitAt([][]byte{rec(i)}, pos); err != nil {
			t.Fatal(err)
		}
		where[uint64(i)] = pos[0]
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "*.wal"))
	if len(segs) < 4 {
		t.Fatalf("want several segments, got %d", len(segs))
	}
	return segs, where
}

// TestOpenReadsOnlyUnsealedSegments: every retired segment is sealed, and
// open takes a sealed segment's last index from its seal without reading
// it: a segment made unreadable (but of the same size) still opens. The
// last segment is never trusted to a seal.
func TestOpenReadsOnlyUnsealedSegments(t *testing.T) {
	dir := t.TempDir()
	segs, _ := sealedLog(t, dir)
	for _, s := range segs[:len(segs)-1] {
		if _, err := os.Stat(sealPath(s)); err != nil {
			t.Fatalf("retired segment %s not sealed: %v", s, err)
		}
	}
	if _, err := os.Stat(sealPath(segs[len(segs)-1])); err == nil {
		t.Fatal("the active segment was sealed")
	}
	// Damage a sealed segment before its last frame (which open checks
	// against the seal): read whole, it would fail the open.
	mid := segs[1]
	data, _ := os.ReadFile(mid)
	s, ok := decodeSeal(mustRead(t, sealPath(mid)))
	if !ok || s.end != int64(len(data)) {
		t.Fatalf("seal %+v for %d bytes", s, len(data))
	}
	for i := range data[:s.lastFrame] {
		data[i] ^= 0xff
	}
	os.WriteFile(mid, data, 0o644)
	l := openTest(t, dir, nil)
	defer l.Close()
	if l.LastIndex() != 40 {
		t.Fatalf("last = %d", l.LastIndex())
	}
	var firsts []uint64
	for _, si := range l.Segments() {
		firsts = append(firsts, si.First)
	}
	if len(firsts) != len(segs) {
		t.Fatalf("segments %v for %d files", firsts, len(segs))
	}
}

// TestCorruptionInSealedSegmentIsReportedWhenRead: open does not read a
// sealed segment, so damage in it is found when its records are read:
// ReadAt of any record of that segment fails (checked once, whole) and
// replay fails, while the other segments read as before.
func TestCorruptionInSealedSegmentIsReportedWhenRead(t *testing.T) {
	dir := t.TempDir()
	segs, where := sealedLog(t, dir)
	data, _ := os.ReadFile(segs[0])
	data[30] ^= 0xff // inside the first frame: the seal checks only the last
	os.WriteFile(segs[0], data, 0o644)
	l := openTest(t, dir, nil)
	defer l.Close()
	bad, _ := segmentFirst(segs[0])
	for idx, pos := range where {
		err := l.ReadAt(pos, make([]byte, len(rec(int(idx)))))
		if pos.Segment == bad && !errors.Is(err, errCorrupt) {
			t.Fatalf("record %d of the damaged segment: ReadAt = %v, want errCorrupt", idx, err)
		}
		if pos.Segment != bad && err != nil {
			t.Fatalf("record %d: %v", idx, err)
		}
	}
	if err := l.replay(0, func(uint64, []byte) error { return nil }); !errors.Is(err, errCRCMismatch) {
		t.Fatalf("replay = %v, want a CRC mismatch", err)
	}
	last := where[40].Segment
	if err := l.replay(last-1, func(uint64, []byte) error { return nil }); err != nil {
		t.Fatalf("replay after the damaged segment: %v", err)
	}
}

// TestSealThatDoesNotMatchIsIgnored: a seal whose segment changed size,
// whose last frame is not where it says, or that is torn, is not trusted:
// the segment is read, as without a seal, and sealed again.
func TestSealThatDoesNotMatchIsIgnored(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func(seg string, s seal)
	}{
		{"segment grew", func(seg string, _ seal) {
			f, _ := os.OpenFile(seg, os.O_APPEND|os.O_WRONLY, 0)
			f.Write([]byte{1, 2, 3})
			f.Close()
		}},
		{"last frame elsewhere", func(seg string, s seal) {
			s.lastFrame = 0
			os.WriteFile(sealPath(seg), s.encode(), 0o644)
		}},
		{"wrong last index", func(seg string, s seal) {
			s.last++
			os.WriteFile(sealPath(seg), s.encode(), 0o644)
		}},
		{"torn", func(seg string, s seal) {
			os.WriteFile(sealPath(seg), s.encode()[:sealSize-3], 0o644)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			segs, _ := sealedLog(t, dir)
			s, _ := decodeSeal(mustRead(t, sealPath(segs[0])))
			c.edit(segs[0], s)
			first, _ := segmentFirst(segs[0])
			if _, ok := sealed(segs[0], first); ok {
				t.Fatal("seal trusted")
			}
			l, err := Open(Options{Dir: dir})
			if c.name == "segment grew" {
				// Read whole, the segment has bytes after its frames
				// that are no frame: corruption, not a torn tail.
				if !errors.Is(err, errCorrupt) {
					t.Fatalf("open = %v, want errCorrupt", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			if len(replayAll(t, l, 0)) != 40 {
				t.Fatal("records lost")
			}
			if _, ok := sealed(segs[0], first); !ok {
				t.Fatal("segment read whole at open but not sealed again")
			}
		})
	}
}

// TestTornTailRepairedWithSealedSegments: a torn write at the end of the
// last segment is repaired as before when the segments before it are
// sealed, and a seal left by a removed segment is dropped.
func TestTornTailRepairedWithSealedSegments(t *testing.T) {
	dir := t.TempDir()
	segs, _ := sealedLog(t, dir)
	lastSeg := segs[len(segs)-1]
	st, _ := os.Stat(lastSeg)
	if err := os.Truncate(lastSeg, st.Size()-3); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(segs[0]); err != nil {
		t.Fatal(err)
	}
	l := openTest(t, dir, nil)
	defer l.Close()
	if l.LastIndex() != 39 || !l.Stats().RepairedTail {
		t.Fatalf("last = %d, repaired = %v", l.LastIndex(), l.Stats().RepairedTail)
	}
	if _, err := os.Stat(sealPath(segs[0])); !os.IsNotExist(err) {
		t.Fatalf("seal of a removed segment kept: %v", err)
	}
	first, _ := segmentFirst(segs[1])
	if got := replayAll(t, l, first-1); len(got) != 39-int(first)+1 {
		t.Fatalf("replayed %d records from %d", len(got), first)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
