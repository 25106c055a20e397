package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/s2"
)

// oldFrame builds a frame as builds without a format version wrote it,
// independently of appendFrame: flags 0, or 1 for an S2-compressed
// payload.
func oldFrame(first uint64, records [][]byte, compress bool) []byte {
	var payload []byte
	for _, r := range records {
		payload = binary.AppendUvarint(payload, uint64(len(r)))
		payload = append(payload, r...)
	}
	var flags byte
	if compress {
		payload, flags = s2.Encode(nil, payload), 1
	}
	return rawFrame(first, len(records), flags, payload)
}

// rawFrame assembles a frame with a valid length and CRC around any flags.
func rawFrame(first uint64, n int, flags byte, payload []byte) []byte {
	f := make([]byte, 21, 21+len(payload))
	f = append(f, payload...)
	binary.LittleEndian.PutUint32(f[0:], uint32(len(f)-8))
	binary.LittleEndian.PutUint64(f[8:], first)
	binary.LittleEndian.PutUint32(f[16:], uint32(n))
	f[20] = flags
	binary.LittleEndian.PutUint32(f[4:], crc32.Checksum(f[8:], crc32.MakeTable(crc32.Castagnoli)))
	return f
}

func TestNewFramesSayVersion1(t *testing.T) {
	for _, comp := range []bool{false, true} {
		l := &Log{opts: Options{Compression: comp}}
		fr, _ := l.appendFrame(nil, [][]byte{[]byte("a")}, nil)
		sealFrame(fr, 1)
		want := byte(0x10)
		if comp {
			want = 0x11
		}
		if fr[20] != want {
			t.Fatalf("compress=%v: flags %#02x, want %#02x", comp, fr[20], want)
		}
		// The layout is version 0's: only the flags byte differs.
		old := oldFrame(1, [][]byte{[]byte("a")}, comp)
		old[20] = fr[20]
		binary.LittleEndian.PutUint32(old[4:], crc32.Checksum(old[8:], castagnoli))
		if !bytes.Equal(old, fr) {
			t.Fatalf("compress=%v: version 1 frame %x differs from version 0 layout %x", comp, fr, old)
		}
	}
}

// TestVersion0LogReplays: a data directory written before frames had a
// version opens unchanged, replays, serves ReadAt, and goes on with
// version 1 frames in the same segment.
func TestVersion0LogReplays(t *testing.T) {
	dir := t.TempDir()
	var want [][]byte
	segs := map[uint64][]byte{} // two segments of six frames, by first index
	var segFirst uint64
	for b := 0; b < 12; b++ {
		first := uint64(len(want)) + 1
		if b%6 == 0 {
			segFirst = first
		}
		var batch [][]byte
		for i := 0; i < b%3+1; i++ {
			batch = append(batch, rec(int(first)+i))
		}
		segs[segFirst] = append(segs[segFirst], oldFrame(first, batch, b%2 == 1)...)
		want = append(want, batch...)
	}
	for first, frames := range segs {
		if err := os.WriteFile(filepath.Join(dir, segmentName(first)), frames, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	l := openTest(t, dir, nil)
	if l.Stats().RepairedTail || l.FirstIndex() != 1 || l.LastIndex() != uint64(len(want)) {
		t.Fatalf("open: first/last %d/%d repaired=%v", l.FirstIndex(), l.LastIndex(), l.Stats().RepairedTail)
	}
	n := 0
	err := l.ReplayAt(0, func(i uint64, r []byte, pos Pos) error {
		if !bytes.Equal(r, want[i-1]) {
			return fmt.Errorf("record %d = %q, want %q", i, r, want[i-1])
		}
		if pos.Offset >= 0 {
			got := make([]byte, len(r))
			if err := l.ReadAt(pos, got); err != nil || !bytes.Equal(got, r) {
				return fmt.Errorf("ReadAt %+v = %q, %v", pos, got, err)
			}
		}
		n++
		return nil
	})
	if err != nil || n != len(want) {
		t.Fatalf("replayed %d of %d: %v", n, len(want), err)
	}
	last, err := l.appendWait([][]byte{[]byte("version-1")})
	if err != nil || last != uint64(len(want)+1) {
		t.Fatalf("append: %d %v", last, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	l = openTest(t, dir, nil)
	defer l.Close()
	got := replayAll(t, l, 0)
	if len(got) != len(want)+1 || string(got[last]) != "version-1" || !bytes.Equal(got[1], want[0]) {
		t.Fatalf("after a version 1 frame: %d records, last %q", len(got), got[last])
	}
}

// TestFutureVersionRefusedAtOpen: a frame of a version this build does not
// know fails Open with an error naming it, wherever it lies, and the log
// is left as it was: not repaired as a torn tail, nothing set aside.
func TestFutureVersionRefusedAtOpen(t *testing.T) {
	future := func(first uint64) []byte {
		var payload []byte
		payload = binary.AppendUvarint(payload, 5)
		payload = append(payload, "later"...)
		return rawFrame(first, 1, 2<<versionShift, payload)
	}
	for _, tc := range []struct {
		name   string
		policy SyncPolicy
		// build writes the log's files after writeLog(5) made one segment
		// of five frames, the last starting at lastStart.
		build func(t *testing.T, dir, path string, lastStart int64)
		want  string
	}{
		{"end of last segment", SyncAlways, func(t *testing.T, dir, path string, _ int64) {
			appendFile(t, path, future(6))
		}, "version 2"},
		{"alone in a new segment", SyncAlways, func(t *testing.T, dir, path string, _ int64) {
			appendFile(t, filepath.Join(dir, segmentName(6)), future(6))
		}, "version 2"},
		{"in an older segment", SyncAlways, func(t *testing.T, dir, path string, _ int64) {
			appendFile(t, path, future(6))
			appendFile(t, filepath.Join(dir, segmentName(7)), oldFrame(7, [][]byte{[]byte("x")}, false))
		}, "version 2"},
		{"after a tear, fsync never", SyncNever, func(t *testing.T, dir, path string, lastStart int64) {
			if err := os.Truncate(path, lastStart+10); err != nil {
				t.Fatal(err)
			}
			appendFile(t, filepath.Join(dir, segmentName(6)), future(6))
		}, "version 2"},
		{"reserved flag", SyncAlways, func(t *testing.T, dir, path string, _ int64) {
			appendFile(t, path, rawFrame(6, 1, 1<<versionShift|0x02, []byte{1, 'x'}))
		}, "flags 0x12"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path, lastStart := writeLog(t, dir, 5)
			tc.build(t, dir, path, lastStart)
			before := dirContents(t, dir)
			l, err := Open(Options{Dir: dir, Sync: tc.policy})
			if err == nil {
				l.Close()
				t.Fatal("opened a log holding a frame of an unknown format")
			}
			if !errors.Is(err, errFrameFormat) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("open = %v, want an unknown frame format naming %q", err, tc.want)
			}
			t.Log(err)
			if after := dirContents(t, dir); after != before {
				t.Fatalf("open changed the log:\n%s\nwas\n%s", after, before)
			}
		})
	}
}

func appendFile(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

// dirContents names every file of dir with a digest of its bytes.
func dirContents(t *testing.T, dir string) string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, n := range names {
		data, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s %d %08x\n", filepath.Base(n), len(data), crc32.ChecksumIEEE(data))
	}
	return b.String()
}

func FuzzDecodeFrame(f *testing.F) {
	l := &Log{opts: defaultOptions("")}
	fr, _ := l.appendFrame(nil, [][]byte{[]byte("a"), []byte("hello")}, nil)
	sealFrame(fr, 7)
	f.Add(fr)
	l.opts.Compression = true
	fr2, _ := l.appendFrame(nil, [][]byte{bytes.Repeat([]byte("z"), 300)}, nil)
	sealFrame(fr2, 1)
	f.Add(fr2)
	f.Add([]byte{})
	f.Add(oldFrame(3, [][]byte{[]byte("v0")}, false))
	f.Add(oldFrame(3, [][]byte{bytes.Repeat([]byte("v0"), 100)}, true))
	f.Add(rawFrame(3, 1, 2<<versionShift, []byte{1, 'x'}))
	f.Fuzz(func(t *testing.T, data []byte) {
		first, recs, err := decodeFrame(data)
		if err == nil && len(recs) > 0 && first == 0 && len(data) < headerSize {
			t.Fatal("decoded an impossible frame")
		}
		if err == nil && (data[20]>>versionShift > frameVersion || data[20]&flagsReserved != 0) {
			t.Fatalf("decoded a frame with flags %#02x", data[20])
		}
	})
}
