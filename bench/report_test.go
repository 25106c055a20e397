package bench

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/zaqar-go/zaqar/loadgen"
)

func sampleResult() *loadgen.Result {
	h := hdrhistogram.New(1, 60_000_000, 3)
	for i := int64(1); i <= 1000; i++ {
		h.RecordValue(i * 10)
	}
	cfg := loadgen.DefaultConfig()
	cfg.Duration = 2 * time.Second
	return &loadgen.Result{
		Config: cfg, RunID: "abcd1234", Start: time.Unix(1_800_000_000, 0), Elapsed: 2 * time.Second,
		Ops: map[string]*loadgen.OpResult{
			"post":  {Requests: 1000, Messages: 10000, Errors: map[string]int64{"503": 2}, Hist: h},
			"claim": {Requests: 100, Messages: 1000, Errors: map[string]int64{}, Hist: h},
		},
		EndToEnd: h, Ledger: loadgen.Ledger{Produced: 10000, Consumed: 10000, Drained: true},
	}
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestJSONSchemaStable pins the keys of the JSON report: tools that read
// it (compare, dashboards) depend on them.
func TestJSONSchemaStable(t *testing.T) {
	var buf bytes.Buffer
	if err := FromResult(sampleResult()).WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	json.Unmarshal(buf.Bytes(), &doc)
	// A missing object has no keys (and fails its row), rather than panic.
	obj := func(m map[string]any, key string) map[string]any { o, _ := m[key].(map[string]any); return o }
	post := obj(obj(doc, "operations"), "post")
	lat := obj(post, "latency")
	for _, c := range []struct {
		what string
		obj  map[string]any
		want string
	}{
		{"top-level", doc, "end_to_end ledger operations params run_id schema seconds start tool"},
		{"operation", post, "errors latency messages messages_per_second requests requests_per_second"},
		{"latency", lat, "count hdr max_ms mean_ms p50_ms p90_ms p99_9_ms p99_ms"},
		{"ledger", obj(doc, "ledger"), "consumed drained duplicates lost produced remaining unacked"},
	} {
		if got := strings.Join(keys(c.obj), " "); got != c.want {
			t.Errorf("%s keys %q, want %q", c.what, got, c.want)
		}
	}
	if t.Failed() {
		t.FailNow() // the figures below read those keys
	}
	if p50 := lat["p50_ms"].(float64); post["requests_per_second"].(float64) != 500 || p50 < 4.99 || p50 > 5.01 {
		t.Fatalf("figures: %v %v", post["requests_per_second"], lat["p50_ms"])
	}
}

func TestLoadCompareTextLegacyPlot(t *testing.T) {
	dir := t.TempDir()
	rep := FromResult(sampleResult())
	path := filepath.Join(dir, "a.json")
	f, _ := os.Create(path)
	rep.WriteJSON(f)
	f.Close()
	back, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if back.Operations["post"].Latency.P99 != rep.Operations["post"].Latency.P99 {
		t.Fatal("round trip changed the report")
	}
	if h := hdrhistogram.Import(back.Operations["post"].Latency.Histogram); h.TotalCount() != 1000 {
		t.Fatalf("hdr snapshot lost counts: %d", h.TotalCount())
	}
	faster := FromResult(sampleResult())
	op := faster.Operations["post"]
	op.RequestsPerSec *= 2
	faster.Operations["post"] = op
	var out bytes.Buffer
	Compare(&out, rep, faster, "a", "b")
	if !strings.Contains(out.String(), "2.00x") || !strings.Contains(out.String(), "p99 ms") {
		t.Fatalf("compare output:\n%s", out.String())
	}
	out.Reset()
	rep.WriteText(&out)
	for _, want := range []string{"post", "claim", "end-to-end", "503:2", "ledger: produced 10000, consumed 10000"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("text report lacks %q:\n%s", want, out.String())
		}
	}
	legacy := rep.Legacy()
	if got := strings.Join(keys(legacy), " "); got != "consumer observer params producer" {
		t.Fatalf("noverbose keys %q", got)
	}
	for _, name := range []string{"lat.png", "lat.html"} {
		if err := rep.WritePlot(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(filepath.Join(dir, name))
		if len(b) < 1000 || (name == "lat.html" && !bytes.Contains(b, []byte("<svg"))) {
			t.Fatalf("%s: %d bytes", name, len(b))
		}
	}
	if rep.WritePlot(filepath.Join(dir, "lat.gif")) == nil {
		t.Fatal("unknown plot format accepted")
	}
	os.WriteFile(path, []byte(`{"schema":99}`), 0o644)
	if _, err := Load(path); err == nil {
		t.Fatal("a report of another schema was accepted")
	}
}
