package testenv

import (
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// RedisServer is a redis-server owned by one test, on its own port and
// directory, so a test may stop and start it without touching the
// machine's shared Redis.
type RedisServer struct {
	t    testing.TB
	Port int
	dir  string
	cmd  *exec.Cmd
}

// StartRedis starts a private redis-server (append-only file on, so data
// survives Stop/Start as with a persistent production Redis); it is killed
// when the test ends.
func StartRedis(t testing.TB) *RedisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		Unavailable(t, "redis-server not installed")
	}
	r := &RedisServer{t: t, Port: FreePort(t), dir: t.TempDir()}
	r.Start()
	t.Cleanup(r.Stop)
	return r
}

// URI is the server's redis:// address.
func (r *RedisServer) URI() string { return "redis://127.0.0.1:" + strconv.Itoa(r.Port) }

// Start (re)starts the server and waits until it accepts connections.
func (r *RedisServer) Start() {
	r.t.Helper()
	r.cmd = exec.Command("redis-server", "--port", strconv.Itoa(r.Port), "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "yes", "--appendfsync", "always", "--dir", r.dir)
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(r.Port), 200*time.Millisecond); err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond) // polling an external process
	}
	r.t.Fatalf("redis-server on port %d did not start", r.Port)
}

// Stop kills the server (as a crash would).
func (r *RedisServer) Stop() {
	if r.cmd != nil && r.cmd.ProcessState == nil {
		r.cmd.Process.Signal(os.Kill)
		r.cmd.Wait()
	}
}
