package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// startWithWebSocket runs the server with both transports; it returns the
// server and its WebSocket URL.
func startWithWebSocket(t *testing.T) (*proc, string) {
	t.Helper()
	wsPort := freePort(t)
	conf := writeTemp(t, t.TempDir(), "zaqar.conf", fmt.Sprintf(
		"[drivers]\ntransport = wsgi, websocket\n[drivers:transport:websocket]\nport = %d\n", wsPort))
	p := start(t, freePort(t), t.TempDir(), "--config-file", conf)
	return p, fmt.Sprintf("ws://127.0.0.1:%d/", wsPort)
}

// TestZaqarclientWebSocket: python-zaqarclient's own WebSocket transport
// creates a queue, posts, lists, claims and deletes against the server.
func TestZaqarclientWebSocket(t *testing.T) {
	needZaqarclient(t)
	p, wsURL := startWithWebSocket(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, debianPython, "testdata/zaqarclient_ws.py", wsURL, "pyproject")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("zaqarclient script: %v\n%s\nserver log:\n%s", err, stderr.String(), p.log)
	}
	var report map[string]json.RawMessage
	if err := json.Unmarshal(stdout.Bytes(), &report); err != nil {
		t.Fatalf("report %q: %v", stdout.String(), err)
	}
	for key, want := range map[string]string{
		"create":         `[201, "Queue pyq created."]`,
		"post":           `[201, {"message_ids": [`,
		"list":           `"body": {"event": "two"}`,
		"claim":          `[201, {"claim_id": "`,
		"delete_claimed": `[204, {}]`,
		"stats":          `"total": 1`,
		"missing":        `"ResourceNotFound: `,
		"delete":         `[204, "Queue pyq removed."]`,
	} {
		if got := string(report[key]); !strings.Contains(got, want) {
			t.Errorf("%s: %s, want it to contain %s", key, got, want)
		}
	}
	// What the Python client did is visible over HTTP: the queue is gone.
	if code, body := p.request("GET", "/v2/queues/pyq/stats", "", "X-Project-ID: pyproject"); code != 200 || !strings.Contains(string(body), `"total":0`) {
		t.Errorf("stats over HTTP after the python run: %d %s", code, body)
	}
}
