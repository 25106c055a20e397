// Package stalls reads a Go execution trace of a server (as served by
// /debug/pprof/trace) and finds the moments its goroutines were ready to
// run but got no CPU: the stalls behind a latency tail that a CPU profile
// averages away. For each stall it names what held the Ps meanwhile, the
// system calls in flight and the CPU samples taken, so a tail can be
// traced to a garbage collection, a page fault in an mmap'd store, a long
// fdatasync or a busy goroutine.
package stalls

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"time"

	"golang.org/x/exp/trace"
)

// Options tune Analyze.
type Options struct {
	Min time.Duration // a wake-to-run delay at least this long is a stall (default 5ms)
}

// Delays summarises wake-to-run delays of one kind of wake-up.
type Delays struct {
	Kind                     string // "network": woken by the poller; "goroutine": by another goroutine
	N                        int
	P50, P90, P99, P999, Max time.Duration
	Stalls                   int // delays of at least Options.Min
}

// Share is how long one goroutine (named by its start function) did
// something during a window.
type Share struct {
	Name string
	Time time.Duration
}

// Window is a span in which at least one goroutine waited Options.Min or
// longer; overlapping stalls are merged.
type Window struct {
	Start, End time.Duration // since the trace began
	Stalled    int           // goroutines that waited Options.Min or longer
	Running    []Share       // who ran, longest first
	Syscalls   []Share       // who was in a system call, longest first
	IdleP      time.Duration // P time spent idle meanwhile, summed over Ps
	Samples    []string      // CPU samples taken meanwhile: goroutine and innermost frames
}

// Report is the result of Analyze.
type Report struct {
	Span    time.Duration // length of the trace
	Delays  []Delays
	Windows []Window
}

// StalledTime sums the windows' lengths.
func (r *Report) StalledTime() time.Duration {
	var d time.Duration
	for _, w := range r.Windows {
		d += w.End - w.Start
	}
	return d
}

type span struct {
	g      trace.GoID
	t0, t1 trace.Time
}

type sample struct {
	g     trace.GoID
	t     trace.Time
	stack trace.Stack
}

type stall struct{ t0, t1 trace.Time }

// analysis is the state of one pass over a trace.
type analysis struct {
	min        time.Duration
	first      trace.Time
	last       trace.Time
	names      map[trace.GoID]string
	readyAt    map[trace.GoID]trace.Time
	byNetwork  map[trace.GoID]bool
	runFrom    map[trace.GoID]trace.Time
	sysFrom    map[trace.GoID]trace.Time
	idleFrom   map[trace.ProcID]trace.Time
	running    []span
	syscalls   []span
	idle       []span // g unused
	samples    []sample
	stalls     []stall
	netDelays  []time.Duration
	goroDelays []time.Duration
}

// Analyze reads a whole trace from r.
func Analyze(r io.Reader, o Options) (*Report, error) {
	if o.Min <= 0 {
		o.Min = 5 * time.Millisecond
	}
	tr, err := trace.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("stalls: %w", err)
	}
	a := &analysis{
		min: o.Min, names: map[trace.GoID]string{}, readyAt: map[trace.GoID]trace.Time{},
		byNetwork: map[trace.GoID]bool{}, runFrom: map[trace.GoID]trace.Time{},
		sysFrom: map[trace.GoID]trace.Time{}, idleFrom: map[trace.ProcID]trace.Time{},
	}
	for {
		ev, err := tr.ReadEvent()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("stalls: %w", err)
		}
		a.event(ev)
	}
	return a.report(), nil
}

func (a *analysis) event(ev trace.Event) {
	if a.first == 0 {
		a.first = ev.Time()
	}
	a.last = ev.Time()
	switch ev.Kind() {
	case trace.EventStackSample:
		a.samples = append(a.samples, sample{ev.Goroutine(), ev.Time(), ev.Stack()})
	case trace.EventStateTransition:
		st := ev.StateTransition()
		switch st.Resource.Kind {
		case trace.ResourceProc:
			a.procTransition(ev, st)
		case trace.ResourceGoroutine:
			a.goTransition(ev, st)
		}
	}
}

func (a *analysis) procTransition(ev trace.Event, st trace.StateTransition) {
	p := st.Resource.Proc()
	from, to := st.Proc()
	switch {
	case to == trace.ProcIdle && from != trace.ProcIdle:
		a.idleFrom[p] = ev.Time()
	case from == trace.ProcIdle && to != trace.ProcIdle:
		if t, ok := a.idleFrom[p]; ok {
			a.idle = append(a.idle, span{t0: t, t1: ev.Time()})
			delete(a.idleFrom, p)
		}
	}
}

func (a *analysis) goTransition(ev trace.Event, st trace.StateTransition) {
	g := st.Resource.Goroutine()
	from, to := st.Goroutine()
	// A goroutine is named by its start function: the outermost frame of
	// the first stack seen for it (its creation gives exactly that).
	if _, named := a.names[g]; !named || from == trace.GoNotExist {
		if n := outermost(st.Stack); n != "" {
			a.names[g] = n
		}
	}
	now := ev.Time()
	if from == trace.GoRunning && to != trace.GoRunning {
		if t, ok := a.runFrom[g]; ok {
			a.running = append(a.running, span{g, t, now})
			delete(a.runFrom, g)
		}
	}
	if to == trace.GoSyscall {
		a.sysFrom[g] = now
	}
	if from == trace.GoSyscall {
		if t, ok := a.sysFrom[g]; ok {
			a.syscalls = append(a.syscalls, span{g, t, now})
			delete(a.sysFrom, g)
		}
	}
	if from == trace.GoWaiting && to == trace.GoRunnable {
		a.readyAt[g] = now
		// The poller readies goroutines without a goroutine's stack.
		a.byNetwork[g] = ev.Stack() == trace.NoStack
	}
	if to == trace.GoRunning {
		a.runFrom[g] = now
		if t, ok := a.readyAt[g]; ok {
			d := time.Duration(now - t)
			if a.byNetwork[g] {
				a.netDelays = append(a.netDelays, d)
			} else {
				a.goroDelays = append(a.goroDelays, d)
			}
			if d >= a.min {
				a.stalls = append(a.stalls, stall{t, now})
			}
			delete(a.readyAt, g)
		}
	}
}

func outermost(s trace.Stack) string {
	name := ""
	for f := range s.Frames() {
		name = f.Func
	}
	return name
}

func (a *analysis) report() *Report {
	r := &Report{Span: time.Duration(a.last - a.first)}
	for _, k := range []struct {
		kind string
		d    []time.Duration
	}{{"network", a.netDelays}, {"goroutine", a.goroDelays}} {
		r.Delays = append(r.Delays, summarise(k.kind, k.d, a.min))
	}
	slices.SortFunc(a.stalls, func(x, y stall) int { return cmp.Compare(x.t0, y.t0) })
	type merged struct {
		t0, t1 trace.Time
		n      int
	}
	var ws []merged
	for _, s := range a.stalls {
		if n := len(ws); n > 0 && s.t0 <= ws[n-1].t1 {
			ws[n-1].t1 = max(ws[n-1].t1, s.t1)
			ws[n-1].n++
			continue
		}
		ws = append(ws, merged{s.t0, s.t1, 1})
	}
	for _, m := range ws {
		w := Window{Start: time.Duration(m.t0 - a.first), End: time.Duration(m.t1 - a.first), Stalled: m.n}
		w.Running = a.shares(a.running, m.t0, m.t1)
		w.Syscalls = a.shares(a.syscalls, m.t0, m.t1)
		for _, s := range a.idle {
			w.IdleP += overlap(s, m.t0, m.t1)
		}
		for _, s := range a.samples {
			if s.t >= m.t0 && s.t <= m.t1 {
				w.Samples = append(w.Samples, a.describe(s))
			}
		}
		r.Windows = append(r.Windows, w)
	}
	return r
}

func summarise(kind string, d []time.Duration, min time.Duration) Delays {
	s := Delays{Kind: kind, N: len(d)}
	if len(d) == 0 {
		return s
	}
	slices.Sort(d)
	at := func(q float64) time.Duration { return d[int(q*float64(len(d)-1))] }
	s.P50, s.P90, s.P99, s.P999, s.Max = at(.5), at(.9), at(.99), at(.999), d[len(d)-1]
	i, _ := slices.BinarySearch(d, min)
	s.Stalls = len(d) - i
	return s
}

func overlap(s span, t0, t1 trace.Time) time.Duration {
	if lo, hi := max(s.t0, t0), min(s.t1, t1); hi > lo {
		return time.Duration(hi - lo)
	}
	return 0
}

// shares sums, per goroutine name, the parts of spans within [t0, t1].
func (a *analysis) shares(spans []span, t0, t1 trace.Time) []Share {
	by := map[string]time.Duration{}
	for _, s := range spans {
		if d := overlap(s, t0, t1); d > 0 {
			by[a.name(s.g)] += d
		}
	}
	out := make([]Share, 0, len(by))
	for n, d := range by {
		out = append(out, Share{n, d})
	}
	slices.SortFunc(out, func(x, y Share) int {
		return cmp.Or(cmp.Compare(y.Time, x.Time), cmp.Compare(x.Name, y.Name))
	})
	return out
}

func (a *analysis) name(g trace.GoID) string {
	if n, ok := a.names[g]; ok {
		return n
	}
	return fmt.Sprintf("goroutine %d", g)
}

// describe renders a CPU sample as its goroutine and innermost frames.
func (a *analysis) describe(s sample) string {
	out := a.name(s.g) + ":"
	i := 0
	for f := range s.stack.Frames() {
		if i == 4 {
			out += " ..."
			break
		}
		out += " " + f.Func
		i++
	}
	return out
}

// WriteText prints the report for a terminal: the delay percentiles, then
// each window with at most top goroutines per list.
func (r *Report) WriteText(w io.Writer, top int) {
	fmt.Fprintf(w, "trace %.2fs; wake-to-run delays:\n", r.Span.Seconds())
	fmt.Fprintf(w, "  %-9s %8s %8s %8s %8s %8s %8s %7s\n", "woken by", "count", "p50", "p90", "p99", "p99.9", "max", "stalls")
	for _, d := range r.Delays {
		fmt.Fprintf(w, "  %-9s %8d %8s %8s %8s %8s %8s %7d\n", d.Kind, d.N,
			ms(d.P50), ms(d.P90), ms(d.P99), ms(d.P999), ms(d.Max), d.Stalls)
	}
	fmt.Fprintf(w, "%d stall windows, %s in all (%.1f%% of the trace)\n", len(r.Windows),
		ms(r.StalledTime()), 100*r.StalledTime().Seconds()/max(r.Span.Seconds(), 1e-9))
	for _, win := range r.Windows {
		fmt.Fprintf(w, "at %s: %s, %d goroutines stalled, idle P time %s\n",
			ms(win.Start), ms(win.End-win.Start), win.Stalled, ms(win.IdleP))
		writeShares(w, "running", win.Running, top)
		writeShares(w, "syscall", win.Syscalls, top)
		for _, s := range win.Samples {
			fmt.Fprintf(w, "    sample  %s\n", s)
		}
	}
}

func writeShares(w io.Writer, what string, s []Share, top int) {
	for i, x := range s {
		if i == top || x.Time < 100*time.Microsecond {
			break
		}
		fmt.Fprintf(w, "    %-7s %9s  %s\n", what, ms(x.Time), x.Name)
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/1e6) }
