package engine

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/zaqar-go/zaqar/storage"
	"github.com/zaqar-go/zaqar/wal"
)

// TestRequestsCommitTheirOwnGroups: concurrent posters and consumers on
// one partition, with fsync always, are all answered; requests share log
// frames and their syncs (the write role groups them), and everything
// acknowledged is in the log after a crash. Checkpoints run every few
// milliseconds, so that their syncs race the groups' (a group may be
// completed by either; its early-answered claims only once).
func TestRequestsCommitTheirOwnGroups(t *testing.T) {
	dir := t.TempDir()
	e := openEngine(t, dir, func(o *Options) {
		o.Partitions = 1
		o.Fsync = wal.SyncAlways
		o.CheckpointInterval = 2 * time.Millisecond
	})
	const posters, consumers, posts = 24, 8, 60
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []error
	fail := func(err error) {
		mu.Lock()
		failures = append(failures, err)
		mu.Unlock()
	}
	for i := range posters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range posts {
				msgs := []storage.NewMessage{{Body: []byte(fmt.Sprintf(`{"p":%d,"n":%d}`, i, j)), TTL: 300}}
				if _, err := e.PostMessages(ctx, "p", fmt.Sprintf("q%d", i%4), "c", msgs); err != nil {
					fail(err)
					return
				}
			}
		}()
	}
	deleted := make([]int, consumers)
	for i := range consumers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q := fmt.Sprintf("q%d", i%4)
			for range posts {
				c, err := e.CreateClaim(ctx, "p", q, storage.ClaimOptions{TTL: 60, Grace: 60, Limit: 5})
				if err != nil {
					fail(err)
					return
				}
				ids := make([]string, len(c.Messages))
				for k, m := range c.Messages {
					ids[k] = m.ID
				}
				if len(ids) == 0 {
					continue
				}
				if err := e.DeleteMessages(ctx, "p", q, ids, []string{c.ID}); err != nil {
					fail(err)
					return
				}
				deleted[i] += len(ids)
			}
		}()
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d requests failed, first: %v", len(failures), failures[0])
	}
	gone := 0
	for _, n := range deleted {
		gone += n
	}
	m := e.Metrics()
	requests := uint64(posters * posts)
	if m.WALAppends >= requests || m.WALSyncs > m.WALAppends {
		t.Errorf("no grouping: %d posts (and the consumers' requests) in %d frames and %d syncs",
			requests, m.WALAppends, m.WALSyncs)
	}
	crash(t, e)
	e = openEngine(t, dir, func(o *Options) { o.Partitions = 1 })
	defer e.Close()
	total := 0
	for q := range 4 {
		st, err := e.QueueStats(ctx, "p", fmt.Sprintf("q%d", q))
		if err != nil {
			t.Fatal(err)
		}
		total += int(st.Total)
	}
	if want := posters*posts - gone; total != want {
		t.Fatalf("after the crash: %d messages, want %d (%d posted, %d deleted)", total, want, posters*posts, gone)
	}
}

// TestCloseAnswersRequestsInFlight: requests racing Close are all
// answered, either acknowledged (and then durable) or refused as
// unavailable; none hangs.
func TestCloseAnswersRequestsInFlight(t *testing.T) {
	dir := t.TempDir()
	e := openEngine(t, dir, func(o *Options) { o.Partitions = 1; o.Fsync = wal.SyncAlways })
	const posters = 16
	acked := make([][]string, posters)
	errs := make([]error, posters)
	started := make(chan struct{}, posters)
	var wg sync.WaitGroup
	for i := range posters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				ids, err := e.PostMessages(ctx, "p", "q", "c", []storage.NewMessage{{Body: []byte(`{"n":1}`), TTL: 300}})
				if err != nil {
					errs[i] = err
					return
				}
				acked[i] = append(acked[i], ids...)
				if n == 10 {
					started <- struct{}{}
				}
			}
		}()
	}
	for range posters {
		<-started
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i, err := range errs {
		if !errors.Is(err, storage.ErrUnavailable) {
			t.Fatalf("poster %d ended with %v, want unavailable", i, err)
		}
	}
	e = openEngine(t, dir, func(o *Options) { o.Partitions = 1 })
	defer e.Close()
	for i, ids := range acked {
		for _, id := range ids {
			if _, err := e.GetMessage(ctx, "p", "q", id); err != nil {
				t.Fatalf("poster %d: acknowledged message %s: %v", i, id, err)
			}
		}
	}
}

// TestWriteRolePassesToQueuedOps: ops queued while the write role is held
// are taken up when it is released, though no request arrives after them.
func TestWriteRolePassesToQueuedOps(t *testing.T) {
	e := openEngine(t, t.TempDir(), func(o *Options) { o.Partitions = 1; o.Fsync = wal.SyncAlways })
	defer e.Close()
	p := e.parts[0]
	release := make(chan struct{})
	inside := make(chan struct{})
	first := make(chan error, 1)
	go func() {
		first <- p.do(func(int64) error {
			close(inside)
			<-release
			return nil
		})
	}()
	<-inside // the first op holds the write role
	const queued = 3
	results := make(chan error, queued)
	for range queued {
		go func() { results <- p.do(func(int64) error { return nil }) }()
	}
	for {
		p.writer.mu.Lock()
		n := len(p.writer.queue)
		p.writer.mu.Unlock()
		if n == queued {
			break
		}
		runtime.Gosched()
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	for range queued {
		if err := <-results; err != nil {
			t.Fatal(err)
		}
	}
}

// TestClaimsAreLeases: with fsync always a group of claims is answered once
// its record is in the log file, without an fdatasync of its own; it
// survives a crash of the process, and the next durable change (a delete
// under the claim) or checkpoint syncs it.
func TestClaimsAreLeases(t *testing.T) {
	dir := t.TempDir()
	e := openEngine(t, dir, func(o *Options) { o.Partitions = 1; o.Fsync = wal.SyncAlways })
	ids := post(t, e, "q", `1`, `2`, `3`, `4`, `5`)
	before := e.Metrics()
	var claims []storage.Claim
	for range 2 {
		c, err := e.CreateClaim(ctx, "p", "q", storage.ClaimOptions{TTL: 60, Grace: 60, Limit: 2})
		if err != nil || len(c.Messages) != 2 {
			t.Fatalf("claim: %v, %d messages", err, len(c.Messages))
		}
		claims = append(claims, c)
	}
	after := e.Metrics()
	if after.WALSyncs != before.WALSyncs || after.WALAppends != before.WALAppends+2 {
		t.Fatalf("two claims: %d frames and %d syncs, want 2 frames and no sync",
			after.WALAppends-before.WALAppends, after.WALSyncs-before.WALSyncs)
	}
	for _, c := range claims {
		if !logHolds(t, dir, c.ID) {
			t.Fatalf("claim %s answered before its record was written to the log", c.ID)
		}
	}
	if err := e.DeleteMessages(ctx, "p", "q", []string{ids[0]}, []string{claims[0].ID}); err != nil {
		t.Fatal(err)
	}
	if m := e.Metrics(); m.WALSyncs != after.WALSyncs+1 {
		t.Fatalf("a delete under the claim made %d syncs, want 1", m.WALSyncs-after.WALSyncs)
	}
	crash(t, e)
	e = openEngine(t, dir, func(o *Options) {
		o.Partitions = 1
		o.Fsync = wal.SyncAlways
		o.CheckpointInterval = 20 * time.Millisecond
	})
	defer e.Close()
	st, err := e.QueueStats(ctx, "p", "q")
	if err != nil || st.Total != 4 || st.Claimed != 3 {
		t.Fatalf("after the crash: %d messages, %d claimed (%v), want 4 and 3", st.Total, st.Claimed, err)
	}

	// A claim that no durable change follows is synced by the checkpoint.
	synced := e.Metrics().WALSyncs
	if _, err := e.CreateClaim(ctx, "p", "q", storage.ClaimOptions{TTL: 60, Grace: 60, Limit: 1}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for e.Metrics().WALSyncs == synced {
		if time.Now().After(deadline) {
			t.Fatal("a claim was not synced by the checkpoints that followed it")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// logHolds says whether the partitions' log files hold s.
func logHolds(t *testing.T, dir, s string) bool {
	t.Helper()
	segments, _ := filepath.Glob(filepath.Join(dir, "wal", "*", "*.wal"))
	for _, seg := range segments {
		b, err := os.ReadFile(seg)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(s)) {
			return true
		}
	}
	return false
}

// TestClaimsInDurableGroupsAreLeases: with fsync always a claim that
// shares its group with a post is answered once the group is written to
// the log file, while the post waits for the group's fdatasync; after a
// crash the claim holds.
func TestClaimsInDurableGroupsAreLeases(t *testing.T) {
	dir := t.TempDir()
	opts := func(o *Options) {
		o.Partitions = 1
		o.Fsync = wal.SyncAlways
		o.CheckpointInterval = time.Hour // no sync but the group's own
	}
	e := openEngine(t, dir, opts)
	post(t, e, "q", `1`, `2`)
	p := e.parts[0]
	r := &p.writer
	queued := func(n int) {
		for {
			r.mu.Lock()
			k := len(r.queue)
			r.mu.Unlock()
			if k == n {
				return
			}
			runtime.Gosched()
		}
	}
	if err := p.holdWrite(ctx); err != nil {
		t.Fatal(err)
	}
	posted := make(chan error, 1)
	go func() {
		_, err := e.PostMessages(ctx, "p", "q", "client-a", []storage.NewMessage{{Body: []byte(`3`), TTL: 300}})
		posted <- err
	}()
	queued(1)
	type claimed struct {
		c   storage.Claim
		err error
	}
	claims := make(chan claimed, 1)
	go func() {
		c, err := e.CreateClaim(ctx, "p", "q", storage.ClaimOptions{TTL: 60, Grace: 60, Limit: 5})
		claims <- claimed{c, err}
	}()
	queued(2)

	// The role's work as write does it, stopping before the group's sync.
	r.mu.Lock()
	batch := slices.Clone(r.queue)
	r.queue = r.queue[:0]
	r.mu.Unlock()
	if !p.processBatch(batch) {
		t.Fatal("a group holding a post did not wait for its sync")
	}
	var got claimed
	select {
	case got = <-claims:
	case <-time.After(10 * time.Second):
		t.Fatal("the claim waits for its group's fdatasync")
	}
	if got.err != nil || len(got.c.Messages) != 3 {
		t.Fatalf("claim: %v, %d messages, want 3", got.err, len(got.c.Messages))
	}
	select {
	case err := <-posted:
		t.Fatalf("the post was answered (%v) before its group's sync", err)
	default:
	}
	if !logHolds(t, dir, got.c.ID) {
		t.Fatalf("claim %s answered before its record was written to the log", got.c.ID)
	}
	if err := p.log.SyncWritten(); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	p.passWrite()
	r.mu.Unlock()
	if err := <-posted; err != nil {
		t.Fatal(err)
	}

	crash(t, e)
	e = openEngine(t, dir, opts)
	defer e.Close()
	st, err := e.QueueStats(ctx, "p", "q")
	if err != nil || st.Total != 3 || st.Claimed != 3 {
		t.Fatalf("after the crash: %d messages, %d claimed (%v), want 3 and 3", st.Total, st.Claimed, err)
	}
}

// TestLeaseAnsweredOnce: a group that a checkpoint's sync completed before
// its claims were answered early has answered them already; answerLeases
// leaves them alone.
func TestLeaseAnsweredOnce(t *testing.T) {
	e := openEngine(t, t.TempDir(), func(o *Options) { o.Partitions = 1; o.Fsync = wal.SyncAlways })
	defer e.Close()
	o := &op{sig: make(chan opSignal, 1), lease: true}
	c := &commit{ops: []*op{o}, placed: true, synced: true}
	e.parts[0].answerLeases(c)
	select {
	case <-o.sig:
		t.Fatal("a claim its group's sync had answered was answered again")
	default:
	}
	c.synced = false
	e.parts[0].answerLeases(c)
	if len(c.ops) != 0 || len(o.sig) != 1 {
		t.Fatalf("a claim of a group not yet synced: %d ops left in the group, %d signals, want 0 and 1", len(c.ops), len(o.sig))
	}
}
