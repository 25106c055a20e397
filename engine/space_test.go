package engine

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zaqar-go/zaqar/internal/testenv"
	"github.com/zaqar-go/zaqar/storage"
	"github.com/zaqar-go/zaqar/wal"
)

// TestFullDisk fills a small filesystem with posts. Posts are refused
// before it is full, while reads, claims and deletes go on; deleting the
// queue brings the room back and posts resume by themselves; and a store
// opened again on the full disk serves reads and deletes.
func TestFullDisk(t *testing.T) {
	dir := filepath.Join(testenv.TmpFS(t, 96<<20), "data")
	opts := func(o *Options) {
		o.Fsync, o.SegmentSize, o.MinFreeBytes = wal.SyncNever, 4<<20, 24<<20
		o.ReapInterval, o.CheckpointInterval = 20*time.Millisecond, 50*time.Millisecond
	}
	e := openEngine(t, dir, opts)
	body := `"` + strings.Repeat("x", 8<<10) + `"`
	batch := make([]storage.NewMessage, 10)
	for i := range batch {
		batch[i] = storage.NewMessage{Body: []byte(body), TTL: 3600}
	}
	// fill posts until posts are refused and a space check made right then
	// still refuses them; it returns how many posts went in.
	fill := func() int {
		t.Helper()
		posted := 0
		for n := 0; n < 20000; n++ {
			_, err := e.PostMessages(ctx, "p", "q", "c", batch)
			if errors.Is(err, storage.ErrStorageFull) {
				if !strings.Contains(err.Error(), "reserve") {
					t.Fatalf("refusal does not say why: %v", err)
				}
				e.checkSpace()
				if full := e.full.Load(); *full != nil || e.room.Load() < 10*(8<<10+postOverhead) {
					return posted
				}
				continue
			}
			if err != nil {
				t.Fatalf("post %d failed with %v, not as full storage", n, err)
			}
			posted++
		}
		t.Fatal("never refused a post")
		return 0
	}
	n := fill()
	t.Logf("refused after %d posts", n)
	if n < 50 {
		t.Fatalf("refused after %d posts of 80 KiB on a 96 MiB filesystem", n)
	}
	if err := e.Ping(ctx); err != nil {
		t.Fatalf("ping while full: %v", err)
	}
	if st, err := e.QueueStats(ctx, "p", "q"); err != nil || st.Total == 0 {
		t.Fatalf("stats while full: %+v %v", st, err)
	}
	c, err := e.CreateClaim(ctx, "p", "q", storage.ClaimOptions{TTL: 60, Grace: 60, Limit: 5})
	if err != nil || len(c.Messages) != 5 {
		t.Fatalf("claim while full: %d %v", len(c.Messages), err)
	}
	if err := e.DeleteMessage(ctx, "p", "q", c.Messages[0].ID, c.ID); err != nil {
		t.Fatalf("delete while full: %v", err)
	}
	if err := e.DeleteQueue(ctx, "p", "q"); err != nil {
		t.Fatalf("queue delete while full: %v", err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := e.PostMessages(ctx, "p", "again", "c", []storage.NewMessage{{Body: []byte(`1`), TTL: 60}})
		if err == nil {
			break
		}
		if !errors.Is(err, storage.ErrStorageFull) || time.Now().After(deadline) {
			t.Fatalf("posts did not resume after the queue delete: %v", err)
		}
		time.Sleep(20 * time.Millisecond) // polling the space checks the reaper makes
	}

	fill()
	f1, _ := freeBytes(dir)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	// Closing may free space by itself (a checkpoint retires log segments
	// whose bodies Badger now holds; the memtable's flush compresses), more
	// or less of it as the machine's timing goes. A filler beside the data
	// directory takes it back, so the reopen below always meets a full disk.
	if f2, _ := freeBytes(dir); f2 > f1 {
		filler := filepath.Join(filepath.Dir(dir), "filler")
		if err := os.WriteFile(filler, make([]byte, f2-f1), 0o600); err != nil && !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("taking back the %d MiB closing freed: %v", (f2-f1)>>20, err)
		}
	}
	e, err = Open(func() Options { o := DefaultOptions(dir); opts(&o); return o }())
	t.Logf("reopened on the full disk: %v", err)
	if err != nil {
		if !strings.Contains(err.Error(), "free space on it first") {
			t.Fatalf("reopening on a full disk: %v (no clear reason)", err)
		}
		return
	}
	defer e.Close()
	if _, err := e.GetMessage(ctx, "p", "q", "00000000000000010000000000000000"); !errors.Is(err, storage.ErrMessageNotFound) {
		t.Fatalf("read after reopening full: %v", err)
	}
	if n := fill(); n > 100 {
		t.Fatalf("reopened full, it took %d more posts of 80 KiB before refusing", n)
	}
	if err := e.DeleteQueue(ctx, "p", "q"); err != nil {
		t.Fatalf("delete after reopening full: %v", err)
	}
}

// TestBudgetAndQueueLimit: over max_bytes posts are refused with the
// reason; a queue's _max_messages refuses a post that would exceed it,
// counting deletes, and only that queue.
func TestBudgetAndQueueLimit(t *testing.T) {
	e := openEngine(t, t.TempDir(), func(o *Options) { o.MaxBytes = 1 })
	_, err := e.PostMessages(ctx, "p", "q", "c", []storage.NewMessage{{Body: []byte(`1`), TTL: 60}})
	if !errors.Is(err, storage.ErrStorageFull) || !strings.Contains(err.Error(), "budget") {
		t.Fatalf("post over max_bytes: %v", err)
	}
	e.Close()

	e = openEngine(t, t.TempDir(), nil)
	defer e.Close()
	if _, err := e.CreateQueue(ctx, "p", "small", storage.Metadata{storage.MetaMaxMessages: 3}); err != nil {
		t.Fatal(err)
	}
	ids := post(t, e, "small", "1", "2")
	var limit *storage.LimitError
	if _, err := e.PostMessages(ctx, "p", "small", "c", make([]storage.NewMessage, 2)); !errors.As(err, &limit) ||
		!strings.Contains(limit.Msg, "_max_messages of 3") {
		t.Fatalf("post over _max_messages: %v", err)
	}
	post(t, e, "small", "3")
	if err := e.DeleteMessages(ctx, "p", "small", ids, nil); err != nil {
		t.Fatal(err)
	}
	post(t, e, "small", "4", "5")
	post(t, e, "other", "1", "2", "3", "4")
}
