package wsapi

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
)

// raiseFileLimit lifts RLIMIT_NOFILE to need files (the server's end of
// every idle connection; the client ends live in a helper process).
func raiseFileLimit(b *testing.B, need uint64) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		b.Fatal(err)
	}
	if l.Cur >= need {
		return
	}
	// Raising the hard limit takes privilege (root has it); without, the
	// soft limit goes as high as the hard one.
	want := syscall.Rlimit{Cur: need, Max: max(need, l.Max)}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
		l.Cur = l.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
		b.Skipf("RLIMIT_NOFILE: %d files needed, hard limit %d cannot be raised: %v", need, l.Max, err)
	}
}

// BenchmarkIdleConnections measures one active client's request latency
// (a post and a claim of one message, then its delete) while 0 or 10,000
// other connections stay open and idle (answering the server's pings).
// Compare p50_us and p99_us between the two:
//
//	go test -run - -bench IdleConnections -benchtime 20000x ./wsapi
//
// Besides the latencies it reports, from runtime/metrics, the live heap,
// stacks and goroutines once the connections are open (so the cost of
// an idle connection is the difference between the two runs divided by
// 10,000), and over the measured rounds the collector's cycles and CPU
// and the scheduler's latency (runnable to running). With
// ZAQAR_WS_IDLE_PROFILE=dir it writes a CPU profile of the measured
// rounds and a heap profile of the settled server to dir.
func BenchmarkIdleConnections(b *testing.B) {
	// The collector as zaqar-server sets it (GOGC 400 unless the
	// environment says otherwise): at Go's default of 100 the 10,000
	// connections' goroutines and buffers make each cycle's marking the
	// larger part of the difference.
	if _, set := os.LookupEnv("GOGC"); !set {
		defer debug.SetGCPercent(debug.SetGCPercent(400))
	}
	for _, idle := range []int{0, 10000} {
		b.Run(fmt.Sprintf("idle=%d", idle), func(b *testing.B) {
			raiseFileLimit(b, uint64(idle+1024))
			e := newEnv(b, func(o *Options) { o.MaxConnections = idle + 10 })
			if idle > 0 {
				stop := startIdleClients(b, e.wsURL, idle)
				defer stop()
			}
			c := e.dial(false)
			post := map[string]any{"queue_name": "active", "messages": []any{map[string]any{"body": map[string]any{"n": 1}}}}
			claim := map[string]any{"queue_name": "active", "limit": 1}
			lat := make([]time.Duration, 0, b.N)
			// Settle: collect what opening the connections left, and warm up
			// the active path (the first rounds are not measured).
			runtime.GC()
			settled := readRuntime()
			profile := startWindowProfile(b, idle)
			const warmup = 200
			b.ResetTimer()
			var before runtimeSample
			for i := 0; i < b.N+warmup; i++ {
				if i == warmup {
					lat = lat[:0]
					before = readRuntime()
					b.ResetTimer()
				}
				start := time.Now()
				if r := c.call("message_post", post); r.Status != 201 {
					b.Fatalf("post: %d", r.Status)
				}
				r := c.call("claim_create", claim)
				if r.Status != 201 {
					b.Fatalf("claim: %d", r.Status)
				}
				m := field(r.Body, "messages").([]any)[0].(map[string]any)
				if d := c.call("message_delete", map[string]any{"queue_name": "active", "message_id": m["id"],
					"claim_id": field(r.Body, "claim_id")}); d.Status != 204 {
					b.Fatalf("delete: %d", d.Status)
				}
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			after := readRuntime()
			profile()
			settled.report(b, before, after)
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50_us")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99_us")
			b.ReportMetric(float64(e.ws.Open()), "open_conns")
		})
	}
}

// idleHelperEnv names the WebSocket URL when the test binary runs as the
// idle clients' process.
const idleHelperEnv = "ZAQAR_WS_IDLE_CLIENTS_URL"

// startIdleClients runs n idle connections in a child process (this test
// binary running TestIdleClientsHelper), so that each process holds n
// sockets rather than one holding 2n; it returns once all are open.
func startIdleClients(b *testing.B, url string, n int) (stop func()) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestIdleClientsHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), idleHelperEnv+"="+url, "ZAQAR_WS_IDLE_CLIENTS="+strconv.Itoa(n))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		stdin.Close()
		cmd.Wait()
		b.Fatalf("idle clients: %q %v", line, err)
	}
	return func() {
		stdin.Close() // the helper exits when its stdin closes
		cmd.Wait()
	}
}

// TestIdleClientsHelper is the idle clients' process of
// BenchmarkIdleConnections; run on its own it does nothing.
func TestIdleClientsHelper(t *testing.T) {
	url := os.Getenv(idleHelperEnv)
	if url == "" {
		t.Skip("helper process of BenchmarkIdleConnections")
	}
	n, _ := strconv.Atoi(os.Getenv("ZAQAR_WS_IDLE_CLIENTS"))
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err == nil && l.Cur < uint64(n+1024) {
		l.Cur = min(uint64(n+1024), l.Max)
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
	dialer := websocket.Dialer{ReadBufferSize: 256, WriteBufferSize: 256, HandshakeTimeout: 30 * time.Second}
	conns := make([]*websocket.Conn, 0, n)
	for i := 0; i < n; i++ {
		ws, _, err := dialer.Dial(url, nil)
		if err != nil {
			fmt.Printf("dial %d: %v\n", i, err)
			return
		}
		conns = append(conns, ws)
		// Reading answers the server's pings; nothing else arrives.
		go func() {
			for {
				if _, _, err := ws.ReadMessage(); err != nil {
					return
				}
			}
		}()
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	for _, ws := range conns {
		ws.Close()
	}
}
