package httpapi

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zaqar-go/zaqar/engine"
	"github.com/zaqar-go/zaqar/internal/testenv"
	"github.com/zaqar-go/zaqar/storage"
)

// counting counts claim attempts; the engine's Changes is promoted.
type counting struct {
	*engine.Engine
	claims atomic.Int64
}

func (c *counting) CreateClaim(ctx context.Context, project, queue string, o storage.ClaimOptions) (storage.Claim, error) {
	c.claims.Add(1)
	return c.Engine.CreateClaim(ctx, project, queue, o)
}

// TestIdleWaitersCostNoCPU: 5,000 waiting claims (1,000 under the race
// detector, which bounds live goroutines) cost next to no CPU over an
// idle second; one post wakes one of them (not all: they would look in
// vain), and Close answers the rest.
func TestIdleWaitersCostNoCPU(t *testing.T) {
	n := 5000
	if raceEnabled {
		n = 1000
	}
	if testing.Short() {
		n = 500
	}
	store := &counting{Engine: openEngine(t, nil)}
	s, api := newWaitServer(t, store, n+10, nil)
	before, start := testenv.ProcessCPU(t), time.Now()
	time.Sleep(time.Second)
	t.Logf("no waiting request: %v CPU over %v", testenv.ProcessCPU(t)-before, time.Since(start).Round(time.Millisecond))
	answers := make([]<-chan answer, n)
	for i := range answers {
		answers[i] = async(s.client, "POST", "/v2/queues/q/claims?wait=20&limit=1", "")
	}
	eventually(t, "every waiter", waiting(api, int64(n)))
	time.Sleep(200 * time.Millisecond) // let the start-up's garbage be collected
	before, start = testenv.ProcessCPU(t), time.Now()
	time.Sleep(time.Second)
	cpu, wall := testenv.ProcessCPU(t)-before, time.Since(start)
	t.Logf("%d waiting requests: %v CPU over %v (%.2f%% of one core)", n, cpu, wall.Round(time.Millisecond),
		100*cpu.Seconds()/wall.Seconds())
	if cpu > 100*time.Millisecond {
		t.Fatalf("%d idle waiters cost %v CPU in %v", n, cpu, wall)
	}

	tried := store.claims.Load()
	s.expect("post", s.do("POST", "/v2/queues/q/messages", `{"messages":[{"body":"one"}]}`), 201)
	eventually(t, "a waiter woken and claiming", func() bool { return store.claims.Load() > tried })
	eventually(t, "the others waiting", waiting(api, int64(n-1)))
	// Claim waiters are woken one at a time: the one that took the
	// message (all it asked for) wakes the next, which finds nothing.
	if tries := store.claims.Load() - tried; tries > 2 {
		t.Fatalf("a post of one message made %d claim attempts among %d waiters, want at most 2", tries, n)
	}
	api.Close()
	got := map[int]int{}
	for _, ch := range answers {
		got[receive(t, ch, 5*time.Second).status]++
	}
	if got[201] != 1 || got[204] != n-1 {
		t.Fatalf("answers by status %v, want one 201 and %d 204", got, n-1)
	}
}
