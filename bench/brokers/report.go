package brokers

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Report is a whole run: its settings, the machine's load around it, every
// measurement, and the summary the table shows.
type Report struct {
	Tool         string            `json:"tool"`
	Start        time.Time         `json:"start"`
	End          time.Time         `json:"end"`
	CPUs         int               `json:"cpus"`
	LoadStart    [3]float64        `json:"load_average_start"`
	LoadEnd      [3]float64        `json:"load_average_end"`
	Settings     Settings          `json:"settings"`
	Systems      []string          `json:"systems"`           // measured, in round 1's order
	Skipped      map[string]string `json:"skipped,omitempty"` // system -> why
	Measurements []Measurement     `json:"measurements"`
	Summary      []Row             `json:"summary"`
}

// Settings records the workload parameters.
type Settings struct {
	Rounds         int      `json:"rounds"`
	Workloads      []string `json:"workloads"`
	Seconds        float64  `json:"seconds"`
	Producers      int      `json:"producers"`
	Consumers      int      `json:"consumers"`
	MixedProducers int      `json:"mixed_producers"`
	Backlog        int      `json:"backlog"`
	Body           int      `json:"body_bytes"`
	Batch          int      `json:"batch"`
}

// Row is one workload on one system over all rounds: medians of the
// rounds' figures, totals of their delivery counts.
type Row struct {
	Workload     string               `json:"workload"`
	System       string               `json:"system"`
	Rounds       int                  `json:"rounds"`         // rounds that measured something
	Rate         float64              `json:"msg_per_second"` // median: produced/s for produce, consumed/s otherwise
	RoundRates   []float64            `json:"round_rates"`
	ProducedRate float64              `json:"produced_per_second,omitempty"` // median, mixed
	Ops          map[string]OpLatency `json:"operations"`                    // median p50, p99 and max of the rounds
	CPU          CPU                  `json:"cpu"`                           // medians
	Checked      bool                 `json:"checked"`                       // consume and mixed count deliveries
	Lost         int64                `json:"lost"`
	Duplicates   int64                `json:"duplicates"`
	Unacked      int64                `json:"unacked"`
	Undrained    int                  `json:"undrained"` // rounds whose queue was not emptied in time
	Remaining    int64                `json:"remaining"`
	Errors       int64                `json:"errors"`
	Failed       []string             `json:"failed,omitempty"` // rounds that did not complete, with why
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Summarize builds the rows, workload by workload, systems in the given
// order.
func Summarize(ms []Measurement, workloads, systems []string) []Row {
	var rows []Row
	for _, wl := range workloads {
		for _, sys := range systems {
			r := Row{Workload: wl, System: sys, Ops: map[string]OpLatency{}, Checked: wl != Produce}
			var prod, cpuAll, cpuClient []float64
			lat := map[string][3][]float64{}
			for _, m := range ms {
				if m.Workload != wl || m.System != sys {
					continue
				}
				for _, n := range m.Errors {
					r.Errors += n
				}
				if c := m.Counts; c != nil {
					r.Lost += c.Lost
					r.Duplicates += c.Duplicates
					r.Unacked += c.Unacked
					r.Remaining += max(0, c.Remaining)
					if !c.Drained {
						r.Undrained++
					}
				}
				if m.Err != "" {
					r.Failed = append(r.Failed, fmt.Sprintf("round %d: %s", m.Round+1, m.Err))
				}
				if m.Seconds == 0 {
					continue // nothing was timed
				}
				r.Rounds++
				rate := m.ConsumedRate
				if wl == Produce {
					rate = m.ProducedRate
				}
				r.RoundRates = append(r.RoundRates, rate)
				prod = append(prod, m.ProducedRate)
				cpuAll, cpuClient = append(cpuAll, m.CPU.Machine), append(cpuClient, m.CPU.Client)
				for op, l := range m.Ops {
					v := lat[op]
					v[0], v[1], v[2] = append(v[0], l.P50), append(v[1], l.P99), append(v[2], l.Max)
					lat[op] = v
				}
			}
			r.Rate = median(r.RoundRates)
			r.CPU = CPU{Machine: median(cpuAll), Client: median(cpuClient)}
			if wl == Mixed {
				r.ProducedRate = median(prod)
			}
			for op, v := range lat {
				r.Ops[op] = OpLatency{Count: int64(len(v[0])), P50: median(v[0]), P99: median(v[1]), Max: median(v[2])}
			}
			rows = append(rows, r)
		}
	}
	return rows
}

// Clean reports whether every checked measurement delivered every message
// exactly once and drained.
func (r *Report) Clean() bool {
	for _, row := range r.Summary {
		if row.Lost > 0 || row.Duplicates > 0 || row.Undrained > 0 || len(row.Failed) > 0 {
			return false
		}
	}
	return true
}

// WriteJSON writes the whole report.
func (r *Report) WriteJSON(w io.Writer) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(r)
}

func thousands(v float64) string {
	s := strconv.FormatInt(int64(v+0.5), 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func latency(l OpLatency, ok bool) string {
	if !ok {
		return "-"
	}
	return fmt.Sprintf("%.1f/%.1f", l.P50, l.P99)
}

func loadText(l [3]float64) string { return fmt.Sprintf("%.2f %.2f %.2f", l[0], l[1], l[2]) }

// WriteText prints the header, the table of medians, and with verbose
// every round's figures.
func (r *Report) WriteText(w io.Writer, verbose bool) {
	s := r.Settings
	fmt.Fprintf(w, "zaqar-bench brokers: %d round(s), %gs per workload, %d producers, %d consumers (mixed: %d+%d), backlog %d, %d-byte bodies, batches of %d\n",
		s.Rounds, s.Seconds, s.Producers, s.Consumers, s.MixedProducers, s.Consumers, s.Backlog, s.Body, s.Batch)
	fmt.Fprintf(w, "load average (1/5/15 min) at start %s, at end %s; %d CPUs; %s .. %s\n",
		loadText(r.LoadStart), loadText(r.LoadEnd), r.CPUs, r.Start.Format("2006-01-02 15:04:05"), r.End.Format("15:04:05"))
	for _, name := range sortedKeys(r.Skipped) {
		fmt.Fprintf(w, "skipped %s: %s\n", name, r.Skipped[name])
	}
	fmt.Fprintln(w)
	writeTable(w, r.Summary)
	var notes []string
	for _, row := range r.Summary {
		if row.Undrained > 0 {
			notes = append(notes, fmt.Sprintf("%s/%s: %d round(s) not drained within the drain timeout, %d messages left: lost counts only drained rounds",
				row.Workload, row.System, row.Undrained, row.Remaining))
		}
		if row.Unacked > 0 {
			notes = append(notes, fmt.Sprintf("%s/%s: %d delivered messages whose send had failed (stored though not acknowledged)", row.Workload, row.System, row.Unacked))
		}
		for _, f := range row.Failed {
			notes = append(notes, fmt.Sprintf("%s/%s %s", row.Workload, row.System, f))
		}
	}
	if len(notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range notes {
			fmt.Fprintln(w, "note:", n)
		}
	}
	if verbose {
		fmt.Fprintln(w)
		writeRounds(w, r.Measurements)
	}
}

var tableHeader = []string{"workload", "system", "msg/s", "rounds", "produced/s", "cores all/client", "send ms p50/p99", "take ms p50/p99", "ack ms p50/p99", "lost", "dup", "errors"}

// writeTable: msg/s is the median over rounds of what the workload
// measures (produced for produce, consumed for consume and mixed); rounds
// gives each round's figure in thousands; cores are the CPUs busy on the
// machine and in the load generator; lost and dup are totals over the
// rounds, "-" where the workload does not consume.
func writeTable(w io.Writer, rows []Row) {
	cells := [][]string{tableHeader}
	for _, r := range rows {
		var rounds []string
		for _, v := range r.RoundRates {
			rounds = append(rounds, fmt.Sprintf("%.1fk", v/1000))
		}
		prod, lost, dup := "-", "-", "-"
		if r.Workload == Mixed && r.Rounds > 0 {
			prod = thousands(r.ProducedRate)
		}
		if r.Checked {
			lost, dup = strconv.FormatInt(r.Lost, 10), strconv.FormatInt(r.Duplicates, 10)
			if r.Undrained > 0 {
				lost += "?"
			}
		}
		send, okS := r.Ops[OpSend]
		take, okT := r.Ops[OpTake]
		ack, okA := r.Ops[OpAck]
		rate := thousands(r.Rate)
		switch {
		case r.Rounds == 0 && len(r.Failed) > 0:
			rate = "failed"
		case r.Rounds == 0:
			rate = "-" // never ran (interrupted)
		}
		cpu := "-"
		if r.Rounds > 0 {
			cpu = fmt.Sprintf("%.2f/%.2f", r.CPU.Machine, r.CPU.Client)
		}
		cells = append(cells, []string{r.Workload, r.System, rate, strings.Join(rounds, " "), prod, cpu,
			latency(send, okS), latency(take, okT), latency(ack, okA), lost, dup, strconv.FormatInt(r.Errors, 10)})
	}
	writeCells(w, cells, 0, 1, 3)
}

// writeCells aligns columns: names and lists (the columns left) to the
// left, numbers to the right.
func writeCells(w io.Writer, cells [][]string, left ...int) {
	width := make([]int, len(cells[0]))
	for _, row := range cells {
		for i, c := range row {
			width[i] = max(width[i], len(c))
		}
	}
	for _, row := range cells {
		var b strings.Builder
		for i, c := range row {
			if i > 0 {
				b.WriteString("  ")
			}
			pad := strings.Repeat(" ", width[i]-len(c))
			if slices.Contains(left, i) {
				b.WriteString(c + pad)
			} else {
				b.WriteString(pad + c)
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}

// writeRounds lists every measurement in the order it ran.
func writeRounds(w io.Writer, ms []Measurement) {
	cells := [][]string{{"round", "workload", "system", "seconds", "produced/s", "consumed/s", "cpu all/client", "send ms p50/p99", "take ms p50/p99", "ack ms p50/p99",
		"fill s", "drain s", "produced", "consumed", "lost", "dup", "unacked", "left", "errors"}}
	for _, m := range ms {
		send, okS := m.Ops[OpSend]
		take, okT := m.Ops[OpTake]
		ack, okA := m.Ops[OpAck]
		prodCount, cons, lost, dup, unacked, left := strconv.FormatInt(m.Produced, 10), "-", "-", "-", "-", "-"
		if c := m.Counts; c != nil {
			prodCount, cons = strconv.FormatInt(c.Produced, 10), strconv.FormatInt(c.Consumed, 10)
			lost, dup, unacked, left = strconv.FormatInt(c.Lost, 10), strconv.FormatInt(c.Duplicates, 10),
				strconv.FormatInt(c.Unacked, 10), strconv.FormatInt(c.Remaining, 10)
			if !c.Drained {
				lost = "?"
			}
		}
		var errs int64
		for _, n := range m.Errors {
			errs += n
		}
		cells = append(cells, []string{strconv.Itoa(m.Round + 1), m.Workload, m.System, fmt.Sprintf("%.2f", m.Seconds),
			thousands(m.ProducedRate), thousands(m.ConsumedRate), fmt.Sprintf("%.2f/%.2f", m.CPU.Machine, m.CPU.Client), latency(send, okS), latency(take, okT), latency(ack, okA),
			fmt.Sprintf("%.1f", m.FillSeconds), fmt.Sprintf("%.1f", m.DrainSeconds), prodCount, cons, lost, dup, unacked, left,
			strconv.FormatInt(errs, 10)})
	}
	writeCells(w, cells, 0, 1, 2)
	for _, m := range ms {
		if m.Err != "" {
			fmt.Fprintf(w, "round %d %s %s: %s\n", m.Round+1, m.Workload, m.System, m.Err)
		}
	}
}

func sortedKeys(m map[string]string) []string {
	var k []string
	for n := range m {
		k = append(k, n)
	}
	slices.Sort(k)
	return k
}
