package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/zaqar-go/zaqar/storage"
)

// repartitionOptions: testWindow messages of each head in memory, the rest
// of a backlog in its gap, bodies across many small log segments.
func repartitionOptions(dir string, partitions int) Options {
	o := DefaultOptions(dir)
	o.Partitions, o.IndexWindow, o.SegmentSize = partitions, testWindow, MinSegmentSize
	o.CheckpointInterval, o.ReapInterval, o.MinFreeBytes = 40*time.Millisecond, time.Hour, 0
	return o
}

func openWith(t *testing.T, o Options) *Engine {
	t.Helper()
	e, err := Open(o)
	if err != nil {
		t.Fatalf("open with %d partitions: %v", o.Partitions, err)
	}
	return e
}

// storeContents is what a repartition must keep: every message of every
// queue in order (id, body, claim), each claim, the metadata and the
// subscriptions.
type storeContents struct {
	messages map[string][]string
	claims   map[string]string
	meta     map[string]string
	subs     map[string]string
}

func contentsOf(t *testing.T, e *Engine, queues []string, claims map[string]string) storeContents {
	t.Helper()
	c := storeContents{messages: map[string][]string{}, claims: map[string]string{}, meta: map[string]string{}, subs: map[string]string{}}
	for _, q := range queues {
		marker := ""
		for {
			page, next, err := e.ListMessages(ctx, "p", q, storage.ListMessagesOptions{
				Marker: marker, Limit: 20, Echo: true, IncludeClaimed: true, IncludeDelayed: true})
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range page {
				c.messages[q] = append(c.messages[q], fmt.Sprintf("%s %s claim=%s", m.ID, m.Body, m.ClaimID))
			}
			if len(page) < 20 {
				break
			}
			marker = next
		}
		m, err := e.GetQueueMetadata(ctx, "p", q)
		if err != nil {
			t.Fatal(err)
		}
		c.meta[q] = fmt.Sprint(m)
		subs, err := e.ListSubscriptions(ctx, "p", q, "", 10)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range subs {
			c.subs[q] += s.ID + " " + s.Subscriber + ";"
		}
	}
	for q, id := range claims {
		cl, err := e.GetClaim(ctx, "p", q, id)
		if err != nil {
			t.Fatalf("claim %s of %s: %v", id, q, err)
		}
		desc := fmt.Sprintf("ttl=%d updated=%d", cl.TTL, cl.Updated.UnixNano())
		for _, m := range cl.Messages {
			desc += " " + m.ID
		}
		c.claims[q] = desc
	}
	return c
}

func sameContents(t *testing.T, label string, got, want storeContents) {
	t.Helper()
	for q, msgs := range want.messages {
		if !slices.Equal(got.messages[q], msgs) {
			t.Fatalf("%s: %s has %d messages, want %d (or they differ or are out of order)", label, q, len(got.messages[q]), len(msgs))
		}
	}
	for _, m := range []struct {
		what      string
		got, want map[string]string
	}{{"claims", got.claims, want.claims}, {"metadata", got.meta, want.meta}, {"subscriptions", got.subs, want.subs}} {
		for k, v := range m.want {
			if m.got[k] != v {
				t.Fatalf("%s: %s of %s: %q, want %q", label, m.what, k, m.got[k], v)
			}
		}
	}
}

var repartitionQueues = []string{"q0", "q1", "q2", "q3", "q4", "q5"}

// fillForRepartition posts backlogs far larger than the window, claims
// some, deletes some in the gap, and sets metadata and a subscription; it
// returns the claims' ids by queue.
func fillForRepartition(t *testing.T, e *Engine, backlog int) map[string]string {
	t.Helper()
	ids := map[string][]string{}
	for _, q := range repartitionQueues {
		ids[q] = postBacklog(t, e, q, backlog, hour)
	}
	claims := map[string]string{}
	for q, n := range map[string]int{"q0": 5, "q1": 3} {
		c, err := e.CreateClaim(ctx, "p", q, storage.ClaimOptions{Limit: n, TTL: 3000, Grace: 60})
		if err != nil || len(c.Messages) != n {
			t.Fatalf("claim %s: %d messages, %v", q, len(c.Messages), err)
		}
		claims[q] = c.ID
	}
	settle(t, e)
	for _, i := range []int{backlog / 2, backlog/2 + 1, backlog - 20} {
		if err := e.DeleteMessage(ctx, "p", "q2", ids["q2"][i], ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.SetQueueMetadata(ctx, "p", "q3", storage.Metadata{"k": "v", "_max_messages_post_size": float64(65536)}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.CreateSubscription(ctx, "p", "q4", storage.NewSubscription{Subscriber: "http://127.0.0.1:9/s", TTL: 3600}); err != nil {
		t.Fatal(err)
	}
	settle(t, e)
	if g, _ := gapOf(e, "q5"); !g.open() {
		t.Fatal("no gap: the test would not move messages that are only on disk")
	}
	return claims
}

// TestRepartition: 1 → 4 → 2 partitions with backlogs 25 times the window
// (most messages only on disk, their bodies in the logs), claims, deletes
// in the gap, metadata and a subscription: every message stays, in order,
// with its body and claim; claims keep their id, messages and expiry; the
// server refuses the old count; a running server's directory is refused;
// and a drain by claims after it delivers in FIFO order.
func TestRepartition(t *testing.T) {
	dir := t.TempDir()
	e := openWith(t, repartitionOptions(dir, 1))
	claims := fillForRepartition(t, e, 25*testWindow)
	want := contentsOf(t, e, repartitionQueues, claims)

	if _, err := Repartition(repartitionOptions(dir, 1), 4); !errors.Is(err, ErrInUse) {
		t.Fatalf("repartition of a running server's directory: %v", err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if from, err := Repartition(repartitionOptions(dir, 1), 4); err != nil || from != 1 {
		t.Fatalf("repartition 1 → 4: from %d, %v", from, err)
	}
	for _, left := range []string{retiredLogs, filepath.Join("wal", "p00")} {
		if _, err := os.Stat(filepath.Join(dir, left)); err == nil {
			t.Fatalf("%s left behind", left)
		}
	}
	if _, err := Open(repartitionOptions(dir, 1)); err == nil {
		t.Fatal("opened with the old partition count")
	}
	e = openWith(t, repartitionOptions(dir, 4))
	used := map[int]bool{}
	for _, q := range repartitionQueues {
		used[e.partitionIndex("p", q)] = true
	}
	if len(used) < 2 {
		t.Fatalf("the queues are in %d partition(s) of 4", len(used))
	}
	sameContents(t, "after 1 → 4", contentsOf(t, e, repartitionQueues, claims), want)
	// The new layout takes writes, evicts and pages as before.
	post(t, e, "q5", `"after 1"`, `"after 2"`)
	settle(t, e)
	want = contentsOf(t, e, repartitionQueues, claims)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}

	if from, err := Repartition(repartitionOptions(dir, 4), 2); err != nil || from != 4 {
		t.Fatalf("repartition 4 → 2: from %d, %v", from, err)
	}
	if from, err := Repartition(repartitionOptions(dir, 2), 2); err != nil || from != 2 {
		t.Fatalf("repartition to the same count: from %d, %v", from, err)
	}
	e = openWith(t, repartitionOptions(dir, 2))
	defer e.Close()
	sameContents(t, "after 4 → 2", contentsOf(t, e, repartitionQueues, claims), want)

	// Drain by claims: the unclaimed messages come in posting order.
	for _, q := range repartitionQueues {
		var unclaimed []string
		for _, m := range want.messages[q] {
			if m[len(m)-len("claim="):] == "claim=" {
				unclaimed = append(unclaimed, m[:32])
			}
		}
		var drained []string
		for {
			c, err := e.CreateClaim(ctx, "p", q, storage.ClaimOptions{Limit: 7, TTL: 60, Grace: 60})
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Messages) == 0 {
				break
			}
			for _, m := range c.Messages {
				drained = append(drained, m.ID)
				if err := e.DeleteMessage(ctx, "p", q, m.ID, c.ID); err != nil {
					t.Fatal(err)
				}
			}
		}
		if !slices.Equal(drained, unclaimed) {
			t.Fatalf("%s: drained %d messages, want the %d unclaimed in order", q, len(drained), len(unclaimed))
		}
	}
	sameContents(t, "claims after the drain", contentsOf(t, e, nil, claims), storeContents{claims: want.claims})
}

// TestRepartitionInterrupted: stopped after any step, the directory opens
// with the count of that moment (the old one until the count is set) and
// holds everything; running the command again completes the change.
func TestRepartitionInterrupted(t *testing.T) {
	defer func() { repartitionStep = func(string) error { return nil } }()
	for _, step := range []string{"bodies", "indexes", "gaps", "logs aside", "count"} {
		t.Run(step, func(t *testing.T) {
			dir := t.TempDir()
			e := openWith(t, repartitionOptions(dir, 2))
			claims := fillForRepartition(t, e, 10*testWindow)
			want := contentsOf(t, e, repartitionQueues, claims)
			if err := e.Close(); err != nil {
				t.Fatal(err)
			}
			crashed := errors.New("crash")
			repartitionStep = func(s string) error {
				if s == step {
					return crashed
				}
				return nil
			}
			if _, err := Repartition(repartitionOptions(dir, 2), 3); !errors.Is(err, crashed) {
				t.Fatalf("repartition not stopped: %v", err)
			}
			repartitionStep = func(string) error { return nil }
			now := 2
			if step == "count" {
				now = 3
			}
			e = openWith(t, repartitionOptions(dir, now))
			sameContents(t, "after the interruption", contentsOf(t, e, repartitionQueues, claims), want)
			if err := e.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := Repartition(repartitionOptions(dir, 2), 3); err != nil {
				t.Fatalf("repartition again: %v", err)
			}
			if _, err := os.Stat(filepath.Join(dir, retiredLogs)); err == nil {
				t.Fatal("old logs left behind")
			}
			e = openWith(t, repartitionOptions(dir, 3))
			defer e.Close()
			sameContents(t, "after completing", contentsOf(t, e, repartitionQueues, claims), want)
		})
	}
}
