package e2e

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// waitClient outlives the longest wait (the harness's client gives up
// after 10 s).
var waitClient = &http.Client{Timeout: 40 * time.Second}

type polled struct {
	code int
	body string
	err  error
	at   time.Time
}

// poll sends a long-poll request from a goroutine of its own.
func (p *proc) poll(method, path, body string, headers ...string) <-chan polled {
	out := make(chan polled, 1)
	go func() {
		req, _ := http.NewRequest(method, p.base+path, strings.NewReader(body))
		req.Header.Set("Client-ID", "3a1d6a3e-0000-4000-8000-000000000001")
		req.Header.Set("X-Project-ID", "e2e")
		req.Header.Set("Content-Type", "application/json")
		for _, h := range headers {
			k, v, _ := strings.Cut(h, ":")
			req.Header.Set(k, strings.TrimSpace(v))
		}
		resp, err := waitClient.Do(req)
		if err != nil {
			out <- polled{err: err, at: time.Now()}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		out <- polled{code: resp.StatusCode, body: string(b), at: time.Now()}
	}()
	return out
}

// untilWaiting polls the server's metrics (an external process: no
// signal to wait on) until n long-poll requests wait.
func (p *proc) untilWaiting(t *testing.T, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		resp, err := http.Get(p.base + "/metrics")
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "zaqar_http_waiting_requests "); ok {
				if got, _ := strconv.ParseFloat(v, 64); int(got) == n {
					return
				}
			}
		}
	}
	t.Fatalf("%d waiting requests not reached\n%s", n, p.log)
}

func got(t *testing.T, ch <-chan polled, within time.Duration) polled {
	t.Helper()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("long-poll request failed: %v", r.err)
		}
		return r
	case <-time.After(within):
		t.Fatalf("no answer within %v", within)
	}
	return polled{}
}

// TestLongPoll: through the real binary, with its HTTP timeouts, a claim
// waits the full 20 s and answers 204; waiting claims and listings are
// answered at once by a post; a waiter does not hold up SIGTERM.
func TestLongPoll(t *testing.T) {
	dir := t.TempDir()
	p := start(t, freePort(t), filepath.Join(dir, "a"))
	began := time.Now()
	idle := p.poll("POST", "/v2/queues/idle/claims?wait=20", "")
	claim := p.poll("POST", "/v2/queues/work/claims?wait=20", `{"ttl":60}`)
	list := p.poll("GET", "/v2/queues/feed/messages?wait=20", "", "Client-ID: 3a1d6a3e-0000-4000-8000-000000000002")
	p.untilWaiting(t, 3)
	posted := time.Now()
	for _, q := range []string{"work", "feed"} {
		if code, body := p.request("POST", "/v2/queues/"+q+"/messages", `{"messages":[{"body":"now"}]}`); code != 201 {
			t.Fatalf("post: %d %s", code, body)
		}
	}
	for name, ch := range map[string]<-chan polled{"claim": claim, "listing": list} {
		r := got(t, ch, 5*time.Second)
		if want := map[string]int{"claim": 201, "listing": 200}[name]; r.code != want || !strings.Contains(r.body, `"now"`) {
			t.Fatalf("%s: %d %s", name, r.code, r.body)
		}
		if d := r.at.Sub(posted); d > 2*time.Second {
			t.Fatalf("%s answered %v after the post", name, d)
		}
	}
	r := got(t, idle, 30*time.Second)
	if d := r.at.Sub(began); r.code != 204 || d < 20*time.Second || d > 23*time.Second {
		t.Fatalf("a 20 s wait: %d %q after %v", r.code, r.body, d)
	}
	if code, _ := p.request("POST", "/v2/queues/idle/claims", ""); code != 204 {
		t.Fatalf("a claim after the long wait: %d", code)
	}

	// SIGTERM with a waiter: it answers, and the server exits at once.
	waiter := p.poll("POST", "/v2/queues/idle/claims?wait=20", "")
	p.untilWaiting(t, 1)
	stopped := time.Now()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, p.log)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no exit within 10 s of SIGTERM with a waiter\n%s", p.log)
	}
	t.Logf("exit %v after SIGTERM with a waiter", time.Since(stopped))
	if d := time.Since(stopped); d > 5*time.Second {
		t.Fatalf("shutdown took %v with a waiter", d)
	}
	if r := got(t, waiter, 5*time.Second); r.code != 204 {
		t.Fatalf("the waiter at shutdown: %d %s", r.code, r.body)
	}
}
