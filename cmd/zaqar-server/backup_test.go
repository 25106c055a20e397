package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zaqar-go/zaqar/engine"
	"github.com/zaqar-go/zaqar/storage"
)

func openEngine(t *testing.T, dir string, partitions int) *engine.Engine {
	t.Helper()
	o := engine.DefaultOptions(dir)
	o.Partitions, o.MinFreeBytes = partitions, 0
	e, err := engine.Open(o)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// contents is every live message of every queue: project/queue → id → body
// and claim id.
func contents(t *testing.T, e *engine.Engine, queues []string) map[string]map[string]string {
	t.Helper()
	out := map[string]map[string]string{}
	for _, pq := range queues {
		project, queue, _ := strings.Cut(pq, "/")
		msgs := map[string]string{}
		marker := ""
		for {
			page, next, err := e.ListMessages(context.Background(), project, queue, storage.ListMessagesOptions{
				Marker: marker, Limit: 100, Echo: true, IncludeClaimed: true, IncludeDelayed: true})
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range page {
				msgs[m.ID] = string(m.Body) + " claim=" + m.ClaimID
			}
			if len(page) < 100 {
				break
			}
			marker = next
		}
		out[pq] = msgs
	}
	return out
}

// TestBackupRestore: a backup of a stopped server restored into a fresh
// directory has every message, in order, with its claim, and the
// partition count; a running server without its control socket is
// reported, and so are
// a non-empty target and an archive entry outside the directory.
func TestBackupRestore(t *testing.T) {
	ctx := context.Background()
	dir, tmp := filepath.Join(t.TempDir(), "data"), t.TempDir()
	e := openEngine(t, dir, 3)
	var queues []string
	for p := range 2 {
		for q := range 5 {
			project, queue := fmt.Sprintf("p%d", p), fmt.Sprintf("q%d", q)
			queues = append(queues, project+"/"+queue)
			for b := range 4 {
				msgs := []storage.NewMessage{{Body: []byte(fmt.Sprintf(`{"b":%d}`, b)), TTL: 3600},
					{Body: []byte(`"x"`), TTL: 3600}}
				if _, err := e.PostMessages(ctx, project, queue, "c", msgs); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	claim, err := e.CreateClaim(ctx, "p0", "q0", storage.ClaimOptions{Limit: 3, TTL: 3000, Grace: 60})
	if err != nil || len(claim.Messages) != 3 {
		t.Fatalf("claim: %v", err)
	}
	want := contents(t, e, queues)

	var out bytes.Buffer
	archive := filepath.Join(tmp, "backup.tar.gz")
	if code := run([]string{"backup", "--data-dir", dir, "--out", archive}, &out); code == exitOK || !strings.Contains(out.String(), "does not answer") {
		t.Fatalf("backup of a running server: exit %d\n%s", code, out.String())
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if code := run([]string{"backup", "--data-dir", dir, "--out", archive}, &out); code != exitOK {
		t.Fatalf("backup: exit %d\n%s", code, out.String())
	}
	if code := run([]string{"backup", "--data-dir", dir, "--out", archive}, &out); code == exitOK {
		t.Fatal("backup overwrote an existing file")
	}

	restored := filepath.Join(tmp, "restored")
	out.Reset()
	if code := run([]string{"restore", "--in", archive, "--data-dir", restored}, &out); code != exitOK {
		t.Fatalf("restore: exit %d\n%s", code, out.String())
	}
	if code := run([]string{"restore", "--in", archive, "--data-dir", restored}, &out); code == exitOK {
		t.Fatal("restore into a non-empty directory")
	}
	r := openEngine(t, restored, 3)
	defer r.Close()
	got := contents(t, r, queues)
	total := 0
	for pq, msgs := range want {
		total += len(msgs)
		if len(got[pq]) != len(msgs) {
			t.Fatalf("%s: %d messages restored, want %d", pq, len(got[pq]), len(msgs))
		}
		for id, body := range msgs {
			if got[pq][id] != body {
				t.Fatalf("%s %s: restored %q, want %q", pq, id, got[pq][id], body)
			}
		}
	}
	if total != 80 {
		t.Fatalf("%d messages before the backup, want 80", total)
	}
	c, err := r.GetClaim(ctx, "p0", "q0", claim.ID)
	if err != nil || len(c.Messages) != 3 || c.Messages[0].ID != claim.Messages[0].ID {
		t.Fatalf("claim after restore: %+v %v", c, err)
	}
	if first, _, _ := r.ListMessages(ctx, "p1", "q4", storage.ListMessagesOptions{Limit: 1, Echo: true}); len(first) != 1 || string(first[0].Body) != `{"b":0}` {
		t.Fatalf("FIFO head after restore: %+v", first)
	}

	// An archive naming a path outside the directory is refused whole.
	evil := filepath.Join(tmp, "evil.tar.gz")
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	tw.WriteHeader(&tar.Header{Name: "../escaped", Typeflag: tar.TypeReg, Size: 1, Mode: 0o600})
	tw.Write([]byte("x"))
	tw.Close()
	zw.Close()
	os.WriteFile(evil, buf.Bytes(), 0o600)
	target := filepath.Join(tmp, "evil-target")
	if code := run([]string{"restore", "--in", evil, "--data-dir", target}, &out); code == exitOK {
		t.Fatal("an archive entry outside the data directory was accepted")
	}
	if _, err := os.Stat(filepath.Join(tmp, "escaped")); err == nil {
		t.Fatal("restore wrote outside the data directory")
	}
	if _, err := os.Stat(target); err == nil {
		t.Fatal("a failed restore left a directory to start a server on")
	}
}
