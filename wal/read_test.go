package wal

import (
	"errors"
	"fmt"
	"testing"
)

func TestPositionsReadAtReplayAndRemove(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, func(o *Options) { o.SegmentSize = 512 })
	want := map[uint64][]byte{}
	wantPos := map[uint64]Pos{}
	for i := 0; i < 60; i++ {
		recs := [][]byte{[]byte(fmt.Sprintf("rec-%d-a", i)), []byte(fmt.Sprintf("rec-%d-bb", i))}
		pos := make([]Pos, 2)
		last, err := l.appendWaitAt(recs, pos)
		if err != nil {
			t.Fatal(err)
		}
		for j := range recs {
			idx := last - 1 + uint64(j)
			want[idx], wantPos[idx] = recs[j], pos[j]
			got := make([]byte, len(recs[j]))
			if err := l.ReadAt(pos[j], got); err != nil || string(got) != string(recs[j]) {
				t.Fatalf("ReadAt %v = %q %v, want %q", pos[j], got, err, recs[j])
			}
		}
	}
	segs := l.Segments()
	if len(segs) < 4 || !segs[len(segs)-1].Active {
		t.Fatalf("segments: %+v", segs)
	}
	// Remove a middle segment; reopening must accept the gap.
	gone := segs[1]
	if err := l.Remove(gone.First); err != nil {
		t.Fatal(err)
	}
	if err := l.ReadAt(wantPos[gone.First], make([]byte, 3)); !errors.Is(err, ErrSegmentGone) {
		t.Fatalf("read from removed segment: %v", err)
	}
	l.Close()
	l = openTest(t, dir, func(o *Options) { o.SegmentSize = 512 })
	defer l.Close()
	seen := 0
	err := l.ReplayAt(0, func(idx uint64, rec []byte, pos Pos) error {
		if idx >= gone.First && idx <= gone.Last {
			return fmt.Errorf("replayed record %d of a removed segment", idx)
		}
		if string(rec) != string(want[idx]) || pos != wantPos[idx] {
			return fmt.Errorf("record %d: %q at %+v, want %q at %+v", idx, rec, pos, want[idx], wantPos[idx])
		}
		seen++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen != len(want)-int(gone.Last-gone.First+1) {
		t.Fatalf("replayed %d records", seen)
	}
	if err := l.Remove(l.Segments()[len(l.Segments())-1].First); err != nil || len(l.Segments()) == 0 {
		t.Fatal("the active segment must never be removed")
	}
}

func TestCompressedRecordsAreNotAddressable(t *testing.T) {
	l := openTest(t, t.TempDir(), func(o *Options) { o.Compression = true })
	defer l.Close()
	pos := make([]Pos, 1)
	if _, err := l.appendWaitAt([][]byte{[]byte("x")}, pos); err != nil {
		t.Fatal(err)
	}
	if pos[0].Offset != -1 || l.ReadAt(pos[0], make([]byte, 1)) == nil {
		t.Fatalf("compressed record reported addressable: %+v", pos[0])
	}
}
