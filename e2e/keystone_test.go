package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zaqar-go/zaqar/internal/testenv"
)

const (
	ksServicePassword = "zaqar-service-secret"
	ksUserPassword    = "user-secret"
	wwwAuthURI        = "http://identity.e2e.test:5000"
	debianPython      = "/usr/bin/python3" // Debian's, with python3-zaqarclient
)

// authKeystone starts Keystone with a service user ("zaqar"), alice
// (member of project-a) and bob (member of project-b).
func authKeystone(t *testing.T) *testenv.Keystone {
	ks := testenv.StartKeystone(t)
	ks.User("zaqar", ksServicePassword, "service", "service")
	ks.User("alice", ksUserPassword, "project-a", "member")
	ks.User("bob", ksUserPassword, "project-b", "member")
	return ks
}

// startKeystoneServer runs zaqar-server with auth_strategy = keystone, a
// signed-URL key and, when policy is not empty, that policy file. /v2/ping
// needs a token here, so readiness is polled on the open version document.
func startKeystoneServer(t *testing.T, ks *testenv.Keystone, policy string) *proc {
	t.Helper()
	dir := t.TempDir()
	conf := fmt.Sprintf(`[DEFAULT]
auth_strategy = keystone
[keystone_authtoken]
auth_url = %s
username = zaqar
password = %s
project_name = service
user_domain_name = Default
project_domain_name = Default
www_authenticate_uri = %s
token_cache_time = 300
http_connect_timeout = 5
[signed_url]
secret_key = e2e-signed-url-secret
`, ks.URL(), ksServicePassword, wwwAuthURI)
	if policy != "" {
		conf += "[oslo_policy]\npolicy_file = " + writeTemp(t, dir, "policy.yaml", policy) + "\n"
	}
	port := freePort(t)
	cmd := exec.Command(serverBin, "--config-file", writeTemp(t, dir, "zaqar.conf", conf),
		"--port", fmt.Sprint(port), "--data-dir", filepath.Join(dir, "data"))
	p := &proc{t: t, cmd: cmd, base: fmt.Sprintf("http://127.0.0.1:%d", port), log: &bytes.Buffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(p.kill)
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
		select {
		case err := <-p.done:
			t.Fatalf("server exited during start-up: %v\n%s", err, p.log)
		default:
		}
		if code, _, _ := authCall(p, "", "GET", "/", ""); code == http.StatusMultipleChoices {
			return p
		}
		time.Sleep(20 * time.Millisecond) // polling an external process: no signal to wait on
	}
	t.Fatalf("server did not answer / within 20s\n%s", p.log)
	return nil
}

func writeTemp(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// authCall sends a request with token (none when empty) and extra
// "Name: value" headers; it returns status, headers and body (0 on transport
// errors).
func authCall(p *proc, token, method, path, body string, headers ...string) (int, http.Header, []byte) {
	req, err := http.NewRequest(method, p.base+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, nil
	}
	req.Header.Set("Client-ID", "3a1d6a3e-0000-4000-8000-000000000002")
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("X-Auth-Token", token)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Set(k, strings.TrimSpace(v))
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// needZaqarclient checks that Debian's python-zaqarclient imports,
// installing it with scripts/install-test-peers.sh when it does not.
func needZaqarclient(t *testing.T) {
	t.Helper()
	probe := func() error {
		out, err := exec.Command(debianPython, "-c", "import zaqarclient.queues.v2.client, keystoneauth1").CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, strings.TrimSpace(string(out)))
		}
		return nil
	}
	if probe() == nil {
		return
	}
	if out, err := exec.Command("../scripts/install-test-peers.sh", "zaqarclient").CombinedOutput(); err != nil {
		testenv.Unavailable(t, "python3-zaqarclient is missing and could not be installed: %v: %s", err, strings.TrimSpace(string(out)))
	}
	if err := probe(); err != nil {
		testenv.Unavailable(t, "python-zaqarclient does not import with %s after install: %v", debianPython, err)
	}
}

// pyReport is what testdata/zaqarclient_keystone.py prints.
type pyReport struct {
	QueuesBefore []string `json:"queues_before"`
	QueuesAfter  []string `json:"queues_after"`
	Posted       []string
	Listed       []string
	ClaimID      string `json:"claim_id"`
	Claimed      []struct {
		ID      string
		ClaimID string `json:"claim_id"`
	}
	Deleted       string
	StatsClaimed  map[string]any `json:"stats_claimed"`
	StatsReleased map[string]any `json:"stats_released"`
	ListedAfter   []string       `json:"listed_after"`
	Signed        struct {
		Paths, Methods              []string
		Project, Expires, Signature string
	}
	SignedPosted  []string       `json:"signed_posted"`
	SignedListed  []string       `json:"signed_listed"`
	SignedGet     string         `json:"signed_get"`
	SignedRefused map[string]int `json:"signed_refused"`
}

func sameSet(a, b []string) bool {
	a, b = slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b))
	return slices.Equal(a, b)
}

func TestZaqarclientKeystone(t *testing.T) {
	needZaqarclient(t)
	ks := authKeystone(t)
	projectA, projectB := ks.Project("project-a"), ks.Project("project-b")
	p := startKeystoneServer(t, ks, "")
	const queue = "py-keystone"

	arg, _ := json.Marshal(map[string]string{"zaqar": p.base, "auth_url": ks.URL(), "username": "alice",
		"password": ksUserPassword, "project": "project-a", "queue": queue, "other_project": projectB})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, debianPython, "testdata/zaqarclient_keystone.py", string(arg))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("zaqarclient script: %v\n%s", err, stderr.String())
	}
	t.Logf("zaqarclient report: %s", stdout)
	var r pyReport
	if err := json.Unmarshal(stdout, &r); err != nil {
		t.Fatalf("script output %q: %v", stdout, err)
	}

	if !slices.Contains(r.QueuesBefore, queue) || !slices.Contains(r.QueuesBefore, queue+"-tmp") ||
		!slices.Equal(r.QueuesAfter, []string{queue}) {
		t.Errorf("queues before delete %v, after %v; want both, then only %s", r.QueuesBefore, r.QueuesAfter, queue)
	}
	if len(r.Posted) != 5 || !sameSet(r.Listed, r.Posted) {
		t.Errorf("posted %v, listed %v: want the 5 posted ids listed", r.Posted, r.Listed)
	}
	if r.ClaimID == "" || len(r.Claimed) != 2 {
		t.Fatalf("claim %q took %d messages, want an id and 2", r.ClaimID, len(r.Claimed))
	}
	for _, m := range r.Claimed {
		if m.ClaimID != r.ClaimID || !slices.Contains(r.Posted, m.ID) {
			t.Errorf("claimed message %+v: want a posted id under claim %s", m, r.ClaimID)
		}
	}
	for name, got := range map[string]map[string]any{"after claim": r.StatsClaimed, "after release": r.StatsReleased} {
		want := map[string]float64{"claimed": 1, "free": 3, "total": 4}
		if name == "after release" {
			want = map[string]float64{"claimed": 0, "free": 4, "total": 4}
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("stats %s: %s = %v, want %v (%v)", name, k, got[k], v, got)
			}
		}
	}
	if r.Deleted != r.Claimed[0].ID || len(r.ListedAfter) != 4 || slices.Contains(r.ListedAfter, r.Deleted) {
		t.Errorf("after deleting %s with its claim, listed %v: want the 4 others", r.Deleted, r.ListedAfter)
	}

	// Pre-signed URL, granted by alice and used without credentials.
	s := r.Signed
	if s.Project != projectA || !slices.Equal(s.Paths, []string{"/v2/queues/" + queue + "/messages"}) ||
		!slices.Equal(s.Methods, []string{"GET", "POST"}) || s.Signature == "" || s.Expires == "" {
		t.Errorf("signed URL %+v: want project %s, messages path, GET and POST", s, projectA)
	}
	if len(r.SignedPosted) != 1 || !sameSet(r.SignedListed, append(slices.Clone(r.ListedAfter), r.SignedPosted...)) ||
		r.SignedGet != r.SignedPosted[0] {
		t.Errorf("signed client posted %v, listed %v, got %q: want the 5 messages of alice's queue", r.SignedPosted, r.SignedListed, r.SignedGet)
	}
	for _, what := range []string{"claim", "delete_message", "delete_queue", "stats", "forged_signature", "other_project", "wider_methods"} {
		if code, ok := r.SignedRefused[what]; !ok || code != http.StatusNotFound {
			t.Errorf("signed client %s: status %d (0 = accepted), want 404", what, code)
		}
	}

	// Isolation through the binary: bob, even naming alice's project in
	// X-Project-ID, sees nothing of her queue, and his delete is his own.
	alice, bob := ks.Token("alice", ksUserPassword, "project-a"), ks.Token("bob", ksUserPassword, "project-b")
	spoof := "X-Project-ID: " + projectA
	if code, _, body := authCall(p, bob, "DELETE", "/v2/queues/"+queue, "", spoof); code != http.StatusNoContent {
		t.Errorf("bob DELETE queue: %d %s", code, body)
	}
	for _, c := range []struct {
		who, token string
		queues     int // alice's queue listed (0 or 1)
		messages   int
	}{{"alice", alice, 1, 5}, {"bob", bob, 0, 0}} {
		code, _, body := authCall(p, c.token, "GET", "/v2/queues", "", spoof)
		var ql struct{ Queues []struct{ Name string } }
		if err := json.Unmarshal(body, &ql); code != http.StatusOK || err != nil {
			t.Fatalf("%s GET /v2/queues: %d %s", c.who, code, body)
		}
		n := 0
		for _, q := range ql.Queues {
			if q.Name == queue {
				n++
			}
		}
		code, _, body = authCall(p, c.token, "GET", "/v2/queues/"+queue+"/messages?echo=true&include_claimed=true", "", spoof)
		var ml struct{ Messages []json.RawMessage }
		if code != http.StatusOK || json.Unmarshal(body, &ml) != nil || n != c.queues || len(ml.Messages) != c.messages {
			t.Errorf("%s sees queue %d times and %d messages (%d %s); want %d and %d", c.who, n, len(ml.Messages), code, body, c.queues, c.messages)
		}
	}

	// Without a valid token: 401, where to get one, Zaqar's error body.
	for _, token := range []string{"", "not-a-token"} {
		code, h, body := authCall(p, token, "GET", "/v2/queues", "", spoof)
		var e struct{ Title, Description string }
		if code != http.StatusUnauthorized || h.Get("WWW-Authenticate") != `Keystone uri="`+wwwAuthURI+`"` ||
			json.Unmarshal(body, &e) != nil || e.Title == "" || e.Description == "" {
			t.Errorf("token %q: %d, WWW-Authenticate %q, body %s; want 401, Keystone uri=%q, {title, description}",
				token, code, h.Get("WWW-Authenticate"), body, wwwAuthURI)
		}
	}
	p.kill()
	if log := p.log.String(); strings.Contains(log, "authentication is OFF") || !strings.Contains(log, "authentication: keystone") {
		t.Errorf("keystone start-up log must say keystone, not OFF:\n%s", log)
	}
}

func TestKeystonePolicyFile(t *testing.T) {
	ks := authKeystone(t)
	ks.User("carol", ksUserPassword, "project-a", "reader")
	ks.User("admin", testenv.KeystoneAdminPassword, "project-a", "admin")
	p := startKeystoneServer(t, ks, "\"messages:delete\": \"role:admin\"\n\"queues:create\": \"role:member\"\n")
	alice := ks.Token("alice", ksUserPassword, "project-a")
	carol := ks.Token("carol", ksUserPassword, "project-a")
	admin := ks.Token("admin", testenv.KeystoneAdminPassword, "project-a")

	if code, _, body := authCall(p, alice, "PUT", "/v2/queues/pq", ""); code != http.StatusCreated {
		t.Fatalf("alice (member) PUT queue: %d %s; want 201", code, body)
	}
	code, _, body := authCall(p, alice, "POST", "/v2/queues/pq/messages", `{"messages":[{"body":1,"ttl":300}]}`)
	var posted struct{ Resources []string }
	if json.Unmarshal(body, &posted); code != http.StatusCreated || len(posted.Resources) != 1 {
		t.Fatalf("alice POST: %d %s", code, body)
	}
	msg := posted.Resources[0][strings.Index(posted.Resources[0], "/v2/"):]
	for _, step := range []struct {
		who, token, method, path string
		want                     int
		title                    string
	}{
		{"carol (reader)", carol, "PUT", "/v2/queues/pq-reader", 403, "Not authorized"},
		{"carol (reader)", carol, "GET", msg, 200, ""}, // messages:get is not guarded
		{"alice (member)", alice, "DELETE", msg, 403, "Not authorized"},
		{"alice (member)", alice, "GET", msg, 200, ""},
		{"admin", admin, "DELETE", msg, 204, ""},
		{"alice (member)", alice, "GET", msg, 404, ""},
	} {
		code, _, body := authCall(p, step.token, step.method, step.path, "")
		var e struct{ Title string }
		json.Unmarshal(body, &e)
		if code != step.want || e.Title != step.title && step.title != "" {
			t.Errorf("%s %s %s: %d %s; want %d %s", step.who, step.method, step.path, code, body, step.want, step.title)
		}
	}
}

func TestServerRefusesBadPolicyAndWarnsWithoutAuth(t *testing.T) {
	for _, c := range []struct {
		name, policy string
		line, rule   string // file:line and quoted rule name the message must hold
	}{
		{"rule syntax", "\"queues:get_all\": \"\"\n\"queues:get\": \"role:admin and\"\n", ":2:", "queues:get"},
		{"yaml syntax", "\"queues:get_all\": \"\"\n\"queues:get\": \"role:admin\"\n\"queues:delete\": [role:admin\n", ":3:", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			policy := writeTemp(t, dir, "policy.yaml", c.policy)
			conf := writeTemp(t, dir, "zaqar.conf", "[oslo_policy]\npolicy_file = "+policy+"\n")
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, serverBin, "--config-file", conf, "--port", fmt.Sprint(freePort(t)),
				"--data-dir", filepath.Join(dir, "data")).CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 2 {
				t.Fatalf("server with a bad policy: %v (want exit status 2)\n%s", err, out)
			}
			if !strings.Contains(string(out), policy+c.line) || !(strings.Contains(string(out), c.rule+`"`) || strings.Contains(string(out), c.rule+`\"`)) {
				t.Errorf("output does not name %s%s and rule %s:\n%s", policy, c.line, c.rule, out)
			}
		})
	}
	t.Run("no auth warns", func(t *testing.T) {
		p := start(t, freePort(t), t.TempDir())
		p.kill() // the log is complete once the process is gone
		if !strings.Contains(p.log.String(), "authentication is OFF") {
			t.Errorf("start-up without auth_strategy logs no warning:\n%s", p.log)
		}
	})
}
