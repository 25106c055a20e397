package redisstore

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/zaqar-go/zaqar/internal/testenv"
	"github.com/zaqar-go/zaqar/storage"
)

// TestSweepFindsExpiredBehindLiveHead: expired messages queued behind a
// long-lived one are removed too, at most SweepBatch per queue and sweep.
func TestSweepFindsExpiredBehindLiveHead(t *testing.T) {
	clock := testenv.NewClock(time.Unix(1_800_000_000, 0))
	s := openWith(t, Options{Clock: clock.Now, SweepInterval: -1, SweepBatch: 2})
	ctx := context.Background()
	msgs := []storage.NewMessage{{Body: []byte(`"head"`), TTL: 3600}}
	for i := 0; i < 5; i++ {
		msgs = append(msgs, storage.NewMessage{Body: []byte(`"short"`), TTL: 60})
	}
	if _, err := s.PostMessages(ctx, "p", "q", "c", msgs); err != nil {
		t.Fatal(err)
	}
	clock.Add(2 * time.Minute)
	var got []int64
	for i := 0; i < 4; i++ {
		n, err := s.Sweep(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, n)
	}
	if want := []int64{2, 2, 1, 0}; !slices.Equal(got, want) {
		t.Fatalf("removed per sweep %v, want %v", got, want)
	}
	k := s.qk("p", "q")
	if n := s.rdb.HLen(ctx, k.m).Val(); n != 1 {
		t.Fatalf("%d message records left, want the head only", n)
	}
	if n := s.rdb.ZCard(ctx, k.x).Val(); n != 1 {
		t.Fatalf("%d expiry entries left, want 1", n)
	}
	msgsLeft, _, err := s.ListMessages(ctx, "p", "q", storage.ListMessagesOptions{Limit: 10, Echo: true})
	if err != nil || len(msgsLeft) != 1 || string(msgsLeft[0].Body) != `"head"` {
		t.Fatalf("after sweeping: %v %v", msgsLeft, err)
	}
}

// TestSweepKeepsMessagesAClaimExtended: a claim longer than the message's
// TTL extends its life; the sweeper must not remove it at the old expiry.
func TestSweepKeepsMessagesAClaimExtended(t *testing.T) {
	clock := testenv.NewClock(time.Unix(1_800_000_000, 0))
	s := open(t, clock.Now)
	ctx := context.Background()
	ids, err := s.PostMessages(ctx, "p", "q", "c", []storage.NewMessage{{Body: []byte(`1`), TTL: 60}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.CreateClaim(ctx, "p", "q", storage.ClaimOptions{TTL: 300, Grace: 60, Limit: 1})
	if err != nil || len(c.Messages) != 1 {
		t.Fatalf("claim: %+v %v", c, err)
	}
	clock.Add(2 * time.Minute)
	if n, err := s.Sweep(ctx); err != nil || n != 0 {
		t.Fatalf("swept %d (%v) while the claim holds the message", n, err)
	}
	if err := s.DeleteMessage(ctx, "p", "q", ids[0], c.ID); err != nil {
		t.Fatalf("delete with the claim after the original TTL: %v", err)
	}
}

// TestDeadLetterPolicyFollowsMetadata: replacing the metadata replaces the
// dead letter policy the claim script reads.
func TestDeadLetterPolicyFollowsMetadata(t *testing.T) {
	s := open(t, nil)
	ctx := context.Background()
	policy := storage.Metadata{storage.MetaMaxClaimCount: 1, storage.MetaDeadLetterQueue: "dead"}
	if _, err := s.CreateQueue(ctx, "p", "q", policy); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PostMessages(ctx, "p", "q", "c", []storage.NewMessage{{Body: []byte(`1`), TTL: 600}}); err != nil {
		t.Fatal(err)
	}
	claimAndRelease := func() int {
		t.Helper()
		c, err := s.CreateClaim(ctx, "p", "q", storage.ClaimOptions{TTL: 60, Grace: 60, Limit: 5})
		if err != nil {
			t.Fatal(err)
		}
		if c.ID != "" {
			if err := s.DeleteClaim(ctx, "p", "q", c.ID); err != nil {
				t.Fatal(err)
			}
		}
		return len(c.Messages)
	}
	if n := claimAndRelease(); n != 1 {
		t.Fatalf("first claim took %d", n)
	}
	if err := s.SetQueueMetadata(ctx, "p", "q", storage.Metadata{"note": "no policy"}); err != nil {
		t.Fatal(err)
	}
	if n := claimAndRelease(); n != 1 {
		t.Fatalf("claim without a policy took %d, want the message again", n)
	}
	if err := s.SetQueueMetadata(ctx, "p", "q", policy); err != nil {
		t.Fatal(err)
	}
	if n := claimAndRelease(); n != 0 {
		t.Fatalf("claim under the policy took %d, want the move to the dead letter queue", n)
	}
	dead, _, err := s.ListMessages(ctx, "p", "dead", storage.ListMessagesOptions{Limit: 10, Echo: true})
	if err != nil || len(dead) != 1 {
		t.Fatalf("dead letter queue: %v %v", dead, err)
	}
}

// roundTrips counts network round trips: one per command outside a
// pipeline, one per pipeline.
type roundTrips struct{ n atomic.Int64 }

func (r *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }
func (r *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { r.n.Add(1); return next(ctx, cmd) }
}
func (r *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { r.n.Add(1); return next(ctx, cmds) }
}

// TestOneRoundTripPerOperation: a batch post, a claim, a claim renewal, a
// delete under a claim and a claim release each cost one round trip once
// Redis has the scripts.
func TestOneRoundTripPerOperation(t *testing.T) {
	s := open(t, nil)
	ctx := context.Background()
	rt := &roundTrips{}
	s.rdb.AddHook(rt)
	batch := make([]storage.NewMessage, 10)
	for i := range batch {
		batch[i] = storage.NewMessage{Body: []byte(`{"n":1}`), TTL: 600}
	}
	warm := func() {
		// Loads every script into Redis's cache (EVALSHA then EVAL).
		s.PostMessages(ctx, "p", "warm", "c", batch)
		c, err := s.CreateClaim(ctx, "p", "warm", storage.ClaimOptions{TTL: 60, Grace: 60, Limit: 2})
		if err != nil || len(c.Messages) == 0 {
			t.Fatalf("warm-up claim: %v", err)
		}
		s.UpdateClaim(ctx, "p", "warm", c.ID, 60, 60)
		s.DeleteMessage(ctx, "p", "warm", c.Messages[0].ID, c.ID)
		s.DeleteClaim(ctx, "p", "warm", c.ID)
	}
	warm()
	// The first post to a queue also records it in the indexes.
	if _, err := s.PostMessages(ctx, "p", "q", "c", batch[:1]); err != nil {
		t.Fatal(err)
	}
	var c storage.Claim
	for _, op := range []struct {
		name string
		run  func() error
	}{
		{"post 10", func() error { _, err := s.PostMessages(ctx, "p", "q", "c", batch); return err }},
		{"claim 5", func() (err error) {
			c, err = s.CreateClaim(ctx, "p", "q", storage.ClaimOptions{TTL: 60, Grace: 60, Limit: 5})
			return err
		}},
		{"renew claim", func() error { return s.UpdateClaim(ctx, "p", "q", c.ID, 120, 60) }},
		{"delete with claim", func() error { return s.DeleteMessage(ctx, "p", "q", c.Messages[0].ID, c.ID) }},
		{"release claim", func() error { return s.DeleteClaim(ctx, "p", "q", c.ID) }},
	} {
		before := rt.n.Load()
		if err := op.run(); err != nil {
			t.Fatalf("%s: %v", op.name, err)
		}
		if n := rt.n.Load() - before; n != 1 {
			t.Errorf("%s: %d round trips, want 1", op.name, n)
		}
	}
	if len(c.Messages) != 5 {
		t.Fatalf("claimed %d, want 5", len(c.Messages))
	}
}

// TestIndexesFollowAQueueDeletedElsewhere: a queue is indexed by its
// first post only; when another node deletes it, the next post through
// the first node indexes it again, so it is listed.
func TestIndexesFollowAQueueDeletedElsewhere(t *testing.T) {
	a := open(t, nil)
	b, err := Open(testenv.RedisURI(t), Options{Prefix: a.o.Prefix, Logger: quiet, SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	post := func() {
		t.Helper()
		if _, err := a.PostMessages(ctx, "p", "q", "c", []storage.NewMessage{{Body: []byte(`1`), TTL: 60}}); err != nil {
			t.Fatal(err)
		}
	}
	listed := func() bool {
		qs, err := b.ListQueues(ctx, "p", storage.ListQueuesOptions{Limit: 10})
		return err == nil && len(qs) == 1 && qs[0].Name == "q"
	}
	post()
	post()
	if !listed() {
		t.Fatal("posted queue not listed")
	}
	if err := b.DeleteQueue(ctx, "p", "q"); err != nil {
		t.Fatal(err)
	}
	if listed() {
		t.Fatal("deleted queue still listed")
	}
	post()
	if !listed() {
		t.Fatal("queue posted to again after a delete through another node is not listed")
	}
}
