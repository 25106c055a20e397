package main

import (
	"bytes"
	"context"
	"fmt"

	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/zaqar-go/zaqar/engine"
	"github.com/zaqar-go/zaqar/storage"
)

// postedLog is what a poster was acknowledged, in order: FIFO order, one
// poster per queue.
type postedLog struct {
	mu     sync.Mutex
	ids    []string
	bodies map[string]string
}

func (l *postedLog) add(ids []string, bodies []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, id := range ids {
		l.ids = append(l.ids, id)
		l.bodies[id] = bodies[i]
	}
}

func (l *postedLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.ids)
}

// TestBackupOfRunningServer: a backup taken through the control socket
// while posters and a consumer keep going holds every message
// acknowledged before it began, in FIFO order with its body, and the
// claim, subscription and metadata made before; a server restored from it
// starts and drains in order. The log rotates and checkpoints meanwhile
// (64 KiB segments, 20 ms checkpoints) and most of each backlog is paged
// out (index window 4).
func TestBackupOfRunningServer(t *testing.T) {
	ctx := context.Background()
	dir, tmp := filepath.Join(t.TempDir(), "data"), t.TempDir()
	o := engine.DefaultOptions(dir)
	o.Partitions, o.MinFreeBytes, o.IndexWindow = 2, 0, 4
	o.SegmentSize, o.CheckpointInterval = engine.MinSegmentSize, o.ReapInterval/50
	o.Logger = slog.New(slog.DiscardHandler)
	e, err := engine.Open(o)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	stop, err := serveControl(e, o.Logger)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if st, err := os.Stat(filepath.Join(dir, controlDir)); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("control socket directory: %v %v, want mode 0700", st.Mode(), err)
	}

	if _, err := e.CreateQueue(ctx, "p", "meta", storage.Metadata{"_default_message_ttl": float64(3600), "k": "v"}); err != nil {
		t.Fatal(err)
	}
	sub, _, err := e.CreateSubscription(ctx, "p", "meta", storage.NewSubscription{Subscriber: "http://127.0.0.1:9/x", TTL: 3600})
	if err != nil {
		t.Fatal(err)
	}
	queues := []string{"q0", "q1", "q2", "q3"}
	logs := map[string]*postedLog{}
	pad := strings.Repeat("x", 300)
	post := func(q string, n int) error {
		l := logs[q]
		msgs, bodies := make([]storage.NewMessage, 3), make([]string, 3)
		for i := range msgs {
			bodies[i] = fmt.Sprintf(`{"q":%q,"n":%d,"pad":%q}`, q, n*3+i, pad)
			msgs[i] = storage.NewMessage{Body: []byte(bodies[i]), TTL: 3600}
		}
		ids, err := e.PostMessages(ctx, "p", q, "c", msgs)
		if err == nil {
			l.add(ids, bodies)
		}
		return err
	}
	for _, q := range queues {
		logs[q] = &postedLog{bodies: map[string]string{}}
		for n := range 20 {
			if err := post(q, n); err != nil {
				t.Fatal(err)
			}
		}
	}
	claim, err := e.CreateClaim(ctx, "p", "q0", storage.ClaimOptions{Limit: 5, TTL: 3000, Grace: 60})
	if err != nil || len(claim.Messages) != 5 {
		t.Fatalf("claim: %d messages, %v", len(claim.Messages), err)
	}
	if claim, err = e.GetClaim(ctx, "p", "q0", claim.ID); err != nil {
		t.Fatal(err)
	}

	// Posters on every queue, and a queue whose messages are consumed as
	// they come, so that segments also become deletable meanwhile.
	done := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, len(queues)+1)
	for _, q := range queues {
		wg.Go(func() {
			for n := 20; ; n++ {
				select {
				case <-done:
					return
				default:
				}
				if err := post(q, n); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			if _, err := e.PostMessages(ctx, "p", "churn", "c", []storage.NewMessage{{Body: []byte(`"` + pad + `"`), TTL: 60}}); err != nil {
				errs <- err
				return
			}
			if _, err := e.PopMessages(ctx, "p", "churn", 1); err != nil {
				errs <- err
				return
			}
		}
	})

	before := map[string]int{}
	for _, q := range queues {
		before[q] = logs[q].count()
	}
	archive := filepath.Join(tmp, "running.tar.gz")
	var out bytes.Buffer
	code := run([]string{"backup", "--data-dir", dir, "--out", archive}, &out)
	after := map[string]int{}
	for _, q := range queues {
		after[q] = logs[q].count()
	}
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("traffic during the backup: %v", err)
	}
	if code != exitOK || !strings.Contains(out.String(), "running server") {
		t.Fatalf("backup of a running server: exit %d\n%s", code, out.String())
	}
	t.Logf("%s", out.String())

	restored := filepath.Join(tmp, "restored")
	out.Reset()
	if code := run([]string{"restore", "--in", archive, "--data-dir", restored}, &out); code != exitOK {
		t.Fatalf("restore: exit %d\n%s", code, out.String())
	}
	ro := o
	ro.Dir = restored
	r, err := engine.Open(ro)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, q := range queues {
		l := logs[q]
		got := listAll(t, r, "p", q)
		if len(got) < before[q] {
			t.Fatalf("%s: %d messages restored, %d were acknowledged before the backup", q, len(got), before[q])
		}
		if len(got) > after[q] {
			t.Fatalf("%s: %d messages restored, only %d acknowledged when the backup ended", q, len(got), after[q])
		}
		for i, m := range got {
			if m.ID != l.ids[i] {
				t.Fatalf("%s: message %d is %s, want %s (FIFO order)", q, i, m.ID, l.ids[i])
			}
			if string(m.Body) != l.bodies[m.ID] {
				t.Fatalf("%s %s: body %q, want %q", q, m.ID, m.Body, l.bodies[m.ID])
			}
		}
		t.Logf("%s: %d acknowledged before, %d restored, %d acknowledged at the end", q, before[q], len(got), after[q])
	}
	c, err := r.GetClaim(ctx, "p", "q0", claim.ID)
	if err != nil || len(c.Messages) != 5 || c.Messages[0].ID != claim.Messages[0].ID || !c.Updated.Equal(claim.Updated) || c.TTL != claim.TTL {
		t.Fatalf("claim after restore: %d messages, updated %v, ttl %d, %v; want 5, %v, %d", len(c.Messages), c.Updated, c.TTL, err, claim.Updated, claim.TTL)
	}
	if m, err := r.GetQueueMetadata(ctx, "p", "meta"); err != nil || m["k"] != "v" {
		t.Fatalf("metadata after restore: %v %v", m, err)
	}
	if s, err := r.GetSubscription(ctx, "p", "meta", sub.ID); err != nil || s.Subscriber != sub.Subscriber {
		t.Fatalf("subscription after restore: %+v %v", s, err)
	}
	// Draining pages the backlog in from the restored Badger and logs.
	popped := 0
	for {
		msgs, err := r.PopMessages(ctx, "p", "q1", 7)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) == 0 {
			break
		}
		for _, m := range msgs {
			if m.ID != logs["q1"].ids[popped] || string(m.Body) != logs["q1"].bodies[m.ID] {
				t.Fatalf("q1 drain: message %d is %s %q", popped, m.ID, m.Body)
			}
			popped++
		}
	}
	if popped < before["q1"] {
		t.Fatalf("q1 drained %d messages, want at least %d", popped, before["q1"])
	}
}

// listAll lists every message of a queue, claimed or not, in order.
func listAll(t *testing.T, e *engine.Engine, project, queue string) []storage.Message {
	t.Helper()
	var all []storage.Message
	marker := ""
	for {
		page, next, err := e.ListMessages(context.Background(), project, queue, storage.ListMessagesOptions{
			Marker: marker, Limit: 100, Echo: true, IncludeClaimed: true, IncludeDelayed: true})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page...)
		if len(page) < 100 {
			return all
		}
		marker = next
	}
}
