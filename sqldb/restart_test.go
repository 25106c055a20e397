package sqldb_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/zaqar-go/zaqar/internal/testenv"
	"github.com/zaqar-go/zaqar/sqldb"
)

// dbServer is a database server process owned by one test: its own data
// directory and port, so restarting it never touches the machine's
// shared server.
type dbServer struct {
	t     *testing.T
	start func() *exec.Cmd
	stop  func(cmd *exec.Cmd)
	cmd   *exec.Cmd
	port  int
}

func (s *dbServer) up() {
	s.t.Helper()
	s.cmd = s.start()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(s.port), time.Second)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("database server on port %d did not start", s.port)
}

func (s *dbServer) restart() {
	s.t.Helper()
	s.stop(s.cmd)
	s.up()
}

func need(t *testing.T, bins ...string) {
	for _, b := range bins {
		if _, err := os.Stat(b); err != nil {
			testenv.Unavailable(t, "%s not installed", b)
		}
	}
}

func run(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", cmd.Args, err, out)
	}
}

func startMariaDB(t *testing.T) *dbServer {
	need(t, "/usr/sbin/mariadbd", "/usr/bin/mariadb-install-db")
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	port := testenv.FreePort(t)
	common := []string{"--no-defaults", "--datadir=" + data, "--user=" + currentUser(t)}
	run(t, exec.Command("/usr/bin/mariadb-install-db", append(common, "--skip-test-db", "--auth-root-authentication-method=normal")...))
	s := &dbServer{t: t, port: port}
	s.start = func() *exec.Cmd {
		cmd := exec.Command("/usr/sbin/mariadbd", append(common, "--port="+strconv.Itoa(port), "--bind-address=127.0.0.1",
			"--socket="+filepath.Join(dir, "sock"), "--pid-file="+filepath.Join(dir, "pid"), "--skip-grant-tables",
			"--innodb-buffer-pool-size=16M", "--skip-log-bin", "--log-error="+filepath.Join(dir, "err.log"))...)
		if err := cmd.Start(); err != nil {
			t.Fatalf("start mariadbd: %v", err)
		}
		return cmd
	}
	s.stop = func(cmd *exec.Cmd) {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}
	s.up()
	t.Cleanup(func() { s.stop(s.cmd) })
	return s
}

func currentUser(t *testing.T) string {
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	return u.Username
}

// startPostgres runs initdb and the server from PostgreSQL's own binaries.
// PostgreSQL refuses to run as root, so as root it runs as "postgres".
func startPostgres(t *testing.T) *dbServer {
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(bins) == 0 {
		testenv.Unavailable(t, "PostgreSQL server binaries (pg_ctl) not installed")
	}
	bin := filepath.Dir(bins[len(bins)-1])
	dir, err := os.MkdirTemp("", "zaqar-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	asOwner := func(name string, args ...string) *exec.Cmd {
		return exec.Command(name, args...)
	}
	if os.Geteuid() == 0 {
		pg, err := user.Lookup("postgres")
		if err != nil {
			testenv.Unavailable(t, "running as root and there is no postgres user to run PostgreSQL as")
		}
		uid, _ := strconv.Atoi(pg.Uid)
		gid, _ := strconv.Atoi(pg.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		asOwner = func(name string, args ...string) *exec.Cmd {
			cmd := exec.Command(name, args...)
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
			return cmd
		}
	}
	data := filepath.Join(dir, "data")
	run(t, asOwner(filepath.Join(bin, "initdb"), "-D", data, "-A", "trust", "-U", "postgres", "--no-sync"))
	port := testenv.FreePort(t)
	s := &dbServer{t: t, port: port}
	s.start = func() *exec.Cmd {
		run(t, asOwner(filepath.Join(bin, "pg_ctl"), "-D", data, "-w", "-l", filepath.Join(dir, "log"),
			"-o", fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off", port, dir), "start"))
		return nil
	}
	s.stop = func(*exec.Cmd) {
		run(t, asOwner(filepath.Join(bin, "pg_ctl"), "-D", data, "-w", "-m", "fast", "stop"))
	}
	s.up()
	t.Cleanup(func() { s.stop(nil) })
	return s
}

// TestRestartIsInvisible fills the pool with connections, restarts the
// database server under it, and checks that the next calls succeed: the
// dead pooled connections are detected on checkout and replaced.
func TestRestartIsInvisible(t *testing.T) {
	if testing.Short() {
		t.Skip("starts its own database servers")
	}
	for _, tc := range []struct {
		name  string
		start func(*testing.T) *dbServer
		uri   string
	}{
		{"mariadb", startMariaDB, "mysql+pymysql://root@127.0.0.1:%d/mysql"},
		{"postgres", startPostgres, "postgresql://postgres@127.0.0.1:%d/postgres?sslmode=disable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := tc.start(t)
			db := open(t, fmt.Sprintf(tc.uri, srv.port), sqldb.DefaultOptions())
			ctx := context.Background()
			// Open several connections and return them to the pool.
			const conns = 4
			var wg sync.WaitGroup
			hold := make(chan struct{})
			for i := 0; i < conns; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c, err := db.Conn(ctx)
					if err != nil {
						t.Error(err)
						return
					}
					<-hold
					c.Close()
				}()
			}
			time.Sleep(100 * time.Millisecond)
			close(hold)
			wg.Wait()
			if idle := db.Stats().Idle; idle < conns {
				t.Fatalf("pool holds %d idle connections, want %d", idle, conns)
			}

			srv.restart()

			// Concurrent callers each meet a stale connection.
			errs := make(chan error, conns)
			for i := 0; i < conns; i++ {
				go func() {
					var one int
					errs <- db.QueryRowContext(ctx, "SELECT 1").Scan(&one)
				}()
			}
			for i := 0; i < conns; i++ {
				if err := <-errs; err != nil {
					t.Fatalf("concurrent call after restart: %v", db.Classify(err))
				}
			}
			srv.restart()
			// Every call after the restart succeeds: more calls than pooled
			// connections, so each stale one is met and replaced.
			for i := 0; i < 3*conns; i++ {
				var one int
				if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
					t.Fatalf("call %d after restart: %v", i, db.Classify(err))
				}
			}
			if _, err := db.ExecContext(ctx, "CREATE TABLE after_restart (id INTEGER)"); err != nil {
				t.Fatalf("write after restart: %v", err)
			}
		})
	}
}
