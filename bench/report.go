package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/zaqar-go/zaqar/loadgen"
)

// SchemaVersion changes only when a field changes meaning or goes away.
const SchemaVersion = 1

// Report is the JSON form of a run.
type Report struct {
	Schema     int                `json:"schema"`
	Tool       string             `json:"tool"`
	RunID      string             `json:"run_id"`
	Start      time.Time          `json:"start"`
	Seconds    float64            `json:"seconds"`
	Params     Params             `json:"params"`
	Operations map[string]OpStats `json:"operations"`
	EndToEnd   *Latency           `json:"end_to_end,omitempty"`
	Ledger     loadgen.Ledger     `json:"ledger"`
}

// Params records the workload.
type Params struct {
	ServerURL   string  `json:"server_url"`
	Duration    float64 `json:"duration_seconds"`
	Warmup      float64 `json:"warmup_seconds"`
	Queues      int     `json:"queues"`
	Projects    int     `json:"projects"`
	MessageSize int     `json:"message_size"`
	MessageMax  int     `json:"message_size_max,omitempty"`
	BatchSize   int     `json:"batch_size"`
	Producers   [2]int  `json:"producers"` // workers, connections
	Consumers   [2]int  `json:"consumers"`
	Observers   [2]int  `json:"observers"`
	ClaimLimit  int     `json:"claim_limit"`
	PageSize    int     `json:"page_size"`
	Rate        float64 `json:"rate"`
}

// OpStats is one operation's figures.
type OpStats struct {
	Requests       int64            `json:"requests"`
	Messages       int64            `json:"messages"`
	RequestsPerSec float64          `json:"requests_per_second"`
	MessagesPerSec float64          `json:"messages_per_second"`
	Errors         map[string]int64 `json:"errors"`
	Latency        Latency          `json:"latency"`
}

// Latency holds percentiles in milliseconds and the HDR snapshot.
type Latency struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean_ms"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p99_9_ms"`
	Max   float64 `json:"max_ms"`
	// Histogram is hdrhistogram-go's snapshot of the microsecond histogram.
	Histogram *hdrhistogram.Snapshot `json:"hdr"`
}

func latency(h *hdrhistogram.Histogram) Latency {
	ms := func(us int64) float64 { return float64(us) / 1000 }
	return Latency{
		Count: h.TotalCount(), Mean: h.Mean() / 1000,
		P50: ms(h.ValueAtQuantile(50)), P90: ms(h.ValueAtQuantile(90)), P99: ms(h.ValueAtQuantile(99)),
		P999: ms(h.ValueAtQuantile(99.9)), Max: ms(h.Max()), Histogram: h.Export(),
	}
}

// FromResult builds the report.
func FromResult(r *loadgen.Result) *Report {
	c := r.Config
	secs := r.Elapsed.Seconds()
	rep := &Report{
		Schema: SchemaVersion, Tool: "zaqar-bench", RunID: r.RunID, Start: r.Start, Seconds: secs,
		Params: Params{
			ServerURL: c.ServerURL, Duration: c.Duration.Seconds(), Warmup: c.Warmup.Seconds(), Queues: c.Queues,
			Projects: c.Projects, MessageSize: c.MessageSize, MessageMax: c.MessageSizeMax, BatchSize: c.BatchSize,
			Producers: [2]int{c.Producers.Workers, c.Producers.Conns}, Consumers: [2]int{c.Consumers.Workers, c.Consumers.Conns},
			Observers: [2]int{c.Observers.Workers, c.Observers.Conns}, ClaimLimit: c.ClaimLimit, PageSize: c.PageSize, Rate: c.Rate,
		},
		Operations: map[string]OpStats{}, Ledger: r.Ledger,
	}
	for name, o := range r.Ops {
		s := OpStats{Requests: o.Requests, Messages: o.Messages, Errors: o.Errors, Latency: latency(o.Hist)}
		if secs > 0 {
			s.RequestsPerSec, s.MessagesPerSec = float64(o.Requests)/secs, float64(o.Messages)/secs
		}
		rep.Operations[name] = s
	}
	if r.EndToEnd != nil && r.EndToEnd.TotalCount() > 0 {
		e := latency(r.EndToEnd)
		rep.EndToEnd = &e
	}
	return rep
}

// Load reads a JSON report.
func Load(path string) (*Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if r.Schema != SchemaVersion {
		return nil, fmt.Errorf("%s: schema %d, this tool reads %d", path, r.Schema, SchemaVersion)
	}
	return &r, nil
}

// WriteJSON writes the report.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func (r *Report) opNames() []string {
	order := map[string]int{"post": 0, "claim": 1, "delete": 2, "release": 3, "list": 4}
	var names []string
	for n := range r.Operations {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return order[names[i]] < order[names[j]] })
	return names
}

// WriteText writes the final table.
func (r *Report) WriteText(w io.Writer) {
	fmt.Fprintf(w, "zaqar-bench %s against %s: %.1fs measured, %d queue(s) x %d project(s), batch %d x %d B\n\n",
		r.RunID, r.Params.ServerURL, r.Seconds, r.Params.Queues, r.Params.Projects, r.Params.BatchSize, r.Params.MessageSize)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "operation\trequests\treq/s\tmsg/s\tp50 ms\tp90 ms\tp99 ms\tp99.9 ms\tmax ms\terrors\t")
	row := func(name string, s OpStats) {
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.0f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%s\t\n", name, s.Requests, s.RequestsPerSec,
			s.MessagesPerSec, s.Latency.P50, s.Latency.P90, s.Latency.P99, s.Latency.P999, s.Latency.Max, errorText(s.Errors))
	}
	for _, n := range r.opNames() {
		row(n, r.Operations[n])
	}
	if r.EndToEnd != nil {
		e := r.EndToEnd
		fmt.Fprintf(tw, "end-to-end\t%d\t\t\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t\t\n", e.Count, e.P50, e.P90, e.P99, e.P999, e.Max)
	}
	tw.Flush()
	l := r.Ledger
	fmt.Fprintf(w, "\nledger: produced %d, consumed %d, duplicates %d, unacknowledged-delivered %d, remaining %d, lost %d",
		l.Produced, l.Consumed, l.Duplicates, l.Unacked, l.Remaining, l.Lost)
	if !l.Drained {
		fmt.Fprint(w, " (queues not drained: losses cannot be counted)")
	}
	fmt.Fprintln(w)
}

func errorText(e map[string]int64) string {
	if len(e) == 0 {
		return "0"
	}
	var parts []string
	for k, v := range e {
		parts = append(parts, fmt.Sprintf("%s:%d", k, v))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// Legacy is the original zaqar-bench --noverbose document.
func (r *Report) Legacy() map[string]any {
	role := func(ops ...string) map[string]any {
		out := map[string]any{}
		for _, n := range ops {
			s, ok := r.Operations[n]
			if !ok {
				continue
			}
			out[n] = map[string]any{"total_reqs": s.Requests, "reqs_per_sec": s.RequestsPerSec,
				"ms_per_req": s.Latency.Mean, "total_messages": s.Messages, "messages_per_sec": s.MessagesPerSec}
		}
		return out
	}
	return map[string]any{
		"params": map[string]any{"producer": map[string]any{"processes": 1, "workers": r.Params.Producers[0]},
			"consumer": map[string]any{"processes": 1, "workers": r.Params.Consumers[0]},
			"observer": map[string]any{"processes": 1, "workers": r.Params.Observers[0]}},
		"producer": role("post"), "consumer": role("claim", "delete"), "observer": role("list"),
	}
}
