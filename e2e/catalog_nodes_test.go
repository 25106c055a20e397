package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/zaqar-go/zaqar/internal/testenv"
	"github.com/zaqar-go/zaqar/sqldb"
	"github.com/zaqar-go/zaqar/sqldb/sqltest"
)

// TestTwoNodesShareTheSQLCatalogue runs two server processes in pooling
// mode over one catalogue on MariaDB and on PostgreSQL, with Redis pools
// both reach: a queue created through one node is served by the other,
// and a pool added (and another drained) through the second is what the
// first places new queues on, at once: pools are read from the catalogue
// at each placement; only a queue's pool is cached (cache_ttl).
func TestTwoNodesShareTheSQLCatalogue(t *testing.T) {
	for _, d := range []sqldb.Dialect{sqldb.MySQL, sqldb.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			redis1, redis2 := testenv.StartRedis(t), testenv.StartRedis(t)
			dir := t.TempDir()
			conf := filepath.Join(dir, "zaqar.conf")
			body := fmt.Sprintf("[DEFAULT]\npooling = True\nadmin_mode = True\n[drivers:management_store:sqlalchemy]\nuri = %s\n"+
				"[pooling:catalog]\ncache_ttl = 1s\n", sqltest.FreshURI(t, d))
			if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			a := start(t, freePort(t), filepath.Join(dir, "a"), "--config-file", conf)
			b := start(t, freePort(t), filepath.Join(dir, "b"), "--config-file", conf)
			admin := "X-Roles: admin"

			if code, body := a.request("PUT", "/v2/pools/one", `{"weight":100,"uri":"`+redis1.URI()+`"}`, admin); code != 201 {
				t.Fatalf("create pool one on A: %d %s", code, body)
			}
			if code, body := a.request("PUT", "/v2/queues/made-on-a", ""); code != 201 {
				t.Fatalf("create queue on A: %d %s", code, body)
			}
			if code, body := a.request("POST", "/v2/queues/made-on-a/messages", `{"messages":[{"body":"hello"}]}`); code != 201 {
				t.Fatalf("post on A: %d %s", code, body)
			}
			code, got := b.request("POST", "/v2/queues/made-on-a/claims", `{"ttl":60,"grace":60}`)
			if code != 201 || !strings.Contains(string(got), "hello") {
				t.Fatalf("claim on B of a queue created on A: %d %s", code, got)
			}
			if code, got := b.request("GET", "/v2/queues", ""); code != 200 || !strings.Contains(string(got), "made-on-a") {
				t.Fatalf("B's queue listing: %d %s", code, got)
			}

			// Through B: a new pool, and the old one drained of new queues.
			if code, body := b.request("PUT", "/v2/pools/two", `{"weight":100,"uri":"`+redis2.URI()+`"}`, admin); code != 201 {
				t.Fatalf("create pool two on B: %d %s", code, body)
			}
			if code, body := b.request("PATCH", "/v2/pools/one", `{"weight":0}`, admin); code != 200 {
				t.Fatalf("drain pool one on B: %d %s", code, body)
			}
			before := keys(t, redis2.URI())
			for i := 0; i < 5; i++ {
				q := fmt.Sprintf("after-%d", i)
				if code, body := a.request("POST", "/v2/queues/"+q+"/messages", `{"messages":[{"body":"x"}]}`); code != 201 {
					t.Fatalf("post on A to %s: %d %s", q, code, body)
				}
				if code, got := b.request("GET", "/v2/queues/"+q+"/messages?echo=true", ""); code != 200 || !strings.Contains(string(got), `"x"`) {
					t.Fatalf("B lists %s: %d %s", q, code, got)
				}
			}
			if after := keys(t, redis2.URI()); after <= before {
				t.Fatalf("pool two holds %d keys after A placed 5 queues (had %d): A did not use the pool added through B", after, before)
			}
			// The queue placed before stays in pool one, served by both.
			for _, n := range []*proc{a, b} {
				if code, got := n.request("GET", "/v2/queues/made-on-a/stats", ""); code != 200 || !strings.Contains(string(got), `"total":1`) {
					t.Fatalf("stats of made-on-a: %d %s", code, got)
				}
			}
			// A queue deleted through A and placed again, now in pool one,
			// is found there by B once B's cached placement expired
			// (cache_ttl = 1s; B looked after-0 up a moment ago).
			if code, body := a.request("DELETE", "/v2/queues/after-0", ""); code != 204 {
				t.Fatalf("delete on A: %d %s", code, body)
			}
			for pool, weight := range map[string]string{"one": "100", "two": "0"} {
				if code, body := a.request("PATCH", "/v2/pools/"+pool, `{"weight":`+weight+`}`, admin); code != 200 {
					t.Fatalf("reweigh pool %s on A: %d %s", pool, code, body)
				}
			}
			if code, body := a.request("POST", "/v2/queues/after-0/messages", `{"messages":[{"body":"moved"}]}`); code != 201 {
				t.Fatalf("post again on A: %d %s", code, body)
			}
			placed := time.Now()
			for {
				code, got := b.request("GET", "/v2/queues/after-0/messages?echo=true", "")
				if code == 200 && strings.Contains(string(got), `"moved"`) {
					break
				}
				if time.Since(placed) > 3*time.Second {
					t.Fatalf("B does not find the re-placed queue 3s after (cache_ttl 1s): %d %s", code, got)
				}
				time.Sleep(50 * time.Millisecond) // B's cache expires on its own; nothing to wait on
			}
			t.Logf("%s: B found the queue re-placed through A after %s (cache_ttl 1s)", d, time.Since(placed).Round(time.Millisecond))
		})
	}
}

// keys counts the keys of the Redis at uri.
func keys(t *testing.T, uri string) int64 {
	t.Helper()
	o, err := redis.ParseURL(uri)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(o)
	defer c.Close()
	n, err := c.DBSize(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	return n
}
