package engine

import (
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/zaqar-go/zaqar/storage/storagetest"
)

func walBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	filepath.WalkDir(filepath.Join(dir, "wal"), func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

// checkpointNow flushes everything queued to Badger and checkpoints.
func checkpointNow(e *Engine) {
	for _, p := range e.parts {
		done := make(chan struct{})
		p.do(func(int64) error { return nil }) // everything before is applied and queued
		p.flushes <- flushJob{sync: done}
		<-done
	}
}

// TestDiskReturnsAfterDrain: bodies live in the log; once every message of
// a segment is gone and checkpointed, the segment is deleted, so draining a
// queue gives the disk back. Live messages keep their segments, also
// across a restart.
func TestDiskReturnsAfterDrain(t *testing.T) {
	dir := t.TempDir()
	mut := func(o *Options) { o.SegmentSize = 256 << 10; o.Partitions = 1 }
	e := openEngine(t, dir, mut)
	for i := 0; i < 200; i++ {
		if _, err := e.PostMessages(ctx, "p", "q", "c", storagetest.Batch(10)); err != nil {
			t.Fatal(err)
		}
	}
	keep, _ := e.PostMessages(ctx, "p", "keep", "c", storagetest.Batch(3))
	checkpointNow(e)
	full := walBytes(t, dir)
	if full < 2000*1000 {
		t.Fatalf("log holds %d bytes for 2 MB of bodies", full)
	}
	for {
		popped, err := e.PopMessages(ctx, "p", "q", 20)
		if err != nil {
			t.Fatal(err)
		}
		if len(popped) == 0 {
			break
		}
	}
	checkpointNow(e)
	checkpointNow(e) // the first rotates the idle active segment, the second removes it
	drained := walBytes(t, dir)
	t.Logf("log bytes: %d full, %d after drain", full, drained)
	if drained > 600<<10 {
		t.Fatalf("log still holds %d bytes after the queue was drained", drained)
	}
	e.Close()
	e = openEngine(t, dir, mut)
	defer e.Close()
	got, err := e.GetMessages(ctx, "p", "keep", keep)
	if err != nil || len(got) != 3 || string(got[0].Body) != string(storagetest.KiB) {
		t.Fatalf("live messages lost their bodies: %d %v", len(got), err)
	}
	if st, _ := e.QueueStats(ctx, "p", "q"); st.Total != 0 {
		t.Fatalf("drained queue has %d messages after restart", st.Total)
	}
}
