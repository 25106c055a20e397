package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"reflect"
	"testing"
	"time"
)

// TestZaqarclientQueueMetadata: python-zaqarclient's queue metadata flow
// gives the answers the original Zaqar 15 gives (recorded from it with
// the same script).
func TestZaqarclientQueueMetadata(t *testing.T) {
	needZaqarclient(t)
	p := start(t, freePort(t), t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, debianPython, "testdata/zaqarclient_metadata.py", p.base, "pymeta")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("zaqarclient script: %v\n%s\nserver log:\n%s", err, stderr.String(), p.log)
	}
	var got map[string]map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("report %q: %v", stdout.String(), err)
	}
	reserved := map[string]any{"_dead_letter_queue": nil, "_dead_letter_queue_messages_ttl": nil,
		"_default_message_delay": 0.0, "_default_message_ttl": 3600.0, "_enable_encrypt_messages": false,
		"_max_claim_count": nil, "_max_messages_post_size": 262144.0}
	with := func(kv map[string]any) map[string]any {
		m := map[string]any{}
		for k, v := range reserved {
			m[k] = v
		}
		for k, v := range kv {
			m[k] = v
		}
		return m
	}
	first, second := with(map[string]any{"color": "blue", "n": 1.0}), with(map[string]any{"n": 2.0})
	for step, want := range map[string]map[string]any{"set": first, "read": first, "replace": second, "reread": second} {
		if !reflect.DeepEqual(got[step], want) {
			t.Errorf("%s: %v, want the original's %v", step, got[step], want)
		}
	}
}
