package brokers

import (
	"context"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zaqar-go/zaqar/internal/testenv"
)

// buildServer builds zaqar-server into a temp dir, as e2e's harness does.
func buildServer(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "zaqar-server")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/zaqar-go/zaqar/cmd/zaqar-server").CombinedOutput()
	if err != nil {
		t.Fatalf("build zaqar-server: %v\n%s", err, out)
	}
	return bin
}

// TestAllSystemsDeliverExactlyOnce runs the whole benchmark briefly (one
// round of 1 s, a 2,000-message backlog) against our server, a private
// redis-server and the machine's RabbitMQ, and checks that every system
// delivered every acknowledged message exactly once.
func TestAllSystemsDeliverExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers; not in -short")
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		testenv.Unavailable(t, "redis-server is not installed (Debian package redis-server)")
	}
	if c, err := net.DialTimeout("tcp", "127.0.0.1:5672", 2*time.Second); err != nil {
		testenv.Unavailable(t, "RabbitMQ is not reachable at 127.0.0.1:5672 (%v): start it with rabbitmq-server -detached", err)
	} else {
		c.Close()
	}
	cfg := DefaultConfig()
	cfg.Rounds, cfg.Duration, cfg.Backlog = 1, time.Second, 2000
	cfg.Producers, cfg.Consumers = 4, 4
	cfg.Settle, cfg.Warmup, cfg.DrainTimeout = 0, 0, 20*time.Second
	cfg.ZaqarServer = buildServer(t)
	var log strings.Builder
	cfg.Progress = &log
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, log.String())
	}
	if len(rep.Skipped) > 0 {
		t.Fatalf("skipped %v", rep.Skipped)
	}
	if len(rep.Measurements) != 9 {
		t.Fatalf("%d measurements, want 9\n%s", len(rep.Measurements), log.String())
	}
	for _, m := range rep.Measurements {
		name := m.Workload + "/" + m.System
		if m.Err != "" || len(m.Errors) > 0 {
			t.Errorf("%s: %s %v", name, m.Err, m.Errors)
			continue
		}
		if m.Workload != Consume && m.ProducedRate <= 0 {
			t.Errorf("%s produced nothing", name)
		}
		if m.Workload == Produce {
			continue
		}
		c := m.Counts
		if m.ConsumedRate <= 0 || c == nil || !c.Drained || c.Lost != 0 || c.Duplicates != 0 || c.Unacked != 0 ||
			c.Foreign != 0 || c.Remaining != 0 || c.Produced != c.Consumed {
			t.Errorf("%s: consumed %.0f/s, counts %+v", name, m.ConsumedRate, c)
		}
		if m.Workload == Consume && c.Produced != 2000 {
			t.Errorf("%s: backlog %d, want 2000", name, c.Produced)
		}
	}
	if !rep.Clean() {
		var b strings.Builder
		rep.WriteText(&b, true)
		t.Errorf("report not clean:\n%s", b.String())
	}
}

func TestConnectLoopbackOnly(t *testing.T) {
	if _, err := ConnectZaqar("http://10.1.2.3:8888", 0); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("a non-loopback Zaqar was accepted: %v", err)
	}
	if _, err := ConnectRabbitMQ("amqp://guest:guest@192.168.0.9:5672/"); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("a non-loopback RabbitMQ was accepted: %v", err)
	}
}
