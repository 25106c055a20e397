package engine

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/zaqar-go/zaqar/internal/testenv"
	"github.com/zaqar-go/zaqar/storage"
	"github.com/zaqar-go/zaqar/wal"
)

var ctx = context.Background()

func openEngine(t testing.TB, dir string, mut func(*Options)) *Engine {
	t.Helper()
	o := DefaultOptions(dir)
	o.ReapInterval = time.Hour // tests drive reaping explicitly
	if mut != nil {
		mut(&o)
	}
	e, err := Open(o)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return e
}

func post(t testing.TB, e *Engine, q string, bodies ...string) []string {
	t.Helper()
	msgs := make([]storage.NewMessage, len(bodies))
	for i, b := range bodies {
		msgs[i] = storage.NewMessage{Body: []byte(b), TTL: 300}
	}
	ids, err := e.PostMessages(ctx, "p", q, "client-a", msgs)
	if err != nil {
		t.Fatalf("post: %v", err)
	}
	return ids
}

// crash stops e as a kill would: no final flush to Badger, only what the
// log holds survives.
func crash(t testing.TB, e *Engine) {
	t.Helper()
	e.closed.Store(true)
	close(e.stop)
	e.bg.Wait()
	if err := e.shutdown(false); err != nil {
		t.Fatal(err)
	}
}

func TestPostListClaimDelete(t *testing.T) {
	e := openEngine(t, t.TempDir(), nil)
	defer e.Close()
	ids := post(t, e, "q", `{"n":1}`, `{"n":2}`, `{"n":3}`)
	msgs, marker, err := e.ListMessages(ctx, "p", "q", storage.ListMessagesOptions{Limit: 10, Echo: true})
	if err != nil || len(msgs) != 3 || string(msgs[1].Body) != `{"n":2}` || marker == "" {
		t.Fatalf("list: %v %d %q", err, len(msgs), marker)
	}
	if m, _, _ := e.ListMessages(ctx, "p", "q", storage.ListMessagesOptions{Limit: 10, ClientID: "client-a"}); len(m) != 0 {
		t.Fatalf("echo=false shows own messages: %d", len(m))
	}
	c, err := e.CreateClaim(ctx, "p", "q", storage.ClaimOptions{TTL: 60, Grace: 60, Limit: 2})
	if err != nil || len(c.Messages) != 2 || c.Messages[0].ID != ids[0] {
		t.Fatalf("claim: %v %+v", err, c)
	}
	if err := e.DeleteMessage(ctx, "p", "q", ids[0], ""); !errors.Is(err, storage.ErrMessageClaimed) {
		t.Fatalf("delete claimed without id: %v", err)
	}
	if err := e.DeleteMessage(ctx, "p", "q", ids[2], c.ID); !errors.Is(err, storage.ErrMessageNotClaimed) {
		t.Fatalf("delete unclaimed with id: %v", err)
	}
	if err := e.DeleteMessage(ctx, "p", "q", ids[0], "nope"); !errors.Is(err, storage.ErrClaimNotFound) {
		t.Fatalf("delete with unknown claim: %v", err)
	}
	if err := e.DeleteMessage(ctx, "p", "q", ids[0], c.ID); err != nil {
		t.Fatalf("delete with claim: %v", err)
	}
	if _, err := e.GetMessage(ctx, "p", "q", ids[0]); !errors.Is(err, storage.ErrMessageNotFound) {
		t.Fatalf("deleted message still there: %v", err)
	}
	st, _ := e.QueueStats(ctx, "p", "q")
	if st.Total != 2 || st.Claimed != 1 {
		t.Fatalf("stats %+v", st)
	}
	if err := e.DeleteClaim(ctx, "p", "q", c.ID); err != nil {
		t.Fatal(err)
	}
	st, _ = e.QueueStats(ctx, "p", "q")
	if st.Claimed != 0 {
		t.Fatalf("released claim still counted: %+v", st)
	}
}

func TestClaimExpiryAndDeadLetter(t *testing.T) {
	clk := testenv.NewClock(time.Unix(1_700_000_000, 0))
	e := openEngine(t, t.TempDir(), func(o *Options) { o.Clock = clk.Now })
	defer e.Close()
	if _, err := e.CreateQueue(ctx, "p", "q", storage.Metadata{"_max_claim_count": 1, "_dead_letter_queue": "dlq"}); err != nil {
		t.Fatal(err)
	}
	ids := post(t, e, "q", `"a"`)
	c1, _ := e.CreateClaim(ctx, "p", "q", storage.ClaimOptions{TTL: 60, Grace: 60, Limit: 5})
	if len(c1.Messages) != 1 || c1.Messages[0].TTL != 300 {
		t.Fatalf("claim 1: %+v", c1)
	}
	if c, _ := e.CreateClaim(ctx, "p", "q", storage.ClaimOptions{TTL: 60, Grace: 60, Limit: 5}); len(c.Messages) != 0 {
		t.Fatal("claimed message claimed twice")
	}
	clk.Add(61 * time.Second)
	if _, err := e.GetClaim(ctx, "p", "q", c1.ID); !errors.Is(err, storage.ErrClaimNotFound) {
		t.Fatalf("expired claim: %v", err)
	}
	c2, _ := e.CreateClaim(ctx, "p", "q", storage.ClaimOptions{TTL: 60, Grace: 60, Limit: 5})
	if len(c2.Messages) != 0 {
		t.Fatalf("message over max claim count returned: %+v", c2)
	}
	if _, err := e.GetMessage(ctx, "p", "q", ids[0]); !errors.Is(err, storage.ErrMessageNotFound) {
		t.Fatalf("moved message still in source: %v", err)
	}
	dl, _, _ := e.ListMessages(ctx, "p", "dlq", storage.ListMessagesOptions{Limit: 5, Echo: true})
	if len(dl) != 1 || string(dl[0].Body) != `"a"` {
		t.Fatalf("dead letter queue: %+v", dl)
	}
}

// TestRecoveryFromLogAlone never writes Badger, so everything acknowledged
// must come back from the WAL: the strongest form of the crash promise.
func TestRecoveryFromLogAlone(t *testing.T) {
	dir := t.TempDir()
	mut := func(o *Options) { o.noFlush = true }
	e := openEngine(t, dir, mut)
	ids := post(t, e, "q", "1", "2", "3", "4")
	e.CreateQueue(ctx, "p", "meta", storage.Metadata{"color": "blue"})
	if err := e.DeleteMessage(ctx, "p", "q", ids[1], ""); err != nil {
		t.Fatal(err)
	}
	c, _ := e.CreateClaim(ctx, "p", "q", storage.ClaimOptions{TTL: 600, Grace: 60, Limit: 1})
	sub, _, _ := e.CreateSubscription(ctx, "p", "q", storage.NewSubscription{Subscriber: "http://x", TTL: 3600})
	crash(t, e)

	e = openEngine(t, dir, nil)
	defer e.Close()
	msgs, _, _ := e.ListMessages(ctx, "p", "q", storage.ListMessagesOptions{Limit: 10, Echo: true, IncludeClaimed: true})
	if len(msgs) != 3 || msgs[0].ID != ids[0] || msgs[1].ID != ids[2] {
		t.Fatalf("recovered %d messages: %+v", len(msgs), msgs)
	}
	if msgs[0].ClaimID != c.ID {
		t.Fatalf("claim lost: %q", msgs[0].ClaimID)
	}
	if m, err := e.GetQueueMetadata(ctx, "p", "meta"); err != nil || m["color"] != "blue" {
		t.Fatalf("metadata lost: %v %v", m, err)
	}
	if _, err := e.GetSubscription(ctx, "p", "q", sub.ID); err != nil {
		t.Fatalf("subscription lost: %v", err)
	}
	more := post(t, e, "q", "5")
	if more[0] <= ids[3] {
		t.Fatalf("sequence went backwards: %s after %s", more[0], ids[3])
	}
	// A second restart, now from Badger plus what is left of the log.
	e.Close()
	e = openEngine(t, dir, nil)
	msgs, _, _ = e.ListMessages(ctx, "p", "q", storage.ListMessagesOptions{Limit: 10, Echo: true, IncludeClaimed: true})
	if len(msgs) != 4 {
		t.Fatalf("after clean restart: %d messages", len(msgs))
	}
}

func TestReaperReclaimsExpired(t *testing.T) {
	clk := testenv.NewClock(time.Unix(1_700_000_000, 0))
	e := openEngine(t, t.TempDir(), func(o *Options) { o.Clock = clk.Now })
	defer e.Close()
	for i := 0; i < 50; i++ {
		post(t, e, "q", fmt.Sprint(i))
	}
	clk.Add(301 * time.Second)
	if st, _ := e.QueueStats(ctx, "p", "q"); st.Total != 0 {
		t.Fatalf("expired messages counted: %+v", st)
	}
	p := e.partition("p", "q")
	done := make(chan struct{})
	p.reapNow()
	p.flushes <- flushJob{sync: done}
	<-done
	if q := p.queue(qkey("p", "q")); len(q.snapshot()) != 0 {
		t.Fatalf("reaper left %d entries", len(q.snapshot()))
	}
}

func TestPartitionCountIsFixed(t *testing.T) {
	dir := t.TempDir()
	openEngine(t, dir, nil).Close()
	o := DefaultOptions(dir)
	o.Partitions = 8
	if _, err := Open(o); err == nil {
		t.Fatal("reopened with a different partition count")
	}
}

// TestFlushAfterQueueReaped: a create record may reach the flusher after
// its queue was deleted and its state reaped; that must not crash.
func TestFlushAfterQueueReaped(t *testing.T) {
	e := openEngine(t, t.TempDir(), nil)
	defer e.Close()
	p := e.partition("p", "gone")
	for _, typ := range []byte{recQueueCreate, recQueueMeta, recClaim, recClaimUpdate, recClaimRelease, recPost, recSubCreate} {
		r := &record{Type: typ, Project: "p", Queue: "gone", Time: 1, Meta: []byte(`{}`), ClaimID: "c",
			Msgs: []recMsg{{Seq: 1, Body: []byte("1")}}}
		if err := p.persist(flushJob{recs: []applied{{rec: r}}}); err != nil {
			t.Fatalf("record type %d: %v", typ, err)
		}
	}
}

// TestLogEndingBeforeCheckpoint: a log that lost records a checkpoint
// covers must not hand their indexes out again, or the next replay would
// skip the new records as covered.
func TestLogEndingBeforeCheckpoint(t *testing.T) {
	dir := t.TempDir()
	e := openEngine(t, dir, nil)
	post(t, e, "q", "1")
	checkpointNow(e)
	pid := e.partitionIndex("p", "q")
	e.Close()

	db, err := badger.Open(badger.DefaultOptions(filepath.Join(dir, "badger")).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(txn *badger.Txn) error {
		return txn.Set(ckptKey(pid), binary.BigEndian.AppendUint64(nil, 1000))
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	// Nothing reaches Badger from now on: only the log keeps what follows.
	e = openEngine(t, dir, func(o *Options) { o.noFlush = true })
	if last := e.parts[pid].log.LastIndex(); last != 1000 {
		t.Fatalf("log last index = %d, want 1000", last)
	}
	late := post(t, e, "q", "2")
	crash(t, e)
	e = openEngine(t, dir, nil)
	defer e.Close()
	if _, err := e.GetMessage(ctx, "p", "q", late[0]); err != nil {
		t.Fatalf("message posted after the skip lost: %v", err)
	}
}

// TestCheckpointSyncsUnsyncedLog: Badger's index points into the log, so
// without fsync=always a checkpoint first makes the log durable.
func TestCheckpointSyncsUnsyncedLog(t *testing.T) {
	for _, policy := range []wal.SyncPolicy{wal.SyncNever, wal.SyncAlways} {
		e := openEngine(t, t.TempDir(), func(o *Options) { o.Fsync = policy })
		post(t, e, "q", "1")
		p := e.parts[e.partitionIndex("p", "q")]
		before := p.log.Stats().Syncs
		checkpointNow(e)
		synced := p.log.Stats().Syncs > before
		if synced != (policy == wal.SyncNever) {
			t.Errorf("%v: checkpoint synced the log: %v", policy, synced)
		}
		e.Close()
	}
}
