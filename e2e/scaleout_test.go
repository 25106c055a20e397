package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zaqar-go/zaqar/internal/testenv"
)

// TestScaleOutThroughput compares, in one run and interleaved (single,
// cluster, single, cluster), the same zaqar-bench load against one server
// node over one Redis and against two nodes over a Redis Cluster of 3
// masters and 3 replicas. The load is two zaqar-bench processes with the
// many-queues profile's shape at half its workers each (so the offered
// concurrency is the same in both set-ups), one per node when there are
// two. It reports messages per second, p99 latencies, their ratio, and
// the CPU seconds each process used: on a machine with few cores the
// servers, Redis and the generators share them, which caps the ratio.
//
// It takes about a minute, so it runs only when asked:
//
//	ZAQAR_SCALEOUT_BENCH=1 go test -count=1 -run TestScaleOutThroughput -v ./e2e/
//
// ZAQAR_SCALEOUT_SECONDS sets each measured phase (default 8).
func TestScaleOutThroughput(t *testing.T) {
	if os.Getenv("ZAQAR_SCALEOUT_BENCH") == "" {
		t.Skip("throughput comparison, about a minute: run with ZAQAR_SCALEOUT_BENCH=1")
	}
	seconds := 8
	if v, err := strconv.Atoi(os.Getenv("ZAQAR_SCALEOUT_SECONDS")); err == nil && v > 0 {
		seconds = v
	}
	bench := filepath.Join(t.TempDir(), "zaqar-bench")
	if out, err := exec.Command("go", "build", "-o", bench, "github.com/zaqar-go/zaqar/cmd/zaqar-bench").CombinedOutput(); err != nil {
		t.Fatalf("build zaqar-bench: %v\n%s", err, out)
	}
	single := testenv.StartRedisStandalone(t)
	cluster := testenv.StartRedisCluster(t)
	setups := []scaleSetup{
		{name: "1 node, 1 Redis", nodes: redisNodes(t, single.URI(), 0, 1), redisPids: []int{single.Pid(single.Port)}},
		{name: "2 nodes, Cluster 3+3", nodes: redisNodes(t, cluster.URI(), 0, 2)},
	}
	for _, p := range cluster.Ports {
		setups[1].redisPids = append(setups[1].redisPids, cluster.Pid(p))
	}
	results := map[string][]scaleResult{}
	for round := 0; round < 2; round++ {
		for _, s := range setups {
			r := runScaleBench(t, bench, s, seconds, round)
			results[s.name] = append(results[s.name], r)
			t.Logf("round %d, %s: %s", round+1, s.name, r)
		}
	}
	load, _ := os.ReadFile("/proc/loadavg")
	a, b := results[setups[0].name], results[setups[1].name]
	postA, postB := (a[0].postRate+a[1].postRate)/2, (b[0].postRate+b[1].postRate)/2
	claimA, claimB := (a[0].claimRate+a[1].claimRate)/2, (b[0].claimRate+b[1].claimRate)/2
	t.Logf("mean of both rounds: posted %.0f vs %.0f msg/s (ratio %.2f), claimed %.0f vs %.0f msg/s (ratio %.2f); load average %s",
		postA, postB, postB/postA, claimA, claimB, claimB/claimA, strings.TrimSpace(string(load)))
	for _, rs := range results {
		for _, r := range rs {
			if r.lost != 0 || r.postRate == 0 {
				t.Errorf("a run lost %d messages or posted nothing: %s", r.lost, r)
			}
		}
	}
}

type scaleSetup struct {
	name      string
	nodes     []*proc
	redisPids []int
}

type scaleResult struct {
	postRate, claimRate     float64 // messages per second, both generators
	postP99, claimP99       float64 // ms, the worse generator's
	lost                    int64
	cpuServers, cpuRedis    float64 // CPU seconds in the measured run (warm-up and drain included)
	cpuBench, wall          float64
	serverSplit, redisSplit []float64
	cores                   int
}

func (r scaleResult) String() string {
	f := func(xs []float64) string {
		s := make([]string, len(xs))
		for i, x := range xs {
			s[i] = fmt.Sprintf("%.1f", x)
		}
		return strings.Join(s, "+")
	}
	return fmt.Sprintf("posted %.0f msg/s (p99 %.1f ms), claimed %.0f msg/s (p99 %.1f ms), lost %d; CPU s over %.1f s wall on %d cores: servers %.1f (%s), redis %.1f (%s), generators %.1f",
		r.postRate, r.postP99, r.claimRate, r.claimP99, r.lost, r.wall, r.cores, r.cpuServers, f(r.serverSplit), r.cpuRedis, f(r.redisSplit), r.cpuBench)
}

// runScaleBench runs the two generators against the set-up's nodes and
// accounts their results and every process's CPU.
func runScaleBench(t *testing.T, bench string, s scaleSetup, seconds, round int) scaleResult {
	t.Helper()
	var r scaleResult
	serverPids := make([]int, len(s.nodes))
	for i, n := range s.nodes {
		serverPids[i] = n.cmd.Process.Pid
	}
	before := cpuSeconds(append(append([]int(nil), serverPids...), s.redisPids...))
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	for g := 0; g < 2; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			out := filepath.Join(t.TempDir(), "result.json")
			node := s.nodes[g%len(s.nodes)]
			cmd := exec.Command(bench, "--server_url", node.base, "--profile", "many-queues", "-t", strconv.Itoa(seconds),
				"--warmup", "1", "-pw", "4", "-cw", "4", "-q", fmt.Sprintf("r%dg%d", round, g), "--quiet", "--json", out)
			text, err := cmd.CombinedOutput()
			if err != nil {
				t.Errorf("zaqar-bench: %v\n%s", err, text)
				return
			}
			var doc struct {
				Operations map[string]struct {
					MessagesPerSecond float64 `json:"messages_per_second"`
					Latency           struct {
						P99 float64 `json:"p99_ms"`
					} `json:"latency"`
				} `json:"operations"`
				Ledger struct {
					Lost int64 `json:"lost"`
				} `json:"ledger"`
			}
			b, _ := os.ReadFile(out)
			if err := json.Unmarshal(b, &doc); err != nil {
				t.Errorf("zaqar-bench result: %v", err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			r.postRate += doc.Operations["post"].MessagesPerSecond
			r.claimRate += doc.Operations["claim"].MessagesPerSecond
			r.postP99 = max(r.postP99, doc.Operations["post"].Latency.P99)
			r.claimP99 = max(r.claimP99, doc.Operations["claim"].Latency.P99)
			r.lost += doc.Ledger.Lost
			r.cpuBench += cmd.ProcessState.UserTime().Seconds() + cmd.ProcessState.SystemTime().Seconds()
		}(g)
	}
	wg.Wait()
	r.wall = time.Since(start).Seconds()
	after := cpuSeconds(append(append([]int(nil), serverPids...), s.redisPids...))
	for i := range before {
		d := after[i] - before[i]
		if i < len(serverPids) {
			r.cpuServers += d
			r.serverSplit = append(r.serverSplit, d)
		} else {
			r.cpuRedis += d
			r.redisSplit = append(r.redisSplit, d)
		}
	}
	r.cores = runtime.NumCPU()
	return r
}

// cpuSeconds reads utime+stime of each process from /proc/PID/stat.
func cpuSeconds(pids []int) []float64 {
	out := make([]float64, len(pids))
	for i, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// Fields after the command name, which ends at the last ')'.
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
		utime, _ := strconv.ParseFloat(f[11], 64)
		stime, _ := strconv.ParseFloat(f[12], 64)
		out[i] = (utime + stime) / 100 // USER_HZ is 100 on Linux
	}
	return out
}
