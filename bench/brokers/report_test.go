package brokers

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{5}, 5}, {[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

func measurements() []Measurement {
	ops := func(p50, p99 float64) map[string]OpLatency {
		return map[string]OpLatency{OpSend: {Count: 10, P50: p50, P99: p99}}
	}
	clean := func(n int64) *Counts { return &Counts{Produced: n, Consumed: n, Drained: true} }
	return []Measurement{
		{Round: 0, Workload: Produce, System: "zaqar", Seconds: 10, ProducedRate: 30000, Ops: ops(2, 9), CPU: CPU{Machine: 1.9, Client: 0.5}},
		{Round: 0, Workload: Produce, System: "redis", Seconds: 10, ProducedRate: 50000, Ops: ops(1, 5)},
		{Round: 1, Workload: Produce, System: "redis", Seconds: 10, ProducedRate: 40000, Ops: ops(3, 7)},
		{Round: 1, Workload: Produce, System: "zaqar", Seconds: 10, ProducedRate: 10000, Ops: ops(4, 20)},
		{Round: 2, Workload: Produce, System: "zaqar", Seconds: 10, ProducedRate: 20000, Ops: ops(3, 10)},
		{Round: 0, Workload: Consume, System: "zaqar", Seconds: 8, ConsumedRate: 25000, Counts: clean(300000)},
		{Round: 1, Workload: Consume, System: "zaqar", Seconds: 8, ConsumedRate: 27000,
			Counts: &Counts{Produced: 300000, Consumed: 299990, Duplicates: 2, Drained: true, Lost: 10}},
		{Round: 0, Workload: Mixed, System: "redis", Seconds: 10, ConsumedRate: 45000, ProducedRate: 45100, Counts: clean(450000),
			Errors: map[string]int64{OpSend: 2}},
		{Round: 1, Workload: Mixed, System: "redis", Err: "fill: broken"},
	}
}

func TestSummarize(t *testing.T) {
	rows := Summarize(measurements(), Workloads, []string{"zaqar", "redis"})
	if len(rows) != 6 {
		t.Fatalf("%d rows, want 6 (3 workloads x 2 systems)", len(rows))
	}
	byKey := map[string]Row{}
	for _, r := range rows {
		byKey[r.Workload+"/"+r.System] = r
	}
	z := byKey["produce/zaqar"]
	if z.Rate != 20000 || z.Rounds != 3 || z.CPU.Machine != 0 || z.Ops[OpSend].P50 != 3 || z.Ops[OpSend].P99 != 10 || z.Checked {
		t.Errorf("produce/zaqar = %+v", z)
	}
	if r := byKey["produce/redis"]; r.Rate != 45000 || r.Ops[OpSend].P50 != 2 {
		t.Errorf("produce/redis = %+v", r)
	}
	if c := byKey["consume/zaqar"]; c.Rate != 26000 || c.Lost != 10 || c.Duplicates != 2 || !c.Checked {
		t.Errorf("consume/zaqar = %+v", c)
	}
	m := byKey["mixed/redis"]
	if m.Rounds != 1 || m.Rate != 45000 || m.ProducedRate != 45100 || m.Errors != 2 || len(m.Failed) != 1 {
		t.Errorf("mixed/redis = %+v", m)
	}
	if r := byKey["consume/redis"]; r.Rounds != 0 || r.Rate != 0 {
		t.Errorf("consume/redis, never run = %+v", r)
	}
}

func TestReportText(t *testing.T) {
	rep := &Report{Start: time.Date(2026, 12, 6, 15, 0, 0, 0, time.UTC), End: time.Date(2026, 12, 6, 15, 9, 0, 0, time.UTC),
		CPUs: 2, LoadStart: [3]float64{0.5, 1, 1.25}, LoadEnd: [3]float64{5.5, 4, 2},
		Settings:     Settings{Rounds: 3, Seconds: 10, Producers: 16, Consumers: 16, MixedProducers: 8, Backlog: 300000, Body: 1000, Batch: 10},
		Systems:      []string{"zaqar", "redis"},
		Skipped:      map[string]string{"rabbitmq": "connection refused"},
		Measurements: measurements()}
	rep.Summary = Summarize(rep.Measurements, Workloads, rep.Systems)
	var b bytes.Buffer
	rep.WriteText(&b, false)
	out := b.String()
	for _, want := range []string{
		"3 round(s), 10s per workload, 16 producers, 16 consumers (mixed: 8+16), backlog 300000, 1000-byte bodies",
		"load average (1/5/15 min) at start 0.50 1.00 1.25, at end 5.50 4.00 2.00; 2 CPUs",
		"skipped rabbitmq: connection refused",
		"workload  system   msg/s  rounds             produced/s  cores all/client  send ms p50/p99",
		"produce   zaqar   20,000  30.0k 10.0k 20.0k           -         0.00/0.00         3.0/10.0",
		"consume   zaqar   26,000  25.0k 27.0k                 -         0.00/0.00                -                -               -    10    2       0",
		"mixed     redis   45,000  45.0k                  45,100",
		"consume   redis        -",
		"mixed     zaqar        -                              -                 -",
		"note: mixed/redis round 2: fill: broken",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "round  workload") {
		t.Error("rounds listed without verbose")
	}
	b.Reset()
	rep.WriteText(&b, true)
	if !strings.Contains(b.String(), "round  workload  system  seconds") || !strings.Contains(b.String(), "round 2 mixed redis: fill: broken") {
		t.Errorf("verbose lacks the rounds:\n%s", b.String())
	}
	if rep.Clean() {
		t.Error("a report with losses is clean")
	}
	b.Reset()
	if err := rep.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b.Bytes(), &back); err != nil || len(back.Measurements) != len(rep.Measurements) || back.Summary[0].Rate != 20000 {
		t.Fatalf("JSON round trip: %v, %+v", err, back.Summary)
	}
}

func TestThousands(t *testing.T) {
	for in, want := range map[float64]string{0: "0", 999.6: "1,000", 12345: "12,345", 1234567: "1,234,567"} {
		if got := thousands(in); got != want {
			t.Errorf("thousands(%v) = %q, want %q", in, got, want)
		}
	}
}
