package queuemetrics

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/zaqar-go/zaqar/engine"
	"github.com/zaqar-go/zaqar/internal/testenv"
	"github.com/zaqar-go/zaqar/storage"
)

type env struct {
	t     *testing.T
	eng   *engine.Engine
	store *Store
	reg   *prometheus.Registry
	clock *testenv.Clock
	ctx   context.Context
}

func newEnv(t *testing.T, o Options) *env {
	t.Helper()
	clock := testenv.NewClock(time.Unix(1_800_000_000, 0))
	opts := engine.DefaultOptions(t.TempDir())
	opts.Clock, opts.MinFreeBytes = clock.Now, 0
	eng, err := engine.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	o.Registry, o.Now = reg, clock.Now
	if o.Queues == nil {
		o.Queues = eng.EachQueue
	}
	s, err := Wrap(eng, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &env{t: t, eng: eng, store: s, reg: reg, clock: clock, ctx: context.Background()}
}

// scrape gathers the registry, as a scrape would, after the cache has
// expired: series by name, each as label set → value.
func (e *env) scrape() map[string]map[string]float64 {
	e.t.Helper()
	e.clock.Add(cacheFor + time.Second)
	families, err := e.reg.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]map[string]float64{}
	for _, f := range families {
		series := map[string]float64{}
		for _, m := range f.Metric {
			series[labelText(m.Label)] = value(m)
		}
		out[f.GetName()] = series
	}
	return out
}

func labelText(ls []*dto.LabelPair) string {
	s := ""
	for _, l := range ls {
		s += l.GetName() + "=" + l.GetValue() + ","
	}
	return s
}

func value(m *dto.Metric) float64 {
	if m.Gauge != nil {
		return m.Gauge.GetValue()
	}
	return m.Counter.GetValue()
}

func (e *env) post(project, queue string, msgs ...storage.NewMessage) {
	e.t.Helper()
	if _, err := e.store.PostMessages(e.ctx, project, queue, "c", msgs); err != nil {
		e.t.Fatal(err)
	}
}

func msg(delay int64) storage.NewMessage {
	return storage.NewMessage{Body: []byte(`{"n":1}`), TTL: 3600, Delay: delay}
}

func expect(t *testing.T, got map[string]map[string]float64, name, labels string, want float64) {
	t.Helper()
	v, ok := got[name][labels]
	if !ok {
		t.Fatalf("%s{%s} missing; have %v", name, labels, got[name])
	}
	if v != want {
		t.Fatalf("%s{%s} = %v, want %v", name, labels, v, want)
	}
}

// TestPerQueueSeries: the gauges follow the queue's state (visible,
// claimed, delayed, oldest age) and the counters its posts, claims and
// deletes, per queue and in total; a queue nobody has touched since
// start is listed too (the engine enumerates its queues).
func TestPerQueueSeries(t *testing.T) {
	e := newEnv(t, Options{PerQueue: true, Limit: 10})
	e.post("p1", "orders", msg(0), msg(0), msg(0), msg(600))
	if _, err := e.eng.CreateQueue(e.ctx, "p2", "idle", nil); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(30 * time.Second)
	c, err := e.store.CreateClaim(e.ctx, "p1", "orders", storage.ClaimOptions{Limit: 2, TTL: 300, Grace: 60})
	if err != nil || len(c.Messages) != 2 {
		t.Fatalf("claim: %+v %v", c, err)
	}
	if err := e.store.DeleteMessage(e.ctx, "p1", "orders", c.Messages[0].ID, c.ID); err != nil {
		t.Fatal(err)
	}
	got := e.scrape()
	q := "project=p1,queue=orders,"
	expect(t, got, "zaqar_queue_messages", q+"state=visible,", 1)
	expect(t, got, "zaqar_queue_messages", q+"state=claimed,", 1)
	expect(t, got, "zaqar_queue_messages", q+"state=delayed,", 1)
	if age := got["zaqar_queue_oldest_message_age_seconds"][q]; age < 30 || age > 60 {
		t.Fatalf("oldest age %v, want 30 s and a scrape's advance", age)
	}
	expect(t, got, "zaqar_queue_messages_posted_total", q, 4)
	expect(t, got, "zaqar_queue_messages_claimed_total", q, 2)
	expect(t, got, "zaqar_queue_messages_deleted_total", q, 1)
	expect(t, got, "zaqar_queue_messages", "project=p2,queue=idle,state=visible,", 0)
	expect(t, got, "zaqar_queue_messages_posted_total", "project=p2,queue=idle,", 0)
	expect(t, got, "zaqar_messages", "state=visible,", 1)
	expect(t, got, "zaqar_messages_posted_total", "", 4)
	expect(t, got, "zaqar_queues", "", 2)
	expect(t, got, "zaqar_queue_series_omitted", "", 0)

	// A deleted queue's series go; the totals never decrease.
	if err := e.store.DeleteQueue(e.ctx, "p1", "orders"); err != nil {
		t.Fatal(err)
	}
	got = e.scrape()
	if _, ok := got["zaqar_queue_messages_posted_total"][q]; ok {
		t.Fatal("a deleted queue keeps its series")
	}
	expect(t, got, "zaqar_messages_posted_total", "", 4)
	expect(t, got, "zaqar_queues", "", 1)
}

// TestLimitBoundsSeries: with many queues only the limit with the most
// messages get series, and per_queue_metrics = false leaves only the
// totals.
func TestLimitBoundsSeries(t *testing.T) {
	for _, perQueue := range []bool{true, false} {
		e := newEnv(t, Options{PerQueue: perQueue, Limit: 3})
		for i := range 40 {
			msgs := make([]storage.NewMessage, 1+i%7)
			for j := range msgs {
				msgs[j] = msg(0)
			}
			e.post("p", fmt.Sprintf("q%02d", i), msgs...)
		}
		got := e.scrape()
		expect(t, got, "zaqar_queues", "", 40)
		expect(t, got, "zaqar_messages", "state=visible,", 155) // 40 queues of 1..7 messages
		if !perQueue {
			expect(t, got, "zaqar_queue_series_omitted", "", 40)
			if len(got["zaqar_queue_messages"]) != 0 {
				t.Fatalf("per-queue series while off: %v", got["zaqar_queue_messages"])
			}
			continue
		}
		expect(t, got, "zaqar_queue_series_omitted", "", 37)
		if n := len(got["zaqar_queue_messages_posted_total"]); n != 3 {
			t.Fatalf("%d queues with series, want 3", n)
		}
		// 7 messages: q06, q13, q20, ... ; the first three by name among equals.
		for _, q := range []string{"q06", "q13", "q20"} {
			expect(t, got, "zaqar_queue_messages", "project=p,queue="+q+",state=visible,", 7)
		}
	}
}

// TestMadeUpQueuesCostNothing: deletes naming queues that do not exist
// create no series and no counters (requests cannot grow the map), and a
// store that cannot enumerate its queues reports those it has seen.
func TestMadeUpQueuesCostNothing(t *testing.T) {
	e := newEnv(t, Options{PerQueue: true, Limit: 10, Queues: func(func(string, string) bool) {}})
	e.store.opts.Queues = nil // as for a store that cannot enumerate
	for i := range 100 {
		if err := e.store.DeleteMessage(e.ctx, "p", fmt.Sprintf("ghost%d", i), "0000000000000001aaaaaaaaaaaaaaaa", ""); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(e.store.queues); n != 0 {
		t.Fatalf("%d counters for made-up queues", n)
	}
	e.post("p", "seen", msg(0))
	got := e.scrape()
	expect(t, got, "zaqar_queues", "", 1)
	expect(t, got, "zaqar_queue_messages", "project=p,queue=seen,state=visible,", 1)
	expect(t, got, "zaqar_messages_deleted_total", "", 100) // successful deletes, as SQS counts them
}

// TestScrapesShareACollection: scrapes within cacheFor reuse the last
// collection instead of asking every queue again.
func TestScrapesShareACollection(t *testing.T) {
	e := newEnv(t, Options{PerQueue: true, Limit: 10})
	e.post("p", "q", msg(0))
	e.scrape()
	e.post("p", "q", msg(0))
	families, _ := e.reg.Gather() // no clock advance: within cacheFor
	for _, f := range families {
		if f.GetName() == "zaqar_messages_posted_total" && f.Metric[0].Counter.GetValue() != 1 {
			t.Fatalf("a scrape within %v collected again", cacheFor)
		}
	}
	if got := e.scrape(); got["zaqar_messages_posted_total"][""] != 2 {
		t.Fatalf("a later scrape did not collect again: %v", got["zaqar_messages_posted_total"])
	}
}

func TestValidate(t *testing.T) {
	if err := (Options{PerQueue: true, Limit: 0}).Validate(); err == nil {
		t.Fatal("per-queue series with a limit of 0 accepted")
	}
	if err := (Options{PerQueue: false, Limit: 0}).Validate(); err != nil {
		t.Fatal(err)
	}
}
