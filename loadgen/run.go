package loadgen

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/bytedance/sonic"
	"github.com/google/uuid"
	"github.com/valyala/fasthttp"
)

// target is one (project, queue).
type target struct{ project, queue string }

type runner struct {
	cfg      Config
	runID    string
	targets  []target
	ledger   *ledger
	live     *live
	start    time.Time
	measFrom time.Time
	measTo   time.Time

	mu        sync.Mutex
	recorders []*recorder

	produced    atomic.Int64 // messages acknowledged (for MaxMessages)
	producedBy  time.Time    // when producing ended (count-bounded runs)
	duplicates  atomic.Int64
	stopProduce atomic.Bool
}

func (r *runner) measuring(t time.Time) bool {
	return !t.Before(r.measFrom) && t.Before(r.measTo)
}

// Run executes the workload and returns its result. progress, when not
// nil, is called about once a second from a separate goroutine.
func Run(ctx context.Context, cfg Config, progress func(Progress)) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	runID := uuid.NewString()[:8]
	r := &runner{cfg: cfg, runID: runID, ledger: newLedger(runID), live: newLive()}
	for p := 0; p < cfg.Projects; p++ {
		for q := 0; q < cfg.Queues; q++ {
			r.targets = append(r.targets, target{fmt.Sprintf("%s-%d", cfg.ProjectPrefix, p), fmt.Sprintf("%s-%d", cfg.QueuePrefix, q)})
		}
	}
	r.start = time.Now()
	r.measFrom = r.start.Add(cfg.Warmup)
	r.measTo = r.measFrom.Add(cfg.Duration)
	if cfg.Duration <= 0 {
		r.measTo = r.start.Add(24 * time.Hour) // count-bounded run
	}
	timed, cancelTimed := context.WithDeadline(ctx, r.measTo)
	defer cancelTimed()

	var producers, others, consumers, subscribers sync.WaitGroup
	stopSubscribers := make(chan struct{})
	defer func() {
		close(stopSubscribers)
		subscribers.Wait()
	}()
	if cfg.Subscribers > 0 {
		if err := r.subscribe(&subscribers, stopSubscribers); err != nil {
			return nil, err
		}
	}
	r.spawn(&producers, cfg.Producers, cfg.Timeout, func(c requester, rec *recorder, i int) { r.produce(timed, c, rec, i) })
	r.spawn(&others, cfg.Observers, cfg.waitTimeout(), func(c requester, rec *recorder, i int) { r.observe(timed, c, rec, i) })
	consumeCtx, cancelConsume := context.WithCancel(ctx)
	defer cancelConsume()
	var producing atomic.Bool
	producing.Store(true)
	r.spawn(&consumers, cfg.Consumers, cfg.waitTimeout(), func(c requester, rec *recorder, i int) { r.consume(consumeCtx, timed, &producing, c, rec, i) })

	stopProgress := make(chan struct{})
	var progressDone sync.WaitGroup
	if progress != nil {
		progressDone.Add(1)
		go func() {
			defer progressDone.Done()
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-t.C:
					progress(r.live.snapshot(time.Since(r.start)))
				case <-stopProgress:
					return
				}
			}
		}()
	}
	producers.Wait()
	if cfg.Producers.Workers > 0 && cfg.MaxMessages > 0 {
		r.producedBy = time.Now()
		cancelTimed() // the count was reached: the timed phase is over
	}
	<-timed.Done()
	producing.Store(false)
	others.Wait()
	if cfg.Drain && cfg.Consumers.Workers > 0 && !cfg.Release {
		select {
		case <-waitGroupDone(&consumers):
		case <-time.After(cfg.DrainTimeout):
		case <-ctx.Done():
		}
	}
	cancelConsume()
	consumers.Wait()
	close(stopProgress)
	progressDone.Wait()
	elapsed := cfg.Duration
	if cfg.Duration <= 0 || r.stopProduce.Load() {
		elapsed = max(time.Millisecond, r.producedBy.Sub(r.measFrom))
	}
	return r.result(elapsed), nil
}

func waitGroupDone(wg *sync.WaitGroup) <-chan struct{} {
	ch := make(chan struct{})
	go func() { wg.Wait(); close(ch) }()
	return ch
}

func (r *runner) spawn(wg *sync.WaitGroup, role Role, timeout time.Duration, fn func(requester, *recorder, int)) {
	if role.Workers == 0 {
		return
	}
	hc, scheme, host := newHostClient(r.cfg.ServerURL, role.conns(), timeout)
	for i := 0; i < role.Workers; i++ {
		var c requester = newClient(hc, scheme, host, r.cfg.Headers, timeout)
		if r.cfg.Transport == TransportWebSocket {
			ws := newWSClient(r.cfg.WebSocketURL, r.cfg.Headers, timeout)
			defer func() {
				go func() { wg.Wait(); ws.close() }()
			}()
			c = ws
		}
		rec := r.newRecorder()
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(c, rec, i)
		}()
	}
}

// produce posts batches. Each message body carries its ledger key and send
// time: {"k":"<run>.<worker>.<n>","ts":<unix ns>,"p":"<padding>"}.
func (r *runner) produce(ctx context.Context, c requester, rec *recorder, worker int) {
	cfg := r.cfg
	rng := rand.New(rand.NewPCG(cfg.Seed, uint64(worker)))
	pad := strings.Repeat("x", max(cfg.MessageSize, cfg.MessageSizeMax))
	var interval time.Duration
	if cfg.Rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(cfg.Producers.Workers) / cfg.Rate)
	}
	body := make([]byte, 0, cfg.BatchSize*(len(pad)+96)+32)
	var totalWeight float64
	for _, s := range cfg.Samples {
		totalWeight += s.Weight
	}
	next := time.Now()
	for n, t := uint64(0), worker; ; t++ {
		if ctx.Err() != nil || r.stopProduce.Load() {
			return
		}
		start := time.Now()
		if interval > 0 {
			if wait := time.Until(next); wait > 0 {
				select {
				case <-time.After(wait):
				case <-ctx.Done():
					return
				}
			}
			start = next // latency counts from the intended send time
			next = next.Add(interval)
		}
		tg := r.targets[t%len(r.targets)]
		body = append(body[:0], `{"messages":[`...)
		now := time.Now().UnixNano()
		first := n
		for i := 0; i < cfg.BatchSize; i++ {
			if i > 0 {
				body = append(body, ',')
			}
			size := cfg.MessageSize
			if cfg.MessageSizeMax > cfg.MessageSize {
				size += rng.IntN(cfg.MessageSizeMax - cfg.MessageSize + 1)
			}
			ttl, sample := cfg.MessageTTL, (*Sample)(nil)
			if len(cfg.Samples) > 0 {
				if sample = pick(cfg.Samples, rng.Float64()*totalWeight); sample.TTL > 0 {
					ttl = sample.TTL
				}
			}
			body = append(body, `{"ttl":`...)
			body = strconv.AppendInt(body, int64(ttl), 10)
			body = append(body, `,"body":{`...)
			if sample != nil {
				body = append(body, `"d":`...)
				body = append(body, sample.Body...)
				body = append(body, ',')
			}
			body = append(body, `"k":"`...)
			body = r.ledger.appendMessageKey(body, worker, n)
			n++
			body = append(body, `","ts":`...)
			body = strconv.AppendInt(body, now, 10)
			body = append(body, `,"p":"`...)
			body = append(body, pad[:size]...)
			body = append(body, `"}}`...)
		}
		body = append(body, "]}"...)
		status, _ := c.do("POST", tg.project, "/v2/queues/"+tg.queue+"/messages", body)
		ok := status == fasthttp.StatusCreated
		rec.record(OpPost, start, status, ok, cfg.BatchSize)
		if ok {
			r.ledger.produced(worker, first, cfg.BatchSize)
			if cfg.MaxMessages > 0 && r.produced.Add(int64(cfg.BatchSize)) >= cfg.MaxMessages {
				r.stopProduce.Store(true)
			}
		}
	}
}

type claimed struct {
	Messages []struct {
		ID   string `json:"id"`
		Href string `json:"href"`
		Body struct {
			K  string `json:"k"`
			TS int64  `json:"ts"`
		} `json:"body"`
	} `json:"messages"`
}

// consume claims and deletes (or releases). After the timed phase it keeps
// going until its queues are empty; ctx ends it. With Wait its claims
// long-poll while producers run; draining does not wait, so that an empty
// queue is seen at once.
func (r *runner) consume(ctx, timed context.Context, producing *atomic.Bool, c requester, rec *recorder, worker int) {
	cfg := r.cfg
	drainPath := "/claims?limit=" + strconv.Itoa(cfg.ClaimLimit)
	waitPath := drainPath
	if cfg.Wait > 0 {
		waitPath += "&wait=" + strconv.Itoa(cfg.Wait)
	}
	claimBody := []byte(fmt.Sprintf(`{"ttl":%d,"grace":%d}`, cfg.ClaimTTL, cfg.ClaimGrace))
	var doc claimed
	mine := r.targetsOf(worker, cfg.Consumers.Workers)
	empty := map[int]bool{}
	for t := 0; ; t++ {
		if ctx.Err() != nil {
			return
		}
		if timed.Err() != nil && (!cfg.Drain || cfg.Release) {
			return
		}
		if !producing.Load() && len(empty) == len(mine) {
			return // drained
		}
		ti := t % len(mine)
		if !producing.Load() && empty[ti] {
			continue
		}
		tg := mine[ti]
		claimPath := drainPath
		if producing.Load() {
			claimPath = waitPath
		}
		start := time.Now()
		status, body := c.do("POST", tg.project, "/v2/queues/"+tg.queue+claimPath, claimBody)
		switch status {
		case fasthttp.StatusNoContent:
			rec.record(OpClaim, start, status, true, 0)
			if !producing.Load() && r.queueEmpty(c, tg) {
				empty[ti] = true
			}
			if len(mine) == 1 && claimPath == drainPath {
				select { // nothing to do: back off briefly rather than spin
				case <-time.After(time.Millisecond):
				case <-ctx.Done():
				}
			}
			continue
		case fasthttp.StatusCreated:
		default:
			rec.record(OpClaim, start, status, false, 0)
			continue
		}
		doc.Messages = doc.Messages[:0]
		if err := sonic.Unmarshal(body, &doc); err != nil {
			rec.record(OpClaim, start, -1, false, 0)
			continue
		}
		rec.record(OpClaim, start, status, true, len(doc.Messages))
		claimID := ""
		for _, m := range doc.Messages {
			if i := strings.Index(m.Href, "claim_id="); i >= 0 {
				claimID = m.Href[i+len("claim_id="):]
			}
			if cfg.Release {
				continue
			}
			if m.Body.K != "" && r.ledger.consumed(m.Body.K) {
				r.duplicates.Add(1)
			}
			rec.delivered(m.Body.TS)
			dstart := time.Now()
			st, _ := c.do("DELETE", tg.project, "/v2/queues/"+tg.queue+"/messages/"+m.ID+"?claim_id="+claimID, nil)
			rec.record(OpDelete, dstart, st, st == fasthttp.StatusNoContent, 1)
		}
		if cfg.Release && claimID != "" {
			rstart := time.Now()
			st, _ := c.do("DELETE", tg.project, "/v2/queues/"+tg.queue+"/claims/"+claimID, nil)
			rec.record(OpRelease, rstart, st, st == fasthttp.StatusNoContent, 0)
		}
	}
}

func (r *runner) targetsOf(worker, workers int) []target {
	var out []target
	for i := worker % len(r.targets); i < len(r.targets); i += max(1, workers) {
		out = append(out, r.targets[i])
	}
	if len(out) == 0 {
		out = []target{r.targets[worker%len(r.targets)]}
	}
	return out
}

type stats struct {
	Messages struct {
		Total int64 `json:"total"`
	} `json:"messages"`
}

func (r *runner) queueEmpty(c requester, tg target) bool {
	st, body := c.do("GET", tg.project, "/v2/queues/"+tg.queue+"/stats", nil)
	var s stats
	return st == fasthttp.StatusOK && sonic.Unmarshal(body, &s) == nil && s.Messages.Total == 0
}

// observe lists messages page by page, as event-broadcasting readers do.
func (r *runner) observe(ctx context.Context, c requester, rec *recorder, worker int) {
	page := "&limit=" + strconv.Itoa(r.cfg.PageSize)
	if r.cfg.Wait > 0 {
		page += "&wait=" + strconv.Itoa(r.cfg.Wait)
	}
	markers := map[target]string{}
	var doc struct {
		Messages []struct{} `json:"messages"`
		Links    []struct {
			Href string `json:"href"`
		} `json:"links"`
	}
	for t := worker; ctx.Err() == nil; t++ {
		tg := r.targets[t%len(r.targets)]
		path := "/v2/queues/" + tg.queue + "/messages?echo=true" + page
		if m := markers[tg]; m != "" {
			path += "&marker=" + m
		}
		start := time.Now()
		status, body := c.do("GET", tg.project, path, nil)
		if status != fasthttp.StatusOK {
			rec.record(OpList, start, status, false, 0)
			continue
		}
		doc.Messages, doc.Links = doc.Messages[:0], doc.Links[:0]
		if sonic.Unmarshal(body, &doc) != nil {
			rec.record(OpList, start, -1, false, 0)
			continue
		}
		rec.record(OpList, start, status, true, len(doc.Messages))
		if len(doc.Links) > 0 {
			if i := strings.Index(doc.Links[0].Href, "marker="); i >= 0 {
				m := doc.Links[0].Href[i+len("marker="):]
				if j := strings.IndexByte(m, '&'); j >= 0 {
					m = m[:j]
				}
				markers[tg] = m
			}
		}
	}
}

// result merges the workers' histograms and counts the queues' remains.
func (r *runner) result(elapsed time.Duration) *Result {
	res := &Result{Config: r.cfg, RunID: r.runID, Start: r.start, Elapsed: elapsed, Ops: map[string]*OpResult{}, EndToEnd: newHist()}
	for _, rec := range r.recorders {
		for name, s := range rec.ops {
			o := res.Ops[name]
			if o == nil {
				o = &OpResult{Errors: map[string]int64{}, Hist: newHist()}
				res.Ops[name] = o
			}
			o.Requests += s.requests
			o.Messages += s.messages
			for k, v := range s.errors {
				o.Errors[k] += v
			}
			o.Hist.Merge(s.hist)
		}
		res.EndToEnd.Merge(rec.e2e)
	}
	hc, scheme, host := newHostClient(r.cfg.ServerURL, 1, r.cfg.Timeout)
	c := newClient(hc, scheme, host, r.cfg.Headers, r.cfg.Timeout)
	var remaining int64
	for _, tg := range r.targets {
		st, body := c.do("GET", tg.project, "/v2/queues/"+tg.queue+"/stats", nil)
		var s stats
		if st == fasthttp.StatusOK && sonic.Unmarshal(body, &s) == nil {
			remaining += s.Messages.Total
		}
	}
	drained := r.cfg.Consumers.Workers > 0 && !r.cfg.Release && remaining == 0
	res.Ledger = r.ledger.account(r.duplicates.Load(), remaining, drained)
	return res
}

// Result is everything a run measured.
type Result struct {
	Config   Config
	RunID    string
	Start    time.Time
	Elapsed  time.Duration // the measured phase
	Ops      map[string]*OpResult
	EndToEnd *hdrhistogram.Histogram
	Ledger   Ledger
}

// OpResult is one operation's merged measurements.
type OpResult struct {
	Requests int64
	Messages int64
	Errors   map[string]int64
	Hist     *hdrhistogram.Histogram // microseconds
}
