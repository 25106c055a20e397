package engine

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/zaqar-go/zaqar/storage"
)

// TestDeadLetterMove covers both ways a message moves to its dead letter
// queue: within one partition (one group: post and delete in one log
// frame) and across partitions (held, posted there, deleted here). In
// both, a crash right after the claim keeps the move, and the message is
// in exactly one of the two queues.
func TestDeadLetterMove(t *testing.T) {
	dir := t.TempDir()
	e := openEngine(t, dir, func(o *Options) { o.Partitions = 2 })
	same, other := queuePair(e, "dlq", true), queuePair(e, "dlq", false)
	meta := storage.Metadata{storage.MetaMaxClaimCount: json.Number("1"), storage.MetaDeadLetterQueue: "dlq",
		storage.MetaDeadLetterTTL: json.Number("500")}
	for _, src := range []string{same, other} {
		if _, err := e.CreateQueue(ctx, "p", src, meta); err != nil {
			t.Fatal(err)
		}
		post(t, e, src, `"`+src+`"`)
		c, err := e.CreateClaim(ctx, "p", src, storage.ClaimOptions{TTL: 60, Grace: 60, Limit: 5})
		if err != nil || len(c.Messages) != 1 {
			t.Fatalf("%s: first claim: %+v %v", src, c, err)
		}
		if err := e.DeleteClaim(ctx, "p", src, c.ID); err != nil {
			t.Fatal(err)
		}
		if c, err := e.CreateClaim(ctx, "p", src, storage.ClaimOptions{TTL: 60, Grace: 60, Limit: 5}); err != nil || len(c.Messages) != 0 {
			t.Fatalf("%s: claim past the limit: %+v %v", src, c, err)
		}
	}
	crash(t, e)
	e = openEngine(t, dir, func(o *Options) { o.Partitions = 2 })
	defer e.Close()
	for _, src := range []string{same, other} {
		if st, _ := e.QueueStats(ctx, "p", src); st.Total != 0 {
			t.Fatalf("%s: %d messages left after the move", src, st.Total)
		}
	}
	moved, _, err := e.ListMessages(ctx, "p", "dlq", storage.ListMessagesOptions{Limit: 10, Echo: true})
	if err != nil || len(moved) != 2 {
		t.Fatalf("dead letter queue: %+v %v", moved, err)
	}
	bodies := map[string]bool{}
	for _, m := range moved {
		bodies[string(m.Body)] = true
		if m.TTL != 500 || m.ClientID != "client-a" || m.ClaimCount != 0 {
			t.Fatalf("moved message %+v", m)
		}
	}
	if !bodies[`"`+same+`"`] || !bodies[`"`+other+`"`] {
		t.Fatalf("moved bodies %v", bodies)
	}
}

// queuePair returns a queue name in (samePartition) or out of dlq's
// partition.
func queuePair(e *Engine, dlq string, samePartition bool) string {
	for i := 0; ; i++ {
		name := fmt.Sprintf("src%d", i)
		if (e.partitionIndex("p", name) == e.partitionIndex("p", dlq)) == samePartition {
			return name
		}
	}
}
