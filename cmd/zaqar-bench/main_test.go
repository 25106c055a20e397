package main

import (
	"bytes"
	"os"
	"path/filepath"
	rtrace "runtime/trace"
	"strings"
	"testing"
	"time"
)

// TestOriginalFlagsParse: scripts written for the original zaqar-bench
// keep working.
func TestOriginalFlagsParse(t *testing.T) {
	o := newOptions(&bytes.Buffer{})
	err := o.parse([]string{"-s", "http://127.0.0.1:9999", "-t", "3", "-pp", "2", "-pw", "3", "-cp", "2", "-cw", "4",
		"-op", "1", "-ow", "5", "-cno", "7", "-lno", "8", "-qno", "9", "-q", "pre", "--noverbose"})
	if err != nil {
		t.Fatal(err)
	}
	c := o.cfg
	if c.ServerURL != "http://127.0.0.1:9999" || c.Duration != 3*time.Second || c.Producers.Workers != 6 ||
		c.Consumers.Workers != 8 || c.Observers.Workers != 5 || c.ClaimLimit != 7 || c.PageSize != 8 ||
		c.Queues != 9 || c.QueuePrefix != "pre" || !o.noverbose {
		t.Fatalf("parsed %+v", c)
	}
	o = newOptions(&bytes.Buffer{})
	if err := o.parse([]string{"--server_url", "http://h:1", "--time", "2", "--producer_workers", "2", "--consumer_workers", "1",
		"--messages_per_claim", "3", "--num_queues", "2", "--queue_prefix", "x", "-H", "X-Auth-Token: tok"}); err != nil {
		t.Fatal(err)
	}
	if o.cfg.Producers.Workers != 2 || o.cfg.Headers["X-Auth-Token"] != "tok" {
		t.Fatalf("long names: %+v", o.cfg)
	}
}

func TestProfilesLoadAndCommandLineWins(t *testing.T) {
	for _, name := range []string{"default", "task-distribution", "event-broadcasting", "point-to-point", "large-messages", "many-queues"} {
		o := newOptions(&bytes.Buffer{})
		if err := o.parse([]string{"--profile", name}); err != nil {
			t.Fatalf("profile %s: %v", name, err)
		}
	}
	o := newOptions(&bytes.Buffer{})
	if err := o.parse([]string{"--profile", "many-queues", "-qno", "3", "-t", "1"}); err != nil {
		t.Fatal(err)
	}
	if o.cfg.Queues != 3 || o.cfg.Projects != 10 || o.cfg.Duration != time.Second {
		t.Fatalf("override: queues %d projects %d duration %v", o.cfg.Queues, o.cfg.Projects, o.cfg.Duration)
	}
	var stderr bytes.Buffer
	if code := run([]string{"--profile", "no-such-profile"}, &bytes.Buffer{}, &stderr); code != exitUsage || !strings.Contains(stderr.String(), "no-such-profile") {
		t.Fatalf("unknown profile: exit %d %q", code, stderr.String())
	}
	if code := run([]string{"compare", "one.json"}, &bytes.Buffer{}, &stderr); code != exitUsage {
		t.Fatalf("compare usage: exit %d", code)
	}
}

func TestStallsSubcommand(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "trace.out")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := rtrace.Start(f); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Millisecond)
	rtrace.Stop()
	f.Close()
	var out, errOut bytes.Buffer
	if code := run([]string{"stalls", "-min", "1ms", path}, &out, &errOut); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "wake-to-run delays") || !strings.Contains(out.String(), "stall windows") {
		t.Fatalf("report:\n%s", out.String())
	}
	garbage := filepath.Join(dir, "garbage")
	if err := os.WriteFile(garbage, []byte("no trace"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code := run([]string{"stalls", garbage}, &out, &errOut); code != exitFailed {
		t.Fatalf("garbage: exit %d, want %d", code, exitFailed)
	}
	if code := run([]string{"stalls"}, &out, &errOut); code != exitUsage {
		t.Fatalf("no file: exit %d, want %d", code, exitUsage)
	}
}

// TestOriginalsRemainingOptions: --messages_path, --skip_queue_reset,
// --api_version and --debug, as the original's scripts pass them.
func TestOriginalsRemainingOptions(t *testing.T) {
	f := filepath.Join(t.TempDir(), "messages.json")
	doc := `[{"weight": 0.7, "doc": {"ttl": 120, "body": {"event": "a"}}}, {"weight": 0.3, "doc": {"ttl": 60, "body": "b"}}]`
	if err := os.WriteFile(f, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	o := newOptions(&bytes.Buffer{})
	if err := o.parse([]string{"-m", f, "--skip_queue_reset", "--api_version", "2", "--debug=false", "-t", "1"}); err != nil {
		t.Fatal(err)
	}
	if len(o.cfg.Samples) != 2 || o.cfg.Samples[0].TTL != 120 || string(o.cfg.Samples[1].Body) != `"b"` || !o.quiet {
		t.Fatalf("samples %+v quiet %v", o.cfg.Samples, o.quiet)
	}
	for _, bad := range [][]string{{"--api_version", "1.1"}, {"--messages_path", filepath.Join(t.TempDir(), "none.json")}} {
		if err := newOptions(&bytes.Buffer{}).parse(bad); err == nil {
			t.Fatalf("%v accepted", bad)
		}
	}
}
