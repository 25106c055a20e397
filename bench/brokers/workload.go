package brokers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Workloads, in the order each round runs them.
const (
	Produce = "produce"
	Consume = "consume"
	Mixed   = "mixed"
)

// Workloads lists them in run order.
var Workloads = []string{Produce, Consume, Mixed}

// Operations whose latency is recorded: a batch sent and acknowledged, a
// batch taken (claim, XREADGROUP, or the wait for pushed deliveries), a
// batch acknowledged.
const (
	OpSend = "send"
	OpTake = "take"
	OpAck  = "ack"
)

// Params shape every measurement alike for each system.
type Params struct {
	Duration     time.Duration // T: the timed phase
	Producers    int           // P: producers of produce and of the backlog fill; mixed has P/2
	Consumers    int           // C: consumers of consume and mixed
	Backlog      int           // messages filled before consume is timed
	Body         int           // bytes per message body
	Batch        int           // messages per send and per take
	DrainTimeout time.Duration // how long consumers may take to empty a queue after the timed phase
}

// MixedProducers is how many producers the mixed workload runs (8 by
// default): half, so that consumers can keep up and the figure is what a
// steady queue moves, not how fast a backlog grows.
func (p Params) MixedProducers() int { return max(1, p.Producers/2) }

// Measurement is one workload run against one system in one round.
type Measurement struct {
	Round        int                  `json:"round"`
	Workload     string               `json:"workload"`
	System       string               `json:"system"`
	Seconds      float64              `json:"seconds"` // the timed phase as run
	Produced     int64                `json:"produced"`
	Consumed     int64                `json:"consumed"`
	ProducedRate float64              `json:"produced_per_second"`
	ConsumedRate float64              `json:"consumed_per_second"`
	CPU          CPU                  `json:"cpu"` // during the timed phase
	FillSeconds  float64              `json:"fill_seconds,omitempty"`
	DrainSeconds float64              `json:"drain_seconds,omitempty"`
	Ops          map[string]OpLatency `json:"operations"`
	Errors       map[string]int64     `json:"errors,omitempty"`
	Counts       *Counts              `json:"counts,omitempty"` // consume and mixed
	Err          string               `json:"error,omitempty"`
}

// OpLatency is one operation's latency, in milliseconds.
type OpLatency struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

// Latency is recorded in microseconds, 1 µs .. 60 s, 3 significant digits,
// as loadgen does.
func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(1, 60_000_000, 3) }

// worker is one goroutine's record: owned by it, merged at the end.
type worker struct {
	hist       map[string]*hdrhistogram.Histogram
	errs       map[string]int64
	lastErr    error
	emptyTakes atomic.Int64 // takes that found nothing (the drain check reads it)
}

func newWorker() *worker {
	return &worker{hist: map[string]*hdrhistogram.Histogram{OpSend: newHist(), OpTake: newHist(), OpAck: newHist()},
		errs: map[string]int64{}}
}

func (w *worker) record(op string, start time.Time) {
	w.hist[op].RecordValue(min(max(1, time.Since(start).Microseconds()), 60_000_000))
}

func (w *worker) fail(op string, err error) {
	w.errs[op]++
	w.lastErr = err
}

// maxStreak is how many errors in a row make a worker give up: a system
// that fails every request is reported, not hammered for the whole run.
const maxStreak = 50

type measurement struct {
	p        Params
	q        Queue
	ledger   *Ledger
	start    time.Time
	deadline time.Time

	produced, consumed atomic.Int64 // acknowledged within the timed phase
	doneAt             atomic.Int64 // unix ns: consume's backlog was all consumed
	stopConsumers      atomic.Bool

	mu      sync.Mutex
	workers []*worker
}

func (m *measurement) newWorker() *worker {
	w := newWorker()
	m.mu.Lock()
	m.workers = append(m.workers, w)
	m.mu.Unlock()
	return w
}

// timedEnd is when the timed phase ended (or ends).
func (m *measurement) timedEnd() time.Time {
	if d := m.doneAt.Load(); d != 0 {
		return time.Unix(0, d)
	}
	return m.deadline
}

// Measure runs one workload against a fresh queue of sys, deleting it
// afterwards.
func Measure(ctx context.Context, sys System, workload string, round int, p Params) Measurement {
	out := Measurement{Round: round, Workload: workload, System: sys.Name(), Ops: map[string]OpLatency{}}
	var id [3]byte
	rand.Read(id[:])
	q, err := sys.NewQueue(ctx, fmt.Sprintf("bb-%s-%s-%d-%s", workload, sys.Name(), round, hex.EncodeToString(id[:])))
	if err != nil {
		out.Err = err.Error()
		return out
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if err := q.Delete(dctx); err != nil && out.Err == "" {
			out.Err = "delete queue: " + err.Error()
		}
	}()
	m := &measurement{p: p, q: q, ledger: NewLedger(p.Producers)}
	if workload == Consume {
		t := time.Now()
		if err := m.fill(ctx); err != nil {
			out.Err = "fill: " + err.Error()
			return out
		}
		out.FillSeconds = time.Since(t).Seconds()
	}
	producers, consumers := 0, 0
	switch workload {
	case Produce:
		producers = p.Producers
	case Consume:
		consumers = p.Consumers
	case Mixed:
		producers, consumers = p.MixedProducers(), p.Consumers
	default:
		out.Err = "unknown workload " + workload
		return out
	}
	cpu0 := sampleCPU()
	m.start = time.Now()
	m.deadline = m.start.Add(p.Duration)
	timed, cancel := context.WithDeadline(ctx, m.deadline)
	defer cancel()
	var pw, cw sync.WaitGroup
	for i := range producers {
		w := m.newWorker()
		pw.Go(func() { m.produce(ctx, w, i) })
	}
	var cworkers []*worker
	for i := range consumers {
		w := m.newWorker()
		cworkers = append(cworkers, w)
		cw.Go(func() { m.consume(ctx, w, i, workload == Consume) })
	}
	pw.Wait()
	prodEnd := time.Now()
	if consumers > 0 {
		select {
		case <-timed.Done():
		case <-m.allConsumed(timed):
		}
	}
	out.CPU = cpu0.since(sampleCPU())
	end := m.timedEnd()
	if workload == Produce {
		end = prodEnd // the last batch sent before T counts, and the time it took
	}
	out.Seconds = end.Sub(m.start).Seconds()
	if consumers > 0 {
		t := time.Now()
		drained := m.drain(ctx, cworkers)
		m.stopConsumers.Store(true)
		cw.Wait()
		out.DrainSeconds = time.Since(t).Seconds()
		remaining, err := q.Depth(context.WithoutCancel(ctx))
		if err != nil {
			remaining = -1
		}
		c := m.ledger.Account(remaining, drained)
		out.Counts = &c
	}
	out.Produced, out.Consumed = m.produced.Load(), m.consumed.Load()
	if producers > 0 {
		out.ProducedRate = float64(out.Produced) / prodEnd.Sub(m.start).Seconds()
	}
	if consumers > 0 {
		out.ConsumedRate = float64(out.Consumed) / out.Seconds
	}
	m.merge(&out)
	return out
}

// allConsumed closes when the consume workload's backlog has been taken
// and acknowledged in full.
func (m *measurement) allConsumed(ctx context.Context) <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		for m.doneAt.Load() == 0 && ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond) // the consumers set doneAt; this only notices
		}
	}()
	return ch
}

// fill loads the consume workload's backlog with P producers before the
// clock starts, the same way for every system.
func (m *measurement) fill(ctx context.Context) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, m.p.Producers)
	for i := range m.p.Producers {
		wg.Go(func() {
			pr, err := m.q.NewProducer(ctx)
			if err != nil {
				errs[i] = err
				return
			}
			defer pr.Close()
			b := newBatch(m.p)
			var seq uint64
			for ctx.Err() == nil {
				n := min(int64(m.p.Batch), int64(m.p.Backlog)-next.Add(int64(m.p.Batch))+int64(m.p.Batch))
				if n <= 0 {
					return
				}
				bodies := b.fill(m.ledger, i, seq, int(n))
				if err := pr.Send(ctx, bodies); err != nil {
					errs[i] = err
					return
				}
				m.ledger.Produced(i, seq, int(n))
				seq += uint64(n)
			}
			errs[i] = ctx.Err()
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// batch is a producer's reusable message buffer.
type batch struct {
	size   int
	buf    []byte
	key    []byte
	bodies [][]byte
}

func newBatch(p Params) *batch {
	return &batch{size: p.Body, buf: make([]byte, p.Batch*p.Body), bodies: make([][]byte, p.Batch)}
}

// fill writes n bodies for worker's messages first..first+n-1.
func (b *batch) fill(l *Ledger, worker int, first uint64, n int) [][]byte {
	for i := range n {
		b.key = l.AppendKey(b.key[:0], worker, first+uint64(i))
		b.bodies[i] = appendBody(b.buf[i*b.size:i*b.size], b.key, b.size)
	}
	return b.bodies[:n]
}

// produce sends batches until the deadline; a failed send is counted and
// its connection replaced. The batch in flight at the deadline is waited
// for (and counted): cutting it off would leave messages stored that no
// producer saw acknowledged.
func (m *measurement) produce(ctx context.Context, w *worker, id int) {
	b := newBatch(m.p)
	var seq uint64
	var pr Producer
	defer func() {
		if pr != nil {
			pr.Close()
		}
	}()
	for streak := 0; time.Now().Before(m.deadline) && ctx.Err() == nil && streak < maxStreak; {
		if pr == nil {
			var err error
			if pr, err = m.q.NewProducer(ctx); err != nil {
				w.fail("connect", err)
				streak++
				pause(ctx)
				continue
			}
		}
		bodies := b.fill(m.ledger, id, seq, m.p.Batch)
		start := time.Now()
		err := pr.Send(ctx, bodies)
		if err != nil {
			if ctx.Err() != nil {
				return // interrupted: neither a success nor a failure
			}
			w.fail(OpSend, err)
			streak++
			seq += uint64(m.p.Batch) // those keys may have landed: never reuse them
			pr.Close()
			pr = nil
			pause(ctx)
			continue
		}
		w.record(OpSend, start)
		m.ledger.Produced(id, seq, m.p.Batch)
		m.produced.Add(int64(m.p.Batch))
		seq += uint64(m.p.Batch)
		streak = 0
	}
}

// consume takes and acknowledges batches until told to stop; it never
// stops in the middle of a batch, so whatever it took is accounted for.
func (m *measurement) consume(ctx context.Context, w *worker, id int, untilBacklog bool) {
	var c Consumer
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	for streak := 0; !m.stopConsumers.Load() && ctx.Err() == nil && streak < maxStreak; {
		if c == nil {
			var err error
			if c, err = m.q.NewConsumer(ctx, id); err != nil {
				w.fail("connect", err)
				streak++
				pause(ctx)
				continue
			}
		}
		start := time.Now()
		bodies, err := c.Take(ctx, m.p.Batch)
		if err != nil {
			w.fail(OpTake, err)
			streak++
			c.Close()
			c = nil
			pause(ctx)
			continue
		}
		if len(bodies) == 0 {
			w.emptyTakes.Add(1)
			continue
		}
		timed := start.Before(m.timedEnd())
		if timed {
			w.record(OpTake, start)
		}
		for _, b := range bodies {
			m.ledger.Consumed(keyOf(b))
		}
		astart := time.Now()
		if err := c.Ack(ctx); err != nil {
			w.fail(OpAck, err) // what it held will be delivered again: a duplicate, counted
			streak++
			c.Close()
			c = nil
			pause(ctx)
			continue
		}
		streak = 0
		now := time.Now()
		if !now.Before(m.timedEnd()) {
			continue // the drain after the timed phase is not measured
		}
		w.record(OpAck, astart)
		m.consumed.Add(int64(len(bodies)))
		if untilBacklog && m.ledger.Complete() {
			m.doneAt.CompareAndSwap(0, now.UnixNano())
		}
	}
}

func pause(ctx context.Context) {
	select {
	case <-time.After(10 * time.Millisecond):
	case <-ctx.Done():
	}
}

// drain lets the consumers run until every acknowledged message has been
// consumed, or the queue is empty: its depth is 0, every consumer has
// since come back empty-handed (so nothing sits in a client buffer or is
// delivered and not yet acknowledged), and the depth is still 0. It
// reports whether the queue was emptied within DrainTimeout.
func (m *measurement) drain(ctx context.Context, consumers []*worker) bool {
	deadline := time.Now().Add(m.p.DrainTimeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if m.ledger.Complete() {
			return true
		}
		if m.emptyAfter(ctx, consumers, deadline) {
			return true
		}
		time.Sleep(20 * time.Millisecond) // polling the queue's depth
	}
	return m.ledger.Complete()
}

func (m *measurement) emptyAfter(ctx context.Context, consumers []*worker, deadline time.Time) bool {
	if d, err := m.q.Depth(ctx); err != nil || d != 0 {
		return false
	}
	seen := make([]int64, len(consumers))
	for i, w := range consumers {
		seen[i] = w.emptyTakes.Load()
	}
	for i, w := range consumers {
		for w.emptyTakes.Load() == seen[i] {
			if time.Now().After(deadline) || ctx.Err() != nil || m.ledger.Complete() {
				return m.ledger.Complete()
			}
			time.Sleep(5 * time.Millisecond) // a Take returns within ~100 ms
		}
	}
	d, err := m.q.Depth(ctx)
	return err == nil && d == 0
}

// merge folds the workers' histograms and errors into out.
func (m *measurement) merge(out *Measurement) {
	hists := map[string]*hdrhistogram.Histogram{}
	for _, w := range m.workers {
		for op, h := range w.hist {
			if hists[op] == nil {
				hists[op] = newHist()
			}
			hists[op].Merge(h)
		}
		for op, n := range w.errs {
			if out.Errors == nil {
				out.Errors = map[string]int64{}
			}
			out.Errors[op] += n
		}
		if w.lastErr != nil && out.Err == "" {
			out.Err = "last error: " + w.lastErr.Error()
		}
	}
	for op, h := range hists {
		if h.TotalCount() == 0 {
			continue
		}
		ms := func(us int64) float64 { return float64(us) / 1000 }
		out.Ops[op] = OpLatency{Count: h.TotalCount(), P50: ms(h.ValueAtQuantile(50)), P99: ms(h.ValueAtQuantile(99)), Max: ms(h.Max())}
	}
}
