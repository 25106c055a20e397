package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zaqar-go/zaqar/bench/brokers"
	"github.com/zaqar-go/zaqar/internal/testenv"
)

func TestBrokersUsage(t *testing.T) {
	for _, args := range [][]string{{"--systems", "kafka"}, {"--workloads", "produce,fanout"}, {"extra"}, {"--rounds", "0"}, {"--body", "10"}, {"--nope"}} {
		var out, errOut bytes.Buffer
		if code := run(append([]string{"brokers"}, args...), &out, &errOut); code != exitUsage {
			t.Errorf("brokers %v: exit %d, want %d\n%s", args, code, exitUsage, errOut.String())
		}
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"brokers", "-h"}, &out, &errOut); code != exitOK || !strings.Contains(errOut.String(), "-systems") {
		t.Errorf("-h: exit %d\n%s", code, errOut.String())
	}
}

// TestBrokersRedisOnly runs the subcommand end to end on the one system it
// starts itself, and reads its JSON back.
func TestBrokersRedisOnly(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		testenv.Unavailable(t, "redis-server is not installed (Debian package redis-server)")
	}
	js := filepath.Join(t.TempDir(), "b.json")
	var out, errOut bytes.Buffer
	code := run([]string{"brokers", "--systems", "redis", "--rounds", "1", "--time", "300ms", "--backlog", "500",
		"--producers", "2", "--consumers", "2", "--settle", "0s", "--warmup", "0s", "--json", js, "-v"}, &out, &errOut)
	if code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errOut.String())
	}
	for _, want := range []string{"load average (1/5/15 min) at start", "consume   redis", "round  workload  system"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if !strings.Contains(errOut.String(), "round 1/1 mixed   redis") {
		t.Errorf("no progress lines:\n%s", errOut.String())
	}
	b, err := os.ReadFile(js)
	if err != nil {
		t.Fatal(err)
	}
	var rep brokers.Report
	if err := json.Unmarshal(b, &rep); err != nil || len(rep.Measurements) != 3 || len(rep.Summary) != 3 {
		t.Fatalf("JSON: %v, %d measurements", err, len(rep.Measurements))
	}
}
