package redisstore

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/zaqar-go/zaqar/internal/testenv"
	"github.com/zaqar-go/zaqar/storage"
	"github.com/zaqar-go/zaqar/storage/storagetest"
)

// openOn opens a store on a topology of the test's own (no key cleanup:
// the servers die with the test).
func openOn(t testing.TB, uri string, o Options) *Store {
	t.Helper()
	if o.SweepInterval == 0 {
		o.SweepInterval = -1
	}
	o.Prefix, o.Logger = fmt.Sprintf("zqtest-%d", seq.Add(1)), quiet
	s, err := Open(uri, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("ping %s: %v", uri, err)
	}
	return s
}

// slotGuard records every command the store sends and fails the test on
// a script whose keys span several slots or any CROSSSLOT answer: on a
// Cluster, each request must touch one slot per command.
type slotGuard struct {
	t        testing.TB
	mu       sync.Mutex
	commands int
}

func (g *slotGuard) DialHook(next redis.DialHook) redis.DialHook { return next }

func (g *slotGuard) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		g.check(cmd)
		err := next(ctx, cmd)
		if err != nil && strings.Contains(err.Error(), "CROSSSLOT") {
			g.t.Errorf("%v: %v", cmd.Args()[0], err)
		}
		return err
	}
}

func (g *slotGuard) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			g.check(c)
		}
		return next(ctx, cmds)
	}
}

// check verifies the keys of EVAL/EVALSHA and of the multi-key commands
// the store uses (DEL) hash to one slot.
func (g *slotGuard) check(cmd redis.Cmder) {
	args := cmd.Args()
	name := strings.ToLower(fmt.Sprint(args[0]))
	var keys []string
	switch name {
	case "evalsha", "eval":
		n := 0
		fmt.Sscan(fmt.Sprint(args[2]), &n)
		for _, k := range args[3 : 3+n] {
			keys = append(keys, fmt.Sprint(k))
		}
	case "del", "exists", "mget", "unlink":
		for _, k := range args[1:] {
			keys = append(keys, fmt.Sprint(k))
		}
	}
	g.mu.Lock()
	g.commands++
	g.mu.Unlock()
	for _, k := range keys {
		if keySlot(k) != keySlot(keys[0]) {
			g.t.Errorf("%s touches %q and %q, in different slots", name, keys[0], k)
			return
		}
	}
}

// keySlot is the hash tag a key's Cluster slot is computed from (the
// key itself without one); equal tags mean equal slots.
func keySlot(key string) string {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			return key[i+1 : i+1+j]
		}
	}
	return key
}

// TestOnRedisCluster runs the store on a Cluster of 3 masters and 3
// replicas: the conformance suite passes with every command checked for
// slots, and one project's queues spread over every master.
func TestOnRedisCluster(t *testing.T) {
	c := testenv.StartRedisCluster(t)
	guard := &slotGuard{t: t}
	t.Run("conformance", func(t *testing.T) {
		storagetest.Run(t, func(t *testing.T, clock storage.Clock) storage.Store {
			s := openOn(t, c.URI(), Options{Clock: clock})
			s.rdb.AddHook(guard)
			return s
		})
	})
	if guard.commands == 0 {
		t.Fatal("the slot guard saw no command")
	}
	t.Run("conformance with wait_replicas=1", func(t *testing.T) {
		storagetest.Run(t, func(t *testing.T, clock storage.Clock) storage.Store {
			s := openOn(t, c.URI(), Options{Clock: clock, WaitReplicas: 1})
			s.rdb.AddHook(guard)
			return s
		})
	})
	t.Run("queues spread over the slots", func(t *testing.T) {
		s := openOn(t, c.URI(), Options{})
		ctx := context.Background()
		byMaster := map[int]int{}
		const queues = 24
		for i := 0; i < queues; i++ {
			q := fmt.Sprintf("q%d", i)
			if _, err := s.PostMessages(ctx, "one-project", q, "c", []storage.NewMessage{{Body: []byte(`1`), TTL: 60}}); err != nil {
				t.Fatal(err)
			}
			byMaster[c.MasterOf(s.qk("one-project", q).m)]++
		}
		masters := c.Masters()
		if len(masters) != 3 || len(byMaster) != 3 {
			t.Fatalf("queues of one project on %d of %d masters: %v", len(byMaster), len(masters), byMaster)
		}
		// Each master holds the data it owns.
		for _, port := range masters {
			rdb := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port)})
			n, err := rdb.DBSize(ctx).Result()
			rdb.Close()
			if err != nil || n == 0 {
				t.Fatalf("master %d holds %d keys (%v)", port, n, err)
			}
		}
		if n, err := s.CountQueues(ctx, "one-project"); err != nil || n != queues {
			t.Fatalf("project counts %d queues (%v), want %d", n, err, queues)
		}
		t.Logf("24 queues of one project per master port: %v", byMaster)
	})
}

// TestOnRedisSentinel runs the conformance suite through Sentinel (a
// master, a replica, three Sentinels), with and without replicated
// acknowledgements, and shows a change no replica confirms fails.
func TestOnRedisSentinel(t *testing.T) {
	sn := testenv.StartRedisSentinel(t)
	for _, wait := range []int{0, 1} {
		t.Run(fmt.Sprintf("conformance with wait_replicas=%d", wait), func(t *testing.T) {
			storagetest.Run(t, func(t *testing.T, clock storage.Clock) storage.Store {
				return openOn(t, sn.URI(), Options{Clock: clock, WaitReplicas: wait})
			})
		})
	}
	t.Run("unconfirmed changes fail", func(t *testing.T) {
		s := openOn(t, sn.URI(), Options{WaitReplicas: 1, WaitTimeout: 200 * time.Millisecond})
		ctx := context.Background()
		post := func() error {
			_, err := s.PostMessages(ctx, "p", "q", "c", []storage.NewMessage{{Body: []byte(`1`), TTL: 60}})
			return err
		}
		if err := post(); err != nil {
			t.Fatalf("post with the replica up: %v", err)
		}
		sn.StopReplica()
		start := time.Now()
		err := post()
		took := time.Since(start)
		sn.ResumeReplica()
		if !errors.Is(err, storage.ErrUnavailable) || took < 200*time.Millisecond {
			t.Fatalf("post with the replica stopped: %v after %s, want ErrUnavailable after the 200ms wait", err, took)
		}
		if err := post(); err != nil {
			t.Fatalf("post after the replica resumed: %v", err)
		}
	})
}

// TestScriptsTouchOnlyDeclaredKeys reads every script: each key a
// redis.call names is a KEYS entry (so it shares the queue's hash tag and
// the Cluster can route the script), never a name built in Lua.
func TestScriptsTouchOnlyDeclaredKeys(t *testing.T) {
	call := regexp.MustCompile(`redis\.call\('([A-Z]+)',\s*([^,)]+)`)
	keyless := map[string]bool{"PUBLISH": true}
	if len(scriptSources) < 16 {
		t.Fatalf("%d scripts registered", len(scriptSources))
	}
	for sc, src := range scriptSources {
		name := sc.Hash()[:8]
		if strings.Contains(src, "local function due(") {
			name = "sweep"
		}
		calls := call.FindAllStringSubmatch(src, -1)
		if len(calls) == 0 {
			t.Fatalf("script %s: no redis.call found", name)
		}
		for _, m := range calls {
			if keyless[m[1]] {
				continue
			}
			key := strings.TrimSpace(m[2])
			// due(KEYS[n]) in the sweep script passes a KEYS entry as zset.
			if !strings.HasPrefix(key, "KEYS[") && !(name == "sweep" && key == "zset") {
				t.Errorf("script %s: %s on %q, not a KEYS entry", name, m[1], key)
			}
		}
	}
}
