package testenv

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Failure detection of the topologies below is set short, so that a
// failover test takes seconds: a node (or master) is declared down after
// this long without answering.
const (
	ClusterNodeTimeout = 1000 * time.Millisecond
	SentinelDownAfter  = 1000 * time.Millisecond
	// SentinelMaster is the master name the Sentinels monitor.
	SentinelMaster = "mymaster"
	// topologyTimeout bounds forming a cluster, a Sentinel set-up or a
	// failover.
	topologyTimeout = 30 * time.Second
)

// redisProcs owns every redis-server process a topology started: each is
// killed at the end of the test, failed or not, and dies with the test
// binary even if cleanup never runs (a test timeout panics past it).
type redisProcs struct {
	t     testing.TB
	mu    sync.Mutex
	procs map[int]*exec.Cmd // by port
	args  map[int][]string  // what each port was started with, for restarts
	dirs  map[int]string
}

func newRedisProcs(t testing.TB) *redisProcs {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		Unavailable(t, "redis-server not installed (Debian package redis-server; scripts/install-test-peers.sh redis)")
	}
	if _, err := exec.LookPath("redis-cli"); err != nil {
		Unavailable(t, "redis-cli not installed (Debian package redis-tools; scripts/install-test-peers.sh redis)")
	}
	p := &redisProcs{t: t, procs: map[int]*exec.Cmd{}, args: map[int][]string{}, dirs: map[int]string{}}
	t.Cleanup(p.killAll)
	return p
}

// start runs redis-server with args (a config file first, when given) and
// waits until it accepts connections on port.
func (p *redisProcs) start(port int, dir string, args ...string) {
	p.t.Helper()
	cmd := exec.Command("redis-server", args...)
	cmd.Dir = dir
	log, err := os.Create(filepath.Join(dir, "redis.log"))
	if err != nil {
		p.t.Fatal(err)
	}
	defer log.Close()
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.mu.Lock()
	p.procs[port], p.args[port], p.dirs[port] = cmd, args, dir
	p.mu.Unlock()
	waitListening(p.t, port, filepath.Join(dir, "redis.log"))
}

// kill sends SIGKILL to the process on port (a crash) and reaps it.
func (p *redisProcs) kill(port int) {
	p.mu.Lock()
	cmd := p.procs[port]
	delete(p.procs, port)
	p.mu.Unlock()
	if cmd != nil {
		cmd.Process.Kill()
		cmd.Wait()
	}
}

// restart starts the process on port again, as it was first started
// plus extra arguments.
func (p *redisProcs) restart(port int, extra ...string) {
	p.t.Helper()
	p.mu.Lock()
	args, dir := p.args[port], p.dirs[port]
	p.mu.Unlock()
	p.start(port, dir, append(append([]string(nil), args...), extra...)...)
}

// signal sends sig (e.g. SIGSTOP, SIGCONT) to the process on port.
func (p *redisProcs) signal(port int, sig syscall.Signal) {
	p.mu.Lock()
	cmd := p.procs[port]
	p.mu.Unlock()
	if cmd == nil {
		p.t.Fatalf("no redis process on port %d", port)
	}
	if err := cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal redis on port %d: %v", port, err)
	}
}

func (p *redisProcs) killAll() {
	p.mu.Lock()
	ports := make([]int, 0, len(p.procs))
	for port := range p.procs {
		ports = append(ports, port)
	}
	p.mu.Unlock()
	for _, port := range ports {
		p.mu.Lock()
		cmd := p.procs[port]
		p.mu.Unlock()
		cmd.Process.Signal(syscall.SIGCONT) // a stopped process is reaped only once it runs again
		p.kill(port)
	}
}

// Pid is the process id of the server on port (0 when none runs), for CPU
// accounting.
func (p *redisProcs) Pid(port int) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if cmd := p.procs[port]; cmd != nil {
		return cmd.Process.Pid
	}
	return 0
}

func waitListening(t testing.TB, port int, logPath string) {
	t.Helper()
	addr := "127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond) // polling an external process: no signal to wait on
	}
	b, _ := os.ReadFile(logPath)
	t.Fatalf("redis-server on %s did not start:\n%s", addr, b)
}

// pollUntil calls ok every 50 ms until it returns true or the topology
// timeout passes (then the test fails with what).
func pollUntil(t testing.TB, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(topologyTimeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", topologyTimeout, what)
		}
		time.Sleep(50 * time.Millisecond) // polling external processes: no signal to wait on
	}
}

// info returns the fields of INFO section (or CLUSTER INFO with section
// "cluster-info") of the server at addr; nil when it does not answer.
func info(addr, section string) map[string]string {
	c := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: 500 * time.Millisecond,
		ReadTimeout: 500 * time.Millisecond, MaxRetries: -1})
	defer c.Close()
	ctx := context.Background()
	var text string
	var err error
	if section == "cluster-info" {
		text, err = c.ClusterInfo(ctx).Result()
	} else {
		text, err = c.Info(ctx, section).Result()
	}
	if err != nil {
		return nil
	}
	out := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		if k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":"); ok {
			out[k] = v
		}
	}
	return out
}

// ---- Redis Cluster

// RedisCluster is a Redis Cluster of three masters and three replicas on
// loopback ports of its own (Redis 7's cluster-port sets the bus port).
type RedisCluster struct {
	*redisProcs
	Ports []int // client ports, masters first as created
}

// StartRedisCluster starts six redis-servers, joins them with redis-cli
// --cluster create (one replica per master) and waits until every node
// reports cluster_state ok. Everything is killed when the test ends.
func StartRedisCluster(t testing.TB) *RedisCluster {
	t.Helper()
	c := &RedisCluster{redisProcs: newRedisProcs(t)}
	root := t.TempDir()
	var addrs []string
	for i := 0; i < 6; i++ {
		port, bus := FreePort(t), FreePort(t)
		dir := filepath.Join(root, strconv.Itoa(port))
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		c.start(port, dir, "--port", strconv.Itoa(port), "--cluster-port", strconv.Itoa(bus), "--bind", "127.0.0.1",
			"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", strconv.Itoa(int(ClusterNodeTimeout.Milliseconds())),
			// The other masters keep serving while one has no master for its
			// slots (as deployments should run it).
			"--cluster-require-full-coverage", "no",
			"--save", "", "--appendonly", "no", "--repl-diskless-sync-delay", "0", "--dir", dir)
		c.Ports = append(c.Ports, port)
		addrs = append(addrs, "127.0.0.1:"+strconv.Itoa(port))
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "1", "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), topologyTimeout)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "redis-cli", args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	c.WaitHealthy()
	return c
}

// URI is the store URI naming every node (a Cluster URI: several hosts
// without master).
func (c *RedisCluster) URI() string {
	hosts := make([]string, len(c.Ports))
	for i, p := range c.Ports {
		hosts[i] = "127.0.0.1:" + strconv.Itoa(p)
	}
	return "redis://" + strings.Join(hosts, ",")
}

// Masters returns the client ports of the running nodes that are masters.
func (c *RedisCluster) Masters() []int {
	var out []int
	for _, p := range c.Ports {
		if c.Pid(p) == 0 {
			continue
		}
		if info("127.0.0.1:"+strconv.Itoa(p), "replication")["role"] == "master" {
			out = append(out, p)
		}
	}
	return out
}

// MasterOf returns the port of the running master serving key's slot.
func (c *RedisCluster) MasterOf(key string) int {
	c.t.Helper()
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:" + strconv.Itoa(c.Masters()[0])}})
	defer rdb.Close()
	m, err := rdb.MasterForKey(context.Background(), key)
	if err != nil {
		c.t.Fatalf("master of %q: %v", key, err)
	}
	_, port, _ := net.SplitHostPort(m.Options().Addr)
	n, _ := strconv.Atoi(port)
	return n
}

// Kill crashes the node on port (SIGKILL).
func (c *RedisCluster) Kill(port int) { c.kill(port) }

// Restart starts a killed node again with its cluster state file: a
// former master whose slots a replica took over rejoins as its replica.
func (c *RedisCluster) Restart(port int) { c.restart(port) }

// WaitHealthy waits until every running node reports every slot served
// by a healthy master and every running replica is in sync with its
// master (after a failover: a replica took over the dead master's slots).
func (c *RedisCluster) WaitHealthy() {
	c.t.Helper()
	pollUntil(c.t, "cluster_state:ok and replicas in sync on every running node", func() bool {
		for _, p := range c.Ports {
			if c.Pid(p) == 0 {
				continue
			}
			addr := "127.0.0.1:" + strconv.Itoa(p)
			// Every slot served by a master this node sees as healthy.
			if ci := info(addr, "cluster-info"); ci["cluster_state"] != "ok" || ci["cluster_slots_ok"] != "16384" {
				return false
			}
			r := info(addr, "replication")
			if r["role"] == "slave" && r["master_link_status"] != "up" {
				return false
			}
			// WAIT counts only replicas the master sees online.
			if r["role"] == "master" && r["connected_slaves"] != "0" && !strings.Contains(r["slave0"], "state=online") {
				return false
			}
		}
		return true
	})
}

// ---- Sentinel

// RedisSentinel is a master, one replica and three Sentinels (quorum 2)
// on loopback ports of their own. Sentinels run as redis-server
// --sentinel, which Debian's redis-server package provides.
type RedisSentinel struct {
	*redisProcs
	MasterPort, ReplicaPort int
	SentinelPorts           []int
}

// StartRedisSentinel starts the set-up and waits until every Sentinel
// knows the replica and the other two Sentinels (else a failover could
// not reach its quorum). Everything is killed when the test ends.
func StartRedisSentinel(t testing.TB) *RedisSentinel {
	t.Helper()
	s := &RedisSentinel{redisProcs: newRedisProcs(t)}
	root := t.TempDir()
	dirFor := func(port int) string {
		dir := filepath.Join(root, strconv.Itoa(port))
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	s.MasterPort, s.ReplicaPort = FreePort(t), FreePort(t)
	startData := func(port int, extra ...string) {
		dir := dirFor(port)
		args := []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			"--repl-diskless-sync-delay", "0", "--dir", dir}
		s.start(port, dir, append(args, extra...)...)
	}
	startData(s.MasterPort)
	startData(s.ReplicaPort, "--replicaof", "127.0.0.1", strconv.Itoa(s.MasterPort))
	for i := 0; i < 3; i++ {
		port := FreePort(t)
		dir := dirFor(port)
		// Sentinel rewrites its config file, so each gets its own.
		conf := filepath.Join(dir, "sentinel.conf")
		text := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\n"+
			"sentinel monitor %s 127.0.0.1 %d 2\n"+
			"sentinel down-after-milliseconds %s %d\n"+
			"sentinel failover-timeout %s 5000\n"+
			"sentinel parallel-syncs %s 1\n",
			port, dir, SentinelMaster, s.MasterPort, SentinelMaster, SentinelDownAfter.Milliseconds(), SentinelMaster, SentinelMaster)
		if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		s.start(port, dir, conf, "--sentinel")
		s.SentinelPorts = append(s.SentinelPorts, port)
	}
	pollUntil(t, "the replica in sync and every Sentinel knowing the replica and the others", func() bool {
		if info("127.0.0.1:"+strconv.Itoa(s.ReplicaPort), "replication")["master_link_status"] != "up" {
			return false
		}
		for _, p := range s.SentinelPorts {
			m := s.sentinelMaster(p)
			if m["num-slaves"] != "1" || m["num-other-sentinels"] != "2" {
				return false
			}
		}
		return true
	})
	return s
}

// sentinelMaster is SENTINEL MASTER's field map as one Sentinel sees it.
func (s *RedisSentinel) sentinelMaster(port int) map[string]string {
	c := redis.NewSentinelClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(port),
		DialTimeout: 500 * time.Millisecond, ReadTimeout: 500 * time.Millisecond, MaxRetries: -1})
	defer c.Close()
	m, err := c.Master(context.Background(), SentinelMaster).Result()
	if err != nil {
		return nil
	}
	return m
}

// URI is the store URI of the set-up: the Sentinels with the master name
// (Zaqar's form).
func (s *RedisSentinel) URI() string {
	hosts := make([]string, len(s.SentinelPorts))
	for i, p := range s.SentinelPorts {
		hosts[i] = "127.0.0.1:" + strconv.Itoa(p)
	}
	return "redis://" + strings.Join(hosts, ",") + "?master=" + SentinelMaster
}

// MasterAddr is the master's address as the first running Sentinel
// reports it ("" when none answers).
func (s *RedisSentinel) MasterAddr() string {
	for _, p := range s.SentinelPorts {
		if m := s.sentinelMaster(p); m != nil {
			return m["ip"] + ":" + m["port"]
		}
	}
	return ""
}

// KillMaster crashes the master (SIGKILL).
func (s *RedisSentinel) KillMaster() { s.kill(s.MasterPort) }

// RestartOldMasterAsReplica starts the killed master again as a replica
// of the promoted one, as an operator brings a failed node back.
func (s *RedisSentinel) RestartOldMasterAsReplica() {
	s.restart(s.MasterPort, "--replicaof", "127.0.0.1", strconv.Itoa(s.ReplicaPort))
}

// WaitOldMasterSynced waits until the restarted old master has finished
// its sync with the promoted one: until then WAIT finds no replica, and
// a store that waits for one answers writes 503.
func (s *RedisSentinel) WaitOldMasterSynced() {
	s.t.Helper()
	addr := "127.0.0.1:" + strconv.Itoa(s.MasterPort)
	pollUntil(s.t, "the old master to sync as a replica", func() bool {
		r := info(addr, "replication")
		return r["master_link_status"] == "up" && r["master_sync_in_progress"] == "0"
	})
}

// PartitionReplica cuts the replica off, as a network partition would:
// it is frozen (SIGSTOP) and the master drops its replication link, so
// the master goes on acknowledging writes the replica never receives
// (what the master had sent before stays in the replica's socket buffer).
// ResumeReplica ends the freeze.
func (s *RedisSentinel) PartitionReplica() {
	s.t.Helper()
	s.StopReplica()
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(s.MasterPort)})
	defer c.Close()
	if err := c.ClientKillByFilter(context.Background(), "TYPE", "replica").Err(); err != nil {
		s.t.Fatalf("drop the replication link: %v", err)
	}
}

// StopReplica freezes the replica (SIGSTOP), as a replica that lags
// behind or is cut off would be: the master goes on acknowledging writes
// it never receives. ResumeReplica (SIGCONT) lets it run again.
func (s *RedisSentinel) StopReplica()   { s.signal(s.ReplicaPort, syscall.SIGSTOP) }
func (s *RedisSentinel) ResumeReplica() { s.signal(s.ReplicaPort, syscall.SIGCONT) }

// WaitPromoted waits until every Sentinel reports the replica as master
// and the replica itself has taken the role.
func (s *RedisSentinel) WaitPromoted() {
	s.t.Helper()
	want := strconv.Itoa(s.ReplicaPort)
	pollUntil(s.t, "the Sentinels to promote the replica", func() bool {
		for _, p := range s.SentinelPorts {
			if s.sentinelMaster(p)["port"] != want {
				return false
			}
		}
		return info("127.0.0.1:"+want, "replication")["role"] == "master"
	})
}

// ---- a plain server

// RedisStandalone is one redis-server without persistence (as the
// Cluster's nodes run), on a loopback port of its own.
type RedisStandalone struct {
	*redisProcs
	Port int
}

// StartRedisStandalone starts the server; it is killed when the test ends.
func StartRedisStandalone(t testing.TB) *RedisStandalone {
	t.Helper()
	r := &RedisStandalone{redisProcs: newRedisProcs(t), Port: FreePort(t)}
	dir := t.TempDir()
	r.start(r.Port, dir, "--port", strconv.Itoa(r.Port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir)
	return r
}

// URI is the server's store URI.
func (r *RedisStandalone) URI() string { return "redis://127.0.0.1:" + strconv.Itoa(r.Port) }
