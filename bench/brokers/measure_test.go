package brokers

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"
)

// memSystem is an in-memory queue with faults to inject, to test that the
// runner's accounting catches what a broken system would do.
type memSystem struct {
	dropEvery int // Send silently drops every n-th message (0 = none)
	redeliver int // the n-th delivered message is handed out once more (0 = none)
	failSends int // the first n Sends fail after storing the batch
}

type memQueue struct {
	sys       *memSystem
	mu        sync.Mutex
	msgs      [][]byte
	sent      int
	delivered int
	sends     int
	deleted   bool
}

func (s *memSystem) Name() string { return "mem" }
func (s *memSystem) Close() error { return nil }
func (s *memSystem) NewQueue(ctx context.Context, name string) (Queue, error) {
	return &memQueue{sys: s}, nil
}

func (q *memQueue) NewProducer(ctx context.Context) (Producer, error) { return memProducer{q}, nil }
func (q *memQueue) NewConsumer(ctx context.Context, worker int) (Consumer, error) {
	return &memConsumer{q: q}, nil
}
func (q *memQueue) Depth(ctx context.Context) (int64, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return int64(len(q.msgs)), nil
}
func (q *memQueue) Delete(ctx context.Context) error { q.deleted = true; return nil }

type memProducer struct{ q *memQueue }

func (p memProducer) Send(ctx context.Context, bodies [][]byte) error {
	q := p.q
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, b := range bodies {
		q.sent++
		if q.sys.dropEvery > 0 && q.sent%q.sys.dropEvery == 0 {
			continue
		}
		q.msgs = append(q.msgs, slices.Clone(b))
	}
	q.sends++
	if q.sends <= q.sys.failSends {
		return context.DeadlineExceeded // stored, yet the producer hears nothing
	}
	time.Sleep(100 * time.Microsecond) // a round trip, so a timed phase is not a busy loop
	return nil
}
func (p memProducer) Close() error { return nil }

type memConsumer struct {
	q      *memQueue
	bodies [][]byte
}

func (c *memConsumer) Take(ctx context.Context, limit int) ([][]byte, error) {
	q := c.q
	q.mu.Lock()
	n := min(limit, len(q.msgs))
	c.bodies = append(c.bodies[:0], q.msgs[:n]...)
	q.msgs = q.msgs[n:]
	for _, b := range c.bodies {
		q.delivered++
		if q.delivered == q.sys.redeliver {
			q.msgs = append(q.msgs, b)
		}
	}
	q.mu.Unlock()
	if n == 0 {
		time.Sleep(time.Millisecond) // as an empty claim or a blocking read would
	}
	return c.bodies, nil
}
func (c *memConsumer) Ack(ctx context.Context) error { return nil }
func (c *memConsumer) Close() error                  { return nil }

func testParams() Params {
	return Params{Duration: 300 * time.Millisecond, Producers: 4, Consumers: 3, Backlog: 2000, Body: 100, Batch: 10,
		DrainTimeout: 5 * time.Second}
}

func TestMeasureClean(t *testing.T) {
	for _, wl := range Workloads {
		m := Measure(context.Background(), &memSystem{}, wl, 0, testParams())
		if m.Err != "" {
			t.Fatalf("%s: %s", wl, m.Err)
		}
		if wl != Consume && (m.Produced == 0 || m.ProducedRate <= 0 || m.Ops[OpSend].Count == 0) {
			t.Errorf("%s: produced %d at %.0f/s", wl, m.Produced, m.ProducedRate)
		}
		if wl == Produce {
			if m.Counts != nil {
				t.Errorf("produce has counts %+v", m.Counts)
			}
			continue
		}
		c := m.Counts
		if c == nil || !c.Drained || c.Lost != 0 || c.Duplicates != 0 || c.Remaining != 0 || c.Produced != c.Consumed {
			t.Fatalf("%s: counts %+v", wl, c)
		}
		if m.Consumed == 0 || m.ConsumedRate <= 0 || m.Ops[OpTake].Count == 0 || m.Ops[OpAck].Count == 0 {
			t.Errorf("%s: consumed %d at %.0f/s, ops %+v", wl, m.Consumed, m.ConsumedRate, m.Ops)
		}
	}
}

// The consume workload stops its clock when the backlog is gone, long
// before T.
func TestMeasureConsumeStopsWhenDrained(t *testing.T) {
	p := testParams()
	p.Duration = 20 * time.Second
	start := time.Now()
	m := Measure(context.Background(), &memSystem{}, Consume, 0, p)
	if time.Since(start) > 10*time.Second || m.Seconds >= 20 {
		t.Fatalf("took %s (timed %.1fs) for a 2,000-message backlog", time.Since(start), m.Seconds)
	}
	if m.Counts.Produced != 2000 || m.Consumed != 2000 {
		t.Fatalf("produced %d, consumed in the timed phase %d", m.Counts.Produced, m.Consumed)
	}
}

func TestMeasureCatchesLossAndDuplicates(t *testing.T) {
	for _, wl := range []string{Consume, Mixed} {
		m := Measure(context.Background(), &memSystem{dropEvery: 97, redeliver: 5}, wl, 0, testParams())
		c := m.Counts
		if c == nil || !c.Drained || c.Lost == 0 || c.Duplicates != 1 {
			t.Fatalf("%s: counts %+v, want losses and one duplicate", wl, c)
		}
		if c.Lost != c.Produced-c.Consumed {
			t.Fatalf("%s: lost %d of produced %d consumed %d", wl, c.Lost, c.Produced, c.Consumed)
		}
	}
}

// A send that failed is counted as an error, its messages are never
// called lost, and those that landed show up as unacked.
func TestMeasureFailedSends(t *testing.T) {
	m := Measure(context.Background(), &memSystem{failSends: 3}, Mixed, 0, testParams())
	c := m.Counts
	if m.Errors[OpSend] != 3 || c.Unacked != 30 || c.Lost != 0 || c.Duplicates != 0 {
		t.Fatalf("errors %v, counts %+v", m.Errors, c)
	}
}

func TestMeasureDeletesQueue(t *testing.T) {
	s := &recordingSystem{}
	Measure(context.Background(), s, Produce, 0, testParams())
	if s.q == nil || !s.q.deleted {
		t.Fatal("queue not deleted")
	}
}

type recordingSystem struct {
	memSystem
	q *memQueue
}

func (s *recordingSystem) NewQueue(ctx context.Context, name string) (Queue, error) {
	s.q = &memQueue{sys: &s.memSystem}
	return s.q, nil
}
