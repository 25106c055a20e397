package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

func TestUpgradeThenCurrent(t *testing.T) {
	uri := "sqlite:///" + filepath.Join(t.TempDir(), "c.db")
	var out, errOut bytes.Buffer
	if code := run([]string{"--config-file", "/dev/null", "--uri", uri, "current"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "schema version 0") {
		t.Fatalf("current on an empty database: %d %q %q", code, out.String(), errOut.String())
	}
	out.Reset()
	if code := run([]string{"--config-file", "/dev/null", "--uri", uri, "upgrade"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "applied 1 migration(s) [1]") {
		t.Fatalf("upgrade: %d %q %q", code, out.String(), errOut.String())
	}
	out.Reset()
	if code := run([]string{"--config-file", "/dev/null", "--uri", uri, "upgrade"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "applied 0 migration(s)") || !strings.Contains(out.String(), "schema version 1") {
		t.Fatalf("second upgrade: %d %q %q", code, out.String(), errOut.String())
	}
	if code := run([]string{"--config-file", "/dev/null", "bogus"}, &out, &errOut); code != 2 {
		t.Fatalf("unknown command exit %d, want 2", code)
	}
}
