package testenv

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
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// KeystoneAdminPassword is the password of the bootstrap "admin" user.
const KeystoneAdminPassword = "zaqar-test-admin"

// Keystone is a real OpenStack Keystone (Debian's package) serving its public
// WSGI application under uwsgi on a loopback port of its own, with a SQLite
// database and fernet keys in a temporary directory. One test owns it; Stop
// and Start simulate an outage on the same port.
type Keystone struct {
	t    testing.TB
	Port int
	dir  string
	cmd  *exec.Cmd
	// exited is closed when cmd has been waited for (by the goroutine
	// Start runs; Stop waits on it rather than calling Wait).
	exited chan struct{}

	mu         sync.Mutex
	adminToken string
}

// StartKeystone installs Keystone if it is missing (Debian's package, through
// scripts/install-test-peers.sh, as root), starts an instance for this test
// and stops it when the test ends. Without Keystone the test is skipped, or
// fails under CI=true.
func StartKeystone(t testing.TB) *Keystone {
	t.Helper()
	if err := installPeer("keystone"); err != nil {
		Unavailable(t, "Keystone is not installed and could not be installed: %v", err)
	}
	template, err := keystoneTemplate()
	if err != nil {
		t.Fatalf("keystone: %v", err)
	}
	k := &Keystone{t: t, Port: FreePort(t), dir: filepath.Join(t.TempDir(), "keystone")}
	if err := os.CopyFS(k.dir, os.DirFS(template)); err != nil {
		t.Fatalf("keystone: copy template: %v", err)
	}
	if err := writeKeystoneConf(k.dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Stop)
	k.Start()
	return k
}

// URL is the identity endpoint, e.g. http://127.0.0.1:35357/v3.
func (k *Keystone) URL() string { return "http://127.0.0.1:" + strconv.Itoa(k.Port) + "/v3" }

// Start (re)starts uwsgi and waits until Keystone answers.
func (k *Keystone) Start() {
	k.t.Helper()
	log, err := os.OpenFile(filepath.Join(k.dir, "uwsgi.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		k.t.Fatal(err)
	}
	defer log.Close()
	cmd := exec.Command("uwsgi", "--plugin", "python3", "--http-socket", "127.0.0.1:"+strconv.Itoa(k.Port),
		"--wsgi-file", "/usr/bin/keystone-wsgi-public", "--master", "--processes", "1", "--threads", "1",
		"--enable-threads", "--lazy-apps", "--die-on-term", "--buffer-size", "65535", "--need-app",
		// uwsgi's http-socket serves one request per connection without
		// saying so; clients must not try to reuse it.
		"--add-header", "Connection: close")
	cmd.Dir = k.dir
	cmd.Env = append(os.Environ(), "OS_KEYSTONE_CONFIG_DIR="+k.dir, "OS_KEYSTONE_CONFIG_FILES=keystone.conf")
	cmd.Stdout, cmd.Stderr = log, log
	// uwsgi forks workers: a process group of their own lets Stop kill all of them.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		k.t.Fatalf("keystone: start uwsgi: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	k.cmd, k.exited = cmd, exited
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			k.t.Fatalf("keystone: uwsgi exited at start; log:\n%s", k.logTail())
		default:
		}
		if resp, err := http.Get(k.URL()); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond) // polling an external process
	}
	k.t.Fatalf("keystone: no answer on %s within 60 s; log:\n%s", k.URL(), k.logTail())
}

// Stop kills uwsgi and its workers; the port is refused until Start.
func (k *Keystone) Stop() {
	if k.cmd == nil || k.cmd.Process == nil {
		return
	}
	pgid := k.cmd.Process.Pid
	syscall.Kill(-pgid, syscall.SIGKILL)
	<-k.exited
	// The worker holds the listening socket too; it dies with the group,
	// and Stop returns once the port refuses connections.
	addr := "127.0.0.1:" + strconv.Itoa(k.Port)
	for i := 0; i < 200; i++ {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err != nil {
			break
		}
		c.Close()
		time.Sleep(10 * time.Millisecond) // waiting for the kernel to close it
	}
	k.cmd = nil
}

func (k *Keystone) logTail() string {
	b, _ := os.ReadFile(filepath.Join(k.dir, "uwsgi.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// Token issues a project-scoped token for a user of the Default domain.
func (k *Keystone) Token(user, password, project string) string {
	k.t.Helper()
	scope := map[string]any{"project": map[string]any{"name": project, "domain": map[string]string{"id": "default"}}}
	tok, err := k.issue(user, password, scope)
	if err != nil {
		k.t.Fatalf("keystone: token for %s in %s: %v", user, project, err)
	}
	return tok
}

// UnscopedToken issues a token scoped to no project.
func (k *Keystone) UnscopedToken(user, password string) string {
	k.t.Helper()
	tok, err := k.issue(user, password, nil)
	if err != nil {
		k.t.Fatalf("keystone: unscoped token for %s: %v", user, err)
	}
	return tok
}

// AppCredentialToken issues a token with an application credential.
func (k *Keystone) AppCredentialToken(id, secret string) string {
	k.t.Helper()
	tok, err := k.post(map[string]any{"identity": map[string]any{"methods": []string{"application_credential"},
		"application_credential": map[string]string{"id": id, "secret": secret}}})
	if err != nil {
		k.t.Fatalf("keystone: application credential token: %v", err)
	}
	return tok
}

func (k *Keystone) issue(user, password string, scope map[string]any) (string, error) {
	auth := map[string]any{"identity": map[string]any{"methods": []string{"password"},
		"password": map[string]any{"user": map[string]any{"name": user, "domain": map[string]string{"id": "default"}, "password": password}}}}
	if scope != nil {
		auth["scope"] = scope
	}
	return k.post(auth)
}

func (k *Keystone) post(auth map[string]any) (string, error) {
	body, _ := json.Marshal(map[string]any{"auth": auth})
	resp, err := http.Post(k.URL()+"/auth/tokens", "application/json", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(resp.Body)
		return "", fmt.Errorf("%s: %s", resp.Status, b)
	}
	return resp.Header.Get("X-Subject-Token"), nil
}

func (k *Keystone) admin() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.adminToken == "" {
		k.adminToken = k.Token("admin", KeystoneAdminPassword, "admin")
	}
	return k.adminToken
}

// call sends an admin request and decodes the answer into out (may be nil).
func (k *Keystone) call(method, path string, in, out any, headers ...string) {
	k.t.Helper()
	k.Call(k.admin(), method, path, in, out, headers...)
}

// Call sends a request to Keystone with token and decodes the answer into
// out (may be nil); headers are name, value pairs. A status of 300 or more
// fails the test.
func (k *Keystone) Call(token, method, path string, in, out any, headers ...string) {
	k.t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, k.URL()+path, body)
	req.Header.Set("X-Auth-Token", token)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		k.t.Fatalf("keystone: %s %s: %v; log:\n%s", method, path, err, k.logTail())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		k.t.Fatalf("keystone: %s %s: %s: %s", method, path, resp.Status, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			k.t.Fatalf("keystone: %s %s: %v", method, path, err)
		}
	}
}

// lookup returns the id of the named project, user or role ("" if none).
func (k *Keystone) lookup(kind, name string) string {
	var out map[string]json.RawMessage
	k.call("GET", "/"+kind+"?name="+name, nil, &out)
	var items []struct{ ID string }
	json.Unmarshal(out[kind], &items)
	if len(items) > 0 {
		return items[0].ID
	}
	return ""
}

// Project returns the id of a project of the Default domain, created if needed.
func (k *Keystone) Project(name string) string {
	k.t.Helper()
	if id := k.lookup("projects", name); id != "" {
		return id
	}
	var out struct{ Project struct{ ID string } }
	k.call("POST", "/projects", map[string]any{"project": map[string]any{"name": name, "domain_id": "default"}}, &out)
	return out.Project.ID
}

// Role returns the id of a role, created if needed.
func (k *Keystone) Role(name string) string {
	k.t.Helper()
	if id := k.lookup("roles", name); id != "" {
		return id
	}
	var out struct{ Role struct{ ID string } }
	k.call("POST", "/roles", map[string]any{"role": map[string]any{"name": name}}, &out)
	return out.Role.ID
}

// User creates a user of the Default domain holding roles on project and
// returns its id.
func (k *Keystone) User(name, password, project string, roles ...string) string {
	k.t.Helper()
	id := k.lookup("users", name)
	if id == "" {
		var out struct{ User struct{ ID string } }
		k.call("POST", "/users", map[string]any{"user": map[string]any{"name": name, "password": password, "domain_id": "default"}}, &out)
		id = out.User.ID
	}
	pid := k.Project(project)
	for _, r := range roles {
		k.call("PUT", "/projects/"+pid+"/users/"+id+"/roles/"+k.Role(r), nil, nil)
	}
	return id
}

// Revoke revokes a token; Keystone refuses it from then on.
func (k *Keystone) Revoke(token string) {
	k.t.Helper()
	k.call("DELETE", "/auth/tokens", nil, nil, "X-Subject-Token", token)
}

var (
	templateOnce sync.Once
	templateDir  string
	templateErr  error
)

// keystoneTemplate returns a directory holding a bootstrapped database and
// key repositories, built once per machine (keystone-manage takes ~10 s) and
// copied by every instance.
func keystoneTemplate() (string, error) {
	templateOnce.Do(func() { templateDir, templateErr = buildKeystoneTemplate() })
	return templateDir, templateErr
}

func buildKeystoneTemplate() (string, error) {
	version, err := exec.Command("dpkg-query", "-W", "-f=${Version}", "python3-keystone").Output()
	if err != nil {
		return "", fmt.Errorf("keystone version: %w", err)
	}
	safe := strings.NewReplacer(":", "_", "~", "_", "+", "_").Replace(string(version))
	dir := filepath.Join(os.TempDir(), "zaqar-test-keystone-"+safe)
	lock, err := os.OpenFile(dir+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	// Test binaries of several packages may build it at once.
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", err
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if _, err := os.Stat(filepath.Join(dir, "ready")); err == nil {
		return dir, nil
	}
	os.RemoveAll(dir)
	work := dir + ".tmp"
	os.RemoveAll(work)
	if err := os.MkdirAll(work, 0o755); err != nil {
		return "", err
	}
	if err := writeKeystoneConf(work); err != nil {
		return "", err
	}
	conf := filepath.Join(work, "keystone.conf")
	steps := [][]string{
		{"db_sync"},
		{"fernet_setup", "--keystone-user", "root", "--keystone-group", "root"},
		{"credential_setup", "--keystone-user", "root", "--keystone-group", "root"},
		{"bootstrap", "--bootstrap-password", KeystoneAdminPassword, "--bootstrap-region-id", "RegionOne",
			"--bootstrap-public-url", "http://127.0.0.1:5000/v3/"},
	}
	for _, s := range steps {
		cmd := exec.Command("keystone-manage", append([]string{"--config-file", conf}, s...)...)
		cmd.Dir = work
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("keystone-manage %s: %v\n%s", s[0], err, out)
		}
	}
	// In SQLite's default journal mode a read transaction left open by one
	// of Keystone's pooled connections blocks every write ("database is
	// locked"); with write-ahead logging readers never block the writer.
	wal := exec.Command("/usr/bin/python3", "-c",
		"import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print(c.execute('PRAGMA journal_mode=WAL').fetchone()[0]); c.close()",
		filepath.Join(work, "keystone.db"))
	if out, err := wal.CombinedOutput(); err != nil || !strings.Contains(string(out), "wal") {
		return "", fmt.Errorf("keystone.db journal mode: %v %s", err, out)
	}
	if err := os.WriteFile(filepath.Join(work, "ready"), nil, 0o644); err != nil {
		return "", err
	}
	return dir, os.Rename(work, dir)
}

// writeKeystoneConf writes a keystone.conf whose paths point into dir.
func writeKeystoneConf(dir string) error {
	conf := fmt.Sprintf(`[DEFAULT]
use_stderr = true
[database]
connection = sqlite:///%[1]s/keystone.db
[fernet_tokens]
key_repository = %[1]s/fernet-keys
[fernet_receipts]
key_repository = %[1]s/fernet-keys
[credential]
key_repository = %[1]s/credential-keys
[token]
provider = fernet
expiration = 3600
[cache]
# Without its cache Keystone makes ~500 SQL queries per token validation
# (about a second each on a busy 2-core machine).
enabled = true
backend = dogpile.cache.memory
[identity]
# Test users only: cheap password hashing keeps token issue fast.
password_hash_rounds = 4
`, dir)
	return os.WriteFile(filepath.Join(dir, "keystone.conf"), []byte(conf), 0o644)
}

// installPeer runs scripts/install-test-peers.sh for a peer whose packages
// are missing (it does nothing when they are installed).
func installPeer(peer string) error {
	root, err := repoRoot()
	if err != nil {
		return err
	}
	out, err := exec.Command(filepath.Join(root, "scripts", "install-test-peers.sh"), peer).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// repoRoot is the directory holding go.mod, found upwards from the test's
// working directory.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("go.mod not found above the working directory")
		}
		dir = parent
	}
}
