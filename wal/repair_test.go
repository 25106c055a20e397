package wal

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// writeLog writes n single-record frames and returns the segment path and
// the offset where the last frame starts.
func writeLog(t *testing.T, dir string, n int) (string, int64) {
	t.Helper()
	l := openTest(t, dir, nil)
	var lastStart int64
	for i := 1; i <= n; i++ {
		if i == n {
			lastStart = l.size
		}
		if _, err := l.appendWait([][]byte{rec(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "*.wal"))
	return segs[len(segs)-1], lastStart
}

func TestOpenOnTornWriteAtEveryOffset(t *testing.T) {
	src := t.TempDir()
	path, lastStart := writeLog(t, src, 5)
	orig, _ := os.ReadFile(path)
	for cut := lastStart; cut < int64(len(orig)); cut++ {
		dir := t.TempDir()
		seg := filepath.Join(dir, filepath.Base(path))
		if err := os.WriteFile(seg, orig[:cut], 0o644); err != nil {
			t.Fatal(err)
		}
		l := openTest(t, dir, nil)
		if l.LastIndex() != 4 || !l.Stats().RepairedTail && cut != lastStart {
			t.Fatalf("cut %d: last=%d repaired=%v", cut, l.LastIndex(), l.Stats().RepairedTail)
		}
		if got := replayAll(t, l, 0); len(got) != 4 {
			t.Fatalf("cut %d: %d records", cut, len(got))
		}
		if last, err := l.appendWait([][]byte{[]byte("after-repair")}); err != nil || last != 5 {
			t.Fatalf("cut %d: append after repair %d %v", cut, last, err)
		}
		l.Close()
		l = openTest(t, dir, nil)
		got := replayAll(t, l, 0)
		if string(got[5]) != "after-repair" {
			t.Fatalf("cut %d: record 5 = %q", cut, got[5])
		}
		l.Close()
	}
}

func TestClobberedTailIsRepairedWithBackup(t *testing.T) {
	dir := t.TempDir()
	path, lastStart := writeLog(t, dir, 5)
	data, _ := os.ReadFile(path)
	data[lastStart+25] ^= 0xff
	os.WriteFile(path, data, 0o644)
	l := openTest(t, dir, nil)
	defer l.Close()
	if l.LastIndex() != 4 {
		t.Fatalf("last = %d", l.LastIndex())
	}
	backup, err := os.ReadFile(path + ".broken")
	if err != nil || !bytes.Equal(backup, data[lastStart:]) {
		t.Fatalf("backup of broken tail missing or wrong: %v", err)
	}
}

func TestZeroFilledTailIsEndOfLog(t *testing.T) {
	dir := t.TempDir()
	path, _ := writeLog(t, dir, 3)
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.Write(make([]byte, 4096))
	f.Close()
	l := openTest(t, dir, nil)
	defer l.Close()
	if l.LastIndex() != 3 || len(replayAll(t, l, 0)) != 3 {
		t.Fatalf("last = %d", l.LastIndex())
	}
}

// TestCorruptionInOlderSegmentFailsOpen: a segment before the last that
// open has to read (its seal is gone) and that is damaged fails the open.
func TestCorruptionInOlderSegmentFailsOpen(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, func(o *Options) { o.SegmentSize = 256 })
	for i := 1; i <= 40; i++ {
		l.appendWait([][]byte{rec(i)})
	}
	l.Close()
	segs, _ := filepath.Glob(filepath.Join(dir, "*.wal"))
	if len(segs) < 3 {
		t.Fatalf("want several segments, got %d", len(segs))
	}
	data, _ := os.ReadFile(segs[0])
	data[30] ^= 0xff
	os.WriteFile(segs[0], data, 0o644)
	if err := os.Remove(sealPath(segs[0])); err != nil {
		t.Fatalf("retired segment not sealed: %v", err)
	}
	for _, policy := range []SyncPolicy{SyncAlways, SyncNever} {
		// Without fsync=always only the last retired segment may be
		// torn by a crash; damage further back is corruption.
		if _, err := Open(Options{Dir: dir, Sync: policy}); !errors.Is(err, errCorrupt) {
			t.Fatalf("%v: open = %v, want errCorrupt", policy, err)
		}
	}
}

// TestPreallocatedTailAfterCrash: a segment is allocated ahead of its
// frames; after a crash (the file copied while the log is open) the zeros
// read as the end of the log, appends go on right after the last frame,
// and a clean close gives the space back.
func TestPreallocatedTailAfterCrash(t *testing.T) {
	src := t.TempDir()
	l := openTest(t, src, nil)
	defer l.Close()
	appendRecs(t, l, 10)
	segs, _ := filepath.Glob(filepath.Join(src, "*.wal"))
	crashed, err := os.ReadFile(segs[0])
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(crashed)) <= l.size {
		t.Skipf("no preallocation on this file system (%d bytes for %d of frames)", len(crashed), l.size)
	}
	dir := t.TempDir()
	seg := filepath.Join(dir, filepath.Base(segs[0]))
	if err := os.WriteFile(seg, crashed, 0o644); err != nil {
		t.Fatal(err)
	}
	l2 := openTest(t, dir, nil)
	if l2.LastIndex() != 10 || l2.Stats().RepairedTail {
		t.Fatalf("after crash: last=%d repaired=%v", l2.LastIndex(), l2.Stats().RepairedTail)
	}
	if last, err := l2.appendWait([][]byte{[]byte("after-crash")}); err != nil || last != 11 {
		t.Fatalf("append after crash: %d %v", last, err)
	}
	if err := l2.Close(); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(seg); st.Size() >= int64(len(crashed)) {
		t.Fatalf("clean close kept the preallocated space: %d bytes", st.Size())
	}
	l2 = openTest(t, dir, nil)
	defer l2.Close()
	got := replayAll(t, l2, 0)
	if len(got) != 11 || string(got[11]) != "after-crash" || string(got[10]) != string(rec(10)) {
		t.Fatalf("replayed %d records, last %q", len(got), got[11])
	}
}

// TestBackupOmitsZeroTail: a torn frame in a zero-filled segment keeps only
// the damaged bytes as evidence, not megabytes of zeros.
func TestBackupOmitsZeroTail(t *testing.T) {
	dir := t.TempDir()
	path, lastStart := writeLog(t, dir, 5)
	data, _ := os.ReadFile(path)
	data[lastStart+25] ^= 0xff
	frameEnd := len(data)
	for len(data) > 0 && data[len(data)-1] == 0 {
		frameEnd--
		data = data[:len(data)-1]
	}
	os.WriteFile(path, append(data, make([]byte, 4<<20)...), 0o644)
	l := openTest(t, dir, nil)
	defer l.Close()
	if l.LastIndex() != 4 {
		t.Fatalf("last = %d", l.LastIndex())
	}
	backup, err := os.ReadFile(path + ".broken")
	if err != nil || !bytes.Equal(backup, data[lastStart:frameEnd]) {
		t.Fatalf("backup is %d bytes, want the %d bytes of the torn frame (err %v)", len(backup), int64(frameEnd)-lastStart, err)
	}
}

// TestTornTailBeforeEmptySegment: a crash just after the next segment was
// started, before the full one's tail was durable, leaves a torn frame in
// front of an empty (or zero-filled) segment. Nothing after the tear was
// acknowledged, so Open repairs it as the log's tail instead of refusing
// to start; a segment holding frames after a tear is still corruption.
func TestTornTailBeforeEmptySegment(t *testing.T) {
	for _, next := range []struct {
		name string
		data []byte
	}{{"empty", nil}, {"zero-filled", make([]byte, 64<<10)}, {"frames", nil}} {
		t.Run(next.name, func(t *testing.T) {
			dir := t.TempDir()
			path, lastStart := writeLog(t, dir, 5)
			if err := os.Truncate(path, lastStart+10); err != nil {
				t.Fatal(err)
			}
			nextPath := filepath.Join(dir, segmentName(6))
			data := next.data
			if next.name == "frames" {
				frame, _ := (&Log{}).appendFrame(nil, [][]byte{[]byte("later")}, nil)
				sealFrame(frame, 6)
				data = frame
			}
			if err := os.WriteFile(nextPath, data, 0o644); err != nil {
				t.Fatal(err)
			}
			l, err := Open(Options{Dir: dir})
			if next.name == "frames" {
				if !errors.Is(err, errCorrupt) {
					t.Fatalf("open = %v, want errCorrupt", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			checkEndsAtTear(t, l, nextPath)
		})
	}
}

// checkEndsAtTear: a log written by writeLog(5) and torn in its last frame
// ends at record 4, no longer holds the segment at nextPath, and goes on
// with record 5.
func checkEndsAtTear(t *testing.T, l *Log, nextPath string) {
	t.Helper()
	if l.LastIndex() != 4 || !l.Stats().RepairedTail {
		t.Fatalf("last = %d, repaired = %v", l.LastIndex(), l.Stats().RepairedTail)
	}
	if _, err := os.Stat(nextPath); !os.IsNotExist(err) {
		t.Fatalf("segment after the tear still in the log: %v", err)
	}
	if last, err := l.appendWait([][]byte{[]byte("after")}); err != nil || last != 5 {
		t.Fatalf("append = %d, %v", last, err)
	}
}

// Without fsync=always a retired segment is synced in the background, so a
// crash can keep the next segment's frames but tear this one's tail: the
// log is then the prefix before the tear, and the later segment is kept
// aside rather than failing the open.
func TestTornTailBeforeFramesWithoutSyncAlways(t *testing.T) {
	for _, policy := range []SyncPolicy{SyncNever, SyncInterval} {
		t.Run(policy.String(), func(t *testing.T) {
			dir := t.TempDir()
			path, lastStart := writeLog(t, dir, 5)
			if err := os.Truncate(path, lastStart+10); err != nil {
				t.Fatal(err)
			}
			frame, _ := (&Log{}).appendFrame(nil, [][]byte{[]byte("later")}, nil)
			sealFrame(frame, 6)
			nextPath := filepath.Join(dir, segmentName(6))
			if err := os.WriteFile(nextPath, frame, 0o644); err != nil {
				t.Fatal(err)
			}
			l, err := Open(Options{Dir: dir, Sync: policy})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			checkEndsAtTear(t, l, nextPath)
			kept, err := os.ReadFile(nextPath + ".broken")
			if err != nil || !bytes.Equal(kept, frame) {
				t.Fatalf("segment set aside = %q, %v", kept, err)
			}
			var got []string
			if err := l.replay(0, func(_ uint64, rec []byte) error { got = append(got, string(rec)); return nil }); err != nil {
				t.Fatal(err)
			}
			if len(got) != 5 || got[4] != "after" {
				t.Fatalf("replay = %q", got)
			}
		})
	}
}

func TestSkipToSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, nil)
	appendRecs(t, l, 3)
	if err := l.SkipTo(2); err != nil || l.LastIndex() != 3 {
		t.Fatalf("skip backwards: %v, last = %d", err, l.LastIndex())
	}
	if err := l.SkipTo(10); err != nil {
		t.Fatal(err)
	}
	l.Close()
	l = openTest(t, dir, nil)
	if l.LastIndex() != 10 {
		t.Fatalf("reopened after skip: last = %d", l.LastIndex())
	}
	if last, err := l.appendWait([][]byte{rec(11)}); err != nil || last != 11 {
		t.Fatalf("append after skip = %d, %v", last, err)
	}
	l.Close()
	l = openTest(t, dir, nil)
	defer l.Close()
	var idx []uint64
	if err := l.replay(0, func(i uint64, _ []byte) error { idx = append(idx, i); return nil }); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(idx) != "[1 2 3 11]" || l.LastIndex() != 11 {
		t.Fatalf("replay = %v, last = %d", idx, l.LastIndex())
	}
}
