package loadgen

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Operation names.
const (
	OpPost    = "post"
	OpClaim   = "claim"
	OpDelete  = "delete"
	OpRelease = "release"
	OpList    = "list"
	OpPush    = "push" // a notification pushed to a subscribed socket
)

// Latencies are recorded in microseconds, 1 µs .. 60 s, 3 significant digits.
const (
	histMin = 1
	histMax = 60_000_000
	histSig = 3
)

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(histMin, histMax, histSig) }

// opStats is one worker's record of one operation. Not goroutine-safe:
// HDR histograms are owned by one worker and merged at the end.
type opStats struct {
	requests int64
	messages int64
	errors   map[string]int64 // by status code ("0" = no answer)
	hist     *hdrhistogram.Histogram
}

// recorder is one worker's statistics.
type recorder struct {
	ops map[string]*opStats
	e2e *hdrhistogram.Histogram
	run *runner
}

func (r *runner) newRecorder() *recorder {
	rec := &recorder{ops: map[string]*opStats{}, e2e: newHist(), run: r}
	r.mu.Lock()
	r.recorders = append(r.recorders, rec)
	r.mu.Unlock()
	return rec
}

// record notes one request that started at start (or was scheduled for
// it, in open loop). Requests outside the measured window are not kept.
func (rec *recorder) record(op string, start time.Time, status int, ok bool, messages int) {
	now := time.Now()
	if !rec.run.measuring(start) {
		return
	}
	s := rec.ops[op]
	if s == nil {
		s = &opStats{errors: map[string]int64{}, hist: newHist()}
		rec.ops[op] = s
	}
	s.requests++
	us := max(1, now.Sub(start).Microseconds())
	s.hist.RecordValue(min(us, histMax))
	if ok {
		s.messages += int64(messages)
	} else {
		s.errors[strconv.Itoa(status)]++
	}
	rec.run.live.note(op, ok, messages, us)
}

func (rec *recorder) delivered(sentUnixNano int64) {
	if sentUnixNano <= 0 || !rec.run.measuring(time.Unix(0, sentUnixNano)) {
		return
	}
	us := max(1, time.Since(time.Unix(0, sentUnixNano)).Microseconds())
	rec.e2e.RecordValue(min(us, histMax))
}

// live keeps the counters behind the progress line.
type live struct {
	mu       sync.Mutex
	interval *hdrhistogram.Histogram
	requests map[string]*atomic.Int64
	messages atomic.Int64
	errors   atomic.Int64
}

func newLive() *live {
	l := &live{interval: newHist(), requests: map[string]*atomic.Int64{}}
	for _, op := range []string{OpPost, OpClaim, OpDelete, OpRelease, OpList, OpPush} {
		l.requests[op] = &atomic.Int64{}
	}
	return l
}

func (l *live) note(op string, ok bool, messages int, us int64) {
	l.requests[op].Add(1)
	if ok {
		if op == OpPost {
			l.messages.Add(int64(messages))
		}
	} else {
		l.errors.Add(1)
	}
	l.mu.Lock()
	l.interval.RecordValue(min(us, histMax))
	l.mu.Unlock()
}

// Progress is a snapshot for the live progress line.
type Progress struct {
	Elapsed  time.Duration
	Requests map[string]int64
	Messages int64 // posted
	Errors   int64
	P99      time.Duration // over the last interval, all operations
}

func (l *live) snapshot(elapsed time.Duration) Progress {
	p := Progress{Elapsed: elapsed, Requests: map[string]int64{}, Messages: l.messages.Load(), Errors: l.errors.Load()}
	for op, n := range l.requests {
		p.Requests[op] = n.Load()
	}
	l.mu.Lock()
	p.P99 = time.Duration(l.interval.ValueAtQuantile(99)) * time.Microsecond
	l.interval.Reset()
	l.mu.Unlock()
	return p
}
