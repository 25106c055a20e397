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
	// In order: each step finds the database the previous one left.
	for _, step := range []struct {
		name, command string
		want          []string // in the output
	}{
		{"current on an empty database", "current", []string{"schema version 0"}},
		{"upgrade", "upgrade", []string{"applied 1 migration(s) [1]"}},
		{"second upgrade", "upgrade", []string{"applied 0 migration(s)", "schema version 1"}},
	} {
		out.Reset()
		code := run([]string{"--config-file", "/dev/null", "--uri", uri, step.command}, &out, &errOut)
		if code != 0 || !containsAll(out.String(), step.want) {
			t.Fatalf("%s: %d %q %q", step.name, code, out.String(), errOut.String())
		}
	}
	if code := run([]string{"--config-file", "/dev/null", "bogus"}, &out, &errOut); code != 2 {
		t.Fatalf("unknown command exit %d, want 2", code)
	}
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
