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
		{"upgrade", "upgrade", []string{"applied 2 migration(s) [1 2]"}},
		{"second upgrade", "upgrade", []string{"applied 0 migration(s)", "schema version 2"}},
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

// The original's subcommands: moving the schema down and up by revision
// or delta, reporting it, and refusing Alembic's bookkeeping commands.
func TestOriginalsSubcommands(t *testing.T) {
	uri := "sqlite:///" + filepath.Join(t.TempDir(), "c.db")
	var out, errOut bytes.Buffer
	for _, step := range []struct {
		args []string
		code int
		want []string
	}{
		{[]string{"history"}, 0, []string{"1 pending 00001_catalogue.sql", "2 pending 00002_topic_names.sql"}},
		{[]string{"upgrade", "--delta", "1"}, 0, []string{"applied 1 migration(s) [1]", "schema version 1"}},
		{[]string{"history"}, 0, []string{"1 applied 00001_catalogue.sql"}},
		{[]string{"downgrade", "base"}, 0, []string{"reverted 1 migration(s) [1]", "schema version 0"}},
		{[]string{"upgrade", "1", "--sql"}, 2, nil}, // flags come before the revision
		{[]string{"upgrade", "--sql", "1"}, 0, []string{"applied 1 migration(s) [1]"}},
		{[]string{"downgrade", "--delta", "1"}, 0, []string{"reverted 1 migration(s) [1]"}},
		{[]string{"upgrade", "head"}, 0, []string{"schema version 2"}},
		{[]string{"version"}, 0, []string{"schema version 2"}},
		{[]string{"branches"}, 0, nil},
		{[]string{"check_migration"}, 0, nil},
		{[]string{"downgrade"}, 2, nil},
		{[]string{"upgrade", "x"}, 2, nil},
		{[]string{"stamp", "head"}, 2, nil},
		{[]string{"revision", "-m", "x"}, 2, nil},
	} {
		out.Reset()
		errOut.Reset()
		code := run(append([]string{"--config-file", "/dev/null", "--uri", uri}, step.args...), &out, &errOut)
		if code != step.code || !containsAll(out.String(), step.want) {
			t.Fatalf("%v: exit %d (want %d), out %q, err %q", step.args, code, step.code, out.String(), errOut.String())
		}
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
