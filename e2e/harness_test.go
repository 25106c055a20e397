package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

var serverBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "zaqar-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	serverBin = filepath.Join(dir, "zaqar-server")
	build := exec.Command("go", "build", "-o", serverBin, "github.com/zaqar-go/zaqar/cmd/zaqar-server")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build zaqar-server:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running zaqar-server.
type proc struct {
	t    *testing.T
	cmd  *exec.Cmd
	base string
	log  *bytes.Buffer
	done chan error
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// start runs the server on port with data dir and waits until /v2/ping
// answers (bounded by a deadline).
func start(t *testing.T, port int, dataDir string, extra ...string) *proc {
	t.Helper()
	args := append([]string{"--port", fmt.Sprint(port), "--data-dir", dataDir, "--config-file", os.DevNull}, extra...)
	cmd := exec.Command(serverBin, args...)
	p := &proc{t: t, cmd: cmd, base: fmt.Sprintf("http://127.0.0.1:%d", port), log: &bytes.Buffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() { p.kill() })
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-p.done:
			t.Fatalf("server exited during start-up: %v\n%s", err, p.log)
		default:
		}
		if code, _ := p.request("GET", "/v2/ping", ""); code == 204 {
			return p
		}
		time.Sleep(20 * time.Millisecond) // polling an external process: no signal to wait on
	}
	t.Fatalf("server did not answer /v2/ping within 20s\n%s", p.log)
	return nil
}

func (p *proc) kill() {
	if p.cmd.ProcessState == nil {
		p.cmd.Process.Signal(syscall.SIGKILL)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
		}
	}
}

var client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

// request sends a Zaqar request and returns status and body (0 on
// transport errors, e.g. when the server was killed mid-request).
func (p *proc) request(method, path, body string, headers ...string) (int, []byte) {
	req, err := http.NewRequest(method, p.base+path, strings.NewReader(body))
	if err != nil {
		return 0, nil
	}
	req.Header.Set("Client-ID", "3a1d6a3e-0000-4000-8000-000000000001")
	req.Header.Set("X-Project-ID", "e2e")
	req.Header.Set("Content-Type", "application/json")
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Set(k, strings.TrimSpace(v))
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// allMessages pages through a queue with echo and include_claimed,
// returning id -> claim id ("" when unclaimed). Every message must have
// ttl wantTTL (when non-zero) and an age that is not negative.
func (p *proc) allMessages(t *testing.T, queue string, wantTTL int) (map[string]string, int) {
	t.Helper()
	out := map[string]string{}
	listed := 0
	path := "/v2/queues/" + queue + "/messages?echo=true&include_claimed=true&limit=20"
	for pages := 0; pages < 100000; pages++ {
		code, body := p.request("GET", path, "")
		if code != 200 {
			t.Fatalf("list: %d %s", code, body)
		}
		var doc struct {
			Messages []struct {
				ID, Href string
				TTL, Age int
			}
			Links []struct{ Href string }
		}
		if err := json.Unmarshal(body, &doc); err != nil {
			t.Fatal(err)
		}
		if len(doc.Messages) == 0 {
			return out, listed
		}
		for _, m := range doc.Messages {
			listed++
			if (wantTTL != 0 && m.TTL != wantTTL) || m.Age < 0 || m.Age > 600 {
				t.Fatalf("message %s has ttl %d age %d after recovery, want ttl %d", m.ID, m.TTL, m.Age, wantTTL)
			}
			claim := ""
			if i := strings.Index(m.Href, "claim_id="); i >= 0 {
				claim = m.Href[i+len("claim_id="):]
			}
			out[m.ID] = claim
		}
		path = doc.Links[0].Href
	}
	t.Fatal("listing did not end")
	return nil, 0
}
