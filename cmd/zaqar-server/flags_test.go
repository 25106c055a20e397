package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOptionFlags: the flags the option table declares override their
// options, and a bad value is a configuration error naming it.
func TestOptionFlags(t *testing.T) {
	var help bytes.Buffer
	if code := run([]string{"--help"}, &help); code != exitOK {
		t.Fatalf("--help: exit %d", code)
	}
	for _, want := range []string{"-data-dir string\n    \toverride [drivers:message_store:badger] path",
		"-fsync string\n    \toverride [drivers:message_store:badger] fsync (always|interval|never)",
		"-debug\n    \tlog at debug level", "[transport] max_queues_per_page (default \"20\")"} {
		if !strings.Contains(help.String(), want) {
			t.Errorf("--help lacks %q:\n%s", want, help.String())
		}
	}
	var out bytes.Buffer
	if code := run([]string{"--config-file", os.DevNull, "--partitions", "0", "--fsync", "sometimes"}, &out); code != exitConfig {
		t.Fatalf("bad flags: exit %d\n%s", code, out.String())
	}
	for _, want := range []string{`command line: [drivers:message_store:badger] partitions = "0": must be at least 1`,
		`command line: [drivers:message_store:badger] fsync = "sometimes"`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// TestRedisURIIsAConfigurationError: a Redis URI the store cannot read
// stops start-up with exit code 2, as before stores had one opener.
func TestRedisURIIsAConfigurationError(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "z.conf")
	os.WriteFile(conf, []byte("[drivers]\nmessage_store = redis\n[drivers:message_store:redis]\nuri = mongodb://h\n"), 0o644)
	var out bytes.Buffer
	if code := run([]string{"--config-file", conf, "--port", "0"}, &out); code != exitConfig || !strings.Contains(out.String(), "unsupported scheme") {
		t.Fatalf("exit %d\n%s", code, out.String())
	}
}
