package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
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

// TestWebSocketOnly: with [drivers] transport = websocket the process
// serves no HTTP API; its WebSocket port answers upgrades and /metrics.
func TestWebSocketOnly(t *testing.T) {
	wsPort := freePort(t)
	conf := writeTemp(t, t.TempDir(), "zaqar.conf", fmt.Sprintf(
		"[drivers]\ntransport = websocket\n[drivers:transport:websocket]\nport = %d\n", wsPort))
	cmd := exec.Command(serverBin, "--config-file", conf, "--data-dir", t.TempDir(), "--port", fmt.Sprint(freePort(t)))
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	base := fmt.Sprintf("http://127.0.0.1:%d", wsPort)
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := client.Get(base + "/metrics")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("websocket port did not serve /metrics: %v\n%s", err, log.String())
		}
		time.Sleep(20 * time.Millisecond) // polling an external process: no signal to wait on
	}
	ws, _, err := websocket.DefaultDialer.Dial(fmt.Sprintf("ws://127.0.0.1:%d/", wsPort), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"action":"queue_create","headers":{"Client-ID":"3a1d6a3e-0000-4000-8000-000000000001","X-Project-ID":"p"},"body":{"queue_name":"only"}}`)); err != nil {
		t.Fatal(err)
	}
	_, answer, err := ws.ReadMessage()
	if err != nil || !strings.Contains(string(answer), `"status":201`) {
		t.Fatalf("queue_create: %s %v", answer, err)
	}
	resp, err := client.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(b), "zaqar_websocket_connections 1") ||
		!strings.Contains(string(b), `zaqar_websocket_frames_in_total{action="queue_create",status="201"} 1`) {
		t.Fatalf("metrics lack the websocket series:\n%s", b)
	}
}
