package redisstore

import (
	"bufio"
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/zaqar-go/zaqar/httpapi"
	"github.com/zaqar-go/zaqar/internal/testenv"
	"github.com/zaqar-go/zaqar/storage"
)

// node opens another store (another server node) over the keys of s.
func node(t testing.TB, s *Store, o Options) *Store {
	t.Helper()
	o.Prefix, o.Logger = s.o.Prefix, quiet
	if o.SweepInterval == 0 {
		o.SweepInterval = -1
	}
	n, err := Open(testenv.RedisURI(t), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func wokenWithin(t testing.TB, ch <-chan struct{}, d time.Duration, what string) time.Duration {
	t.Helper()
	start := time.Now()
	select {
	case <-ch:
		return time.Since(start)
	case <-time.After(d):
		t.Fatalf("%s: no wake within %v", what, d)
	}
	return 0
}

// subscribed waits until s has subscribed to the queue's channel (the
// confirmation wakes the first waiter), then registers a fresh waiter.
func subscribed(t testing.TB, s *Store, project, queue string) (<-chan struct{}, func()) {
	t.Helper()
	ch, done := s.Changes(project, queue)
	wokenWithin(t, ch, 5*time.Second, "subscription confirmed")
	ch2, done2 := s.Changes(project, queue)
	done() // the channel stays subscribed: done2's waiter holds it
	if isClosed(ch2) {
		t.Fatal("woken for nothing right after subscribing")
	}
	return ch2, done2
}

func postTo(t testing.TB, s *Store, queue string, delay int64) []string {
	t.Helper()
	ids, err := s.PostMessages(context.Background(), "p", queue, "c", []storage.NewMessage{{Body: []byte(`"m"`), TTL: 600, Delay: delay}})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// TestChangesAcrossNodes: a post or a released claim through another node
// wakes this node's waiters at once; an all-delayed post does not.
func TestChangesAcrossNodes(t *testing.T) {
	a := open(t, nil)
	b := node(t, a, Options{})
	ctx := context.Background()

	ch, done := subscribed(t, a, "p", "q")
	posted := time.Now()
	postTo(t, b, "q", 0)
	wokenWithin(t, ch, 2*time.Second, "post on b")
	t.Logf("a post through another node woke the waiter %v after it was sent", time.Since(posted))
	done()

	c, err := b.CreateClaim(ctx, "p", "q", storage.ClaimOptions{TTL: 60, Grace: 60, Limit: 1})
	if err != nil || len(c.Messages) != 1 {
		t.Fatalf("claim: %+v %v", c, err)
	}
	ch, done = a.Changes("p", "q") // still subscribed (lingering)
	if err := b.DeleteClaim(ctx, "p", "q", c.ID); err != nil {
		t.Fatal(err)
	}
	wokenWithin(t, ch, 2*time.Second, "claim released on b")
	done()

	ch, done = a.Changes("p", "q")
	defer done()
	postTo(t, b, "q", 30)
	time.Sleep(200 * time.Millisecond)
	if isClosed(ch) {
		t.Fatal("a post of delayed messages only woke the waiter")
	}
	other, doneOther := subscribed(t, a, "p", "other")
	defer doneOther()
	postTo(t, b, "q", 0)
	wokenWithin(t, ch, 2*time.Second, "post on b")
	if isClosed(other) {
		t.Fatal("another queue's waiter was woken")
	}
}

// TestSweepWakes: a claim that ran out holding messages and a delay that
// ended wake waiters at the sweep (on any node); a claim that ran out
// after its messages were deleted does not.
func TestSweepWakes(t *testing.T) {
	clock := testenv.NewClock(time.Unix(1_800_000_000, 0))
	a := open(t, clock.Now)
	b := node(t, a, Options{Clock: clock.Now})
	ctx := context.Background()

	postTo(t, a, "q", 0)
	if _, err := a.CreateClaim(ctx, "p", "q", storage.ClaimOptions{TTL: 60, Grace: 60, Limit: 1}); err != nil {
		t.Fatal(err)
	}
	ch, done := subscribed(t, a, "p", "q")
	clock.Add(30 * time.Second)
	if _, err := b.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if isClosed(ch) {
		t.Fatal("woken while the claim runs")
	}
	clock.Add(31 * time.Second)
	if _, err := b.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	wokenWithin(t, ch, 2*time.Second, "the sweep after the claim ran out")
	done()

	c, err := a.CreateClaim(ctx, "p", "q", storage.ClaimOptions{TTL: 60, Grace: 60, Limit: 1})
	if err != nil || len(c.Messages) != 1 {
		t.Fatalf("claim: %+v %v", c, err)
	}
	if err := a.DeleteMessage(ctx, "p", "q", c.Messages[0].ID, c.ID); err != nil {
		t.Fatal(err)
	}
	ch, done = a.Changes("p", "q")
	clock.Add(61 * time.Second)
	if _, err := b.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if isClosed(ch) {
		t.Fatal("woken by a claim that ran out holding nothing")
	}

	postTo(t, a, "q", 30)
	clock.Add(31 * time.Second)
	if _, err := b.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	wokenWithin(t, ch, 2*time.Second, "the sweep after the delay ended")
	done()
	if n := a.rdb.ZCard(ctx, a.qk("p", "q").d).Val(); n != 0 {
		t.Fatalf("%d ended delays left in the delay index", n)
	}
}

// TestLongPollOverRedis: through the HTTP API on one node, a waiting
// claim is answered within milliseconds of a post through another node.
func TestLongPollOverRedis(t *testing.T) {
	a := open(t, nil)
	b := node(t, a, Options{})
	opts := httpapi.DefaultOptions()
	opts.Logger = quiet
	api, err := httpapi.New(a, opts)
	if err != nil {
		t.Fatal(err)
	}
	c := testenv.ServeInMemory(t, api.Handler())
	c.ReadTimeout = 30 * time.Second
	headers := []string{"Client-ID: 3a1d6a3e-0000-4000-8000-000000000001", "X-Project-ID: p"}
	answer := make(chan testenv.Response, 1)
	go func() {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		req.SetRequestURI("http://zaqar/v2/queues/lp/claims?wait=20")
		req.Header.SetMethod("POST")
		for _, h := range headers {
			k, v, _ := strings.Cut(h, ":")
			req.Header.Set(k, strings.TrimSpace(v))
		}
		if err := c.Do(req, resp); err != nil {
			answer <- testenv.Response{Body: err.Error()}
			return
		}
		answer <- testenv.Response{Status: resp.StatusCode(), Body: string(resp.Body())}
	}()
	for deadline := time.Now().Add(10 * time.Second); waitingRequests(t, c) != 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the claim is not waiting")
		}
	}
	posted := time.Now()
	if _, err := b.PostMessages(context.Background(), "p", "lp", "c", []storage.NewMessage{{Body: []byte(`{"from":"b"}`), TTL: 600}}); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-answer:
		if r.Status != 201 || !strings.Contains(r.Body, `{"from":"b"}`) {
			t.Fatalf("claim: %d %s", r.Status, r.Body)
		}
		if d := time.Since(posted); d > 2*time.Second {
			t.Fatalf("answered %v after the post", d)
		} else {
			t.Logf("answered %v after a post through another node", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting claim was not answered")
	}
}

// waitingRequests reads the API's zaqar_http_waiting_requests gauge.
func waitingRequests(t testing.TB, c *fasthttp.Client) int {
	r := testenv.Do(t, c, "GET", "/metrics", "")
	sc := bufio.NewScanner(strings.NewReader(r.Body))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "zaqar_http_waiting_requests "); ok {
			n, _ := strconv.ParseFloat(v, 64)
			return int(n)
		}
	}
	return -1
}

// TestWakeLingerAndResubscribe: a channel without waiters is unsubscribed
// after the linger, and subscribed again for the next waiter.
func TestWakeLingerAndResubscribe(t *testing.T) {
	a := open(t, nil)
	a.wake.linger = 50 * time.Millisecond
	ctx := context.Background()
	name := a.qk("p", "q").wake
	numsub := func() int64 { return a.rdb.PubSubNumSub(ctx, name).Val()[name] }
	ch, done := subscribed(t, a, "p", "q")
	if n := numsub(); n != 1 {
		t.Fatalf("%d subscribers, want 1", n)
	}
	done()
	for deadline := time.Now().Add(5 * time.Second); numsub() != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("not unsubscribed after the linger")
		}
	}
	ch, done = subscribed(t, a, "p", "q")
	defer done()
	postTo(t, a, "q", 0)
	wokenWithin(t, ch, 2*time.Second, "post after resubscribing")
}

// TestWakeAfterRedisRestart: waiters are woken when the Pub/Sub
// connection comes back (what was published meanwhile is lost), and later
// posts wake them again.
func TestWakeAfterRedisRestart(t *testing.T) {
	r := testenv.StartRedis(t)
	s, err := Open(r.URI(), Options{Logger: quiet, SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ch, done := subscribed(t, s, "p", "q")
	r.Stop()
	r.Start()
	t.Logf("woken %v after the restart", wokenWithin(t, ch, 10*time.Second, "the reconnect"))
	done()
	ch, done = s.Changes("p", "q") // still subscribed (lingering), again
	defer done()
	postTo(t, s, "q", 0)
	wokenWithin(t, ch, 2*time.Second, "post after the restart")
}

// TestChangesOfAClosedStore: Close wakes waiters; afterwards the store
// cannot wake (they answer at their deadline).
func TestChangesOfAClosedStore(t *testing.T) {
	uri := testenv.RedisURI(t)
	s, err := Open(uri, Options{Logger: quiet, SweepInterval: -1, Prefix: fmt.Sprintf("zqtest-%d-closed", runID)})
	if err != nil {
		t.Fatal(err)
	}
	ch, done := s.Changes("p", "q")
	defer done()
	s.Close()
	wokenWithin(t, ch, 2*time.Second, "Close")
	if _, done, ok := storage.Changes(s, "p", "q"); ok {
		t.Fatal("a closed store offers Changes")
	} else {
		done()
	}
}
