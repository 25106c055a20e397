package wsapi

import (
	"math"
	"os"
	"path/filepath"
	rtmetrics "runtime/metrics"
	"runtime/pprof"
	"strconv"
	"testing"
)

// runtimeSample is what BenchmarkIdleConnections reads from the runtime
// at the start and end of its measured rounds.
type runtimeSample struct {
	liveHeap, stacks, goroutines, gcCycles uint64
	gcCPU                                  float64
	sched                                  *rtmetrics.Float64Histogram
}

func readRuntime() runtimeSample {
	s := []rtmetrics.Sample{
		{Name: "/gc/heap/live:bytes"},
		{Name: "/memory/classes/heap/stacks:bytes"},
		{Name: "/sched/goroutines:goroutines"},
		{Name: "/gc/cycles/total:gc-cycles"},
		{Name: "/cpu/classes/gc/total:cpu-seconds"},
		{Name: "/sched/latencies:seconds"},
	}
	rtmetrics.Read(s)
	var r runtimeSample
	for i, p := range []*uint64{&r.liveHeap, &r.stacks, &r.goroutines, &r.gcCycles} {
		if s[i].Value.Kind() == rtmetrics.KindUint64 {
			*p = s[i].Value.Uint64()
		}
	}
	if s[4].Value.Kind() == rtmetrics.KindFloat64 {
		r.gcCPU = s[4].Value.Float64()
	}
	if s[5].Value.Kind() == rtmetrics.KindFloat64Histogram {
		r.sched = s[5].Value.Float64Histogram()
	}
	return r
}

// report adds the settled process's memory and, between before and
// after, the collector's work and the scheduler's latency.
func (settled runtimeSample) report(b *testing.B, before, after runtimeSample) {
	b.ReportMetric(float64(settled.liveHeap)/(1<<20), "live_heap_MB")
	b.ReportMetric(float64(settled.stacks)/(1<<20), "stacks_MB")
	b.ReportMetric(float64(settled.goroutines), "goroutines")
	b.ReportMetric(float64(after.gcCycles-before.gcCycles), "gc_cycles")
	b.ReportMetric((after.gcCPU-before.gcCPU)*1000, "gc_cpu_ms")
	if before.sched != nil && after.sched != nil {
		b.ReportMetric(histQuantile(before.sched, after.sched, 0.5)*1e6, "sched_p50_us")
		b.ReportMetric(histQuantile(before.sched, after.sched, 0.99)*1e6, "sched_p99_us")
	}
}

// histQuantile is quantile q of the observations added between two
// readings of a runtime histogram (the upper bound of its bucket).
func histQuantile(before, after *rtmetrics.Float64Histogram, q float64) float64 {
	var total uint64
	for i := range after.Counts {
		total += after.Counts[i] - before.Counts[i]
	}
	if total == 0 {
		return 0
	}
	want := uint64(math.Ceil(q * float64(total)))
	var seen uint64
	for i := range after.Counts {
		seen += after.Counts[i] - before.Counts[i]
		if seen >= want {
			return after.Buckets[i+1]
		}
	}
	return after.Buckets[len(after.Buckets)-1]
}

// startWindowProfile writes, when ZAQAR_WS_IDLE_PROFILE names a
// directory, a heap profile now and a CPU profile until the returned
// function is called.
func startWindowProfile(b *testing.B, idle int) (stop func()) {
	dir := os.Getenv("ZAQAR_WS_IDLE_PROFILE")
	if dir == "" || b.N == 1 {
		return func() {}
	}
	name := func(kind string) string {
		return filepath.Join(dir, kind+"-idle"+strconv.Itoa(idle)+".pprof")
	}
	heap, err := os.Create(name("heap"))
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.Lookup("heap").WriteTo(heap, 0); err != nil {
		b.Fatal(err)
	}
	heap.Close()
	cpu, err := os.Create(name("cpu"))
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(cpu); err != nil {
		b.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		cpu.Close()
	}
}
