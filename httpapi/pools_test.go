package httpapi

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zaqar-go/zaqar/backend"
	"github.com/zaqar-go/zaqar/catalog"
	"github.com/zaqar-go/zaqar/pooling"
	"github.com/zaqar-go/zaqar/sqldb"
	"github.com/zaqar-go/zaqar/storage"
)

// pooledServer serves the API in pooling mode over a SQLite catalogue;
// pool stores are opened by URI and kept so the test can look inside.
type pooledServer struct {
	*server
	dir    string
	stores map[string]storage.Store
	pooled *pooling.Store
	opts   Options
}

// newPooledServer serves a pooled store; mut, when given, changes the
// API's options.
func newPooledServer(t *testing.T, mut ...func(*Options)) *pooledServer {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	cat, err := catalog.Open(context.Background(), "sqlite:///"+filepath.Join(t.TempDir(), "catalog.db"), sqldb.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ps := &pooledServer{dir: t.TempDir(), stores: map[string]storage.Store{}}
	pooled, err := pooling.New(pooling.Options{
		Catalog: cat, Capabilities: backend.Capabilities, Logger: quiet,
		Open: func(uri string, settings map[string]any) (storage.Store, error) {
			st, err := backend.Open(uri, backend.Options{Settings: settings, Logger: quiet})
			if err == nil {
				ps.stores[uri] = st
			}
			return st, err
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pooled.Close(); cat.Close() })
	opts := DefaultOptions()
	opts.AdminMode, opts.Pools, opts.Logger = true, pooled, quiet
	for _, m := range mut {
		m(&opts)
	}
	ps.server = &server{t: t, client: serveAPI(t, pooled, opts)}
	ps.pooled, ps.opts = pooled, opts
	return ps
}

func (ps *pooledServer) uri(name string) string {
	return "badger://" + filepath.Join(ps.dir, name) + "?fsync=never&partitions=1"
}

const admin = "X-Roles: admin"

func TestPoolsAndFlavorsAPI(t *testing.T) {
	s := newPooledServer(t)
	// Admin only.
	s.expect("pool list without admin", s.do("GET", "/v2/pools", ""), 403, "Not authorized")
	s.expect("empty list", s.do("GET", "/v2/pools", "", admin), 200, `"pools":[]`)

	// Validation.
	for _, c := range []struct{ name, body, want string }{
		{"no body", "", ""},
		{"missing uri", `{"weight": 1}`, "uri"},
		{"bad weight", `{"weight": -1, "uri": "` + s.uri("a") + `"}`, "weight"},
		{"old group key", `{"weight": 1, "uri": "` + s.uri("a") + `", "group": "g"}`, "group"},
		{"unknown scheme", `{"weight": 1, "uri": "mongodb://localhost"}`, "cannot connect to mongodb://localhost"},
		{"dangling flavor", `{"weight": 1, "uri": "` + s.uri("a") + `", "flavor": "nope"}`, "Flavor nope does not exist"},
	} {
		s.expect(c.name, s.do("PUT", "/v2/pools/p1", c.body, admin), 400, optional(c.want)...)
	}

	r := s.expect("create", s.do("PUT", "/v2/pools/p1", `{"weight": 100, "uri": "`+s.uri("a")+`", "options": {"partitions": 1}}`, admin), 201)
	if r.headers["Location"] != "/v2/pools/p1" {
		t.Fatalf("Location %q", r.headers["Location"])
	}
	s.expect("overwrite", s.do("PUT", "/v2/pools/p1", `{"weight": 100, "uri": "`+s.uri("a")+`"}`, admin), 201)
	s.expect("duplicate uri", s.do("PUT", "/v2/pools/p2", `{"weight": 1, "uri": "`+s.uri("a")+`"}`, admin), 409, "The database URI is in use by another pool.")
	s.expect("second", s.do("PUT", "/v2/pools/p2", `{"weight": 1, "uri": "`+s.uri("b")+`"}`, admin), 201)

	s.expect("get", s.do("GET", "/v2/pools/p1", "", admin), 200, `"name":"p1"`, `"weight":100`, `"href":"/v2/pools/p1"`)
	if body := s.do("GET", "/v2/pools/p1?detailed=true", "", admin).body; !strings.Contains(body, `"options":{}`) {
		t.Fatalf("detailed get: %s", body)
	}
	s.expect("get missing", s.do("GET", "/v2/pools/nope", "", admin), 404, "Pool nope does not exist")
	r = s.expect("list page", s.do("GET", "/v2/pools?limit=1", "", admin), 200, `"name":"p1"`, `"rel":"next"`)
	s.expect("list after marker", s.do("GET", "/v2/pools?marker=p1", "", admin), 200, `"name":"p2"`)
	s.expect("bad limit", s.do("GET", "/v2/pools?limit=0", "", admin), 400)

	s.expect("patch nothing", s.do("PATCH", "/v2/pools/p2", `{}`, admin), 400, "needs to be specified")
	s.expect("patch", s.do("PATCH", "/v2/pools/p2", `{"weight": 7}`, admin), 200, `"weight":7`)
	s.expect("patch missing", s.do("PATCH", "/v2/pools/nope", `{"weight": 7}`, admin), 404)

	// Flavors.
	s.expect("flavor create without admin", s.do("PUT", "/v2/flavors/gold", `{"pool_list": ["p1"]}`), 403)
	for _, c := range []struct{ name, body, want string }{
		{"flavor with empty list", `{"pool_list": []}`, "Unable to create"},
		{"flavor with missing pool", `{"pool_list": ["p1", "ghost"]}`, "Flavor gold could not be created, error:Pool ghost does not exist"},
		{"flavor with old key", `{"pool_group": "g"}`, ""},
	} {
		s.expect(c.name, s.do("PUT", "/v2/flavors/gold", c.body, admin), 400, optional(c.want)...)
	}
	s.expect("flavor create", s.do("PUT", "/v2/flavors/gold", `{"pool_list": ["p1"]}`, admin), 201)
	// Reading flavors needs no admin role.
	s.expect("flavor get", s.do("GET", "/v2/flavors/gold", ""), 200, `"pool_list":["p1"]`, `"capabilities":["FIFO","CLAIMS","DURABILITY","AOD","HIGH_THROUGHPUT"]`)
	s.expect("flavor list", s.do("GET", "/v2/flavors?detailed=true", ""), 200, `"name":"gold"`, `"capabilities"`)
	s.expect("flavor get other project", s.do("GET", "/v2/flavors/gold", "", "X-Project-ID: other"), 404)
	s.expect("pool shows its flavor", s.do("GET", "/v2/pools/p1", "", admin), 200, `"flavor":"gold"`)
	s.expect("last pool of a flavor", s.do("DELETE", "/v2/pools/p1", "", admin), 403, "This pool is used by flavors gold; It cannot be deleted.")
	s.expect("flavor patch", s.do("PATCH", "/v2/flavors/gold", `{"pool_list": ["p1", "p2"]}`, admin), 200, `"pool_list":["p1","p2"]`)
	s.expect("flavor patch missing", s.do("PATCH", "/v2/flavors/nope", `{"pool_list": ["p1"]}`, admin), 404)
	s.expect("delete one of two", s.do("DELETE", "/v2/pools/p1", "", admin), 204)
	s.expect("flavor delete", s.do("DELETE", "/v2/flavors/gold", "", admin), 204)
	s.expect("flavor gone", s.do("GET", "/v2/flavors/gold", ""), 404)
	s.expect("pool lost the flavor", s.do("GET", "/v2/pools/p2", "", admin), 200, `"flavor":null`)

	// A pool holding a queue is kept.
	s.expect("queue", s.do("PUT", "/v2/queues/q1", ""), 201)
	s.expect("pool with queues", s.do("DELETE", "/v2/pools/p2", "", admin), 403, "holds queues")
	s.expect("queue delete", s.do("DELETE", "/v2/queues/q1", ""), 204)
	s.expect("pool delete", s.do("DELETE", "/v2/pools/p2", "", admin), 204)
	s.expect("delete missing pool", s.do("DELETE", "/v2/pools/p2", "", admin), 204)

	// With no pool left, a new queue has nowhere to go.
	s.expect("no pools", s.do("PUT", "/v2/queues/q2", ""), 503)

	s.expect("health", s.do("GET", "/v2/health", "", admin), 200, `"catalog_reachable":true`)
	s.expect("home lists pools", s.do("GET", "/v2/", ""), 200, "rel/pools", "rel/flavors")
}

// TestQueuesRoutedToPools spreads queues over two pools by weight and
// checks that every message lands in its queue's pool and nowhere else.
func TestQueuesRoutedToPools(t *testing.T) {
	s := newPooledServer(t)
	s.expect("pool a", s.do("PUT", "/v2/pools/a", `{"weight": 300, "uri": "`+s.uri("a")+`"}`, admin), 201)
	s.expect("pool b", s.do("PUT", "/v2/pools/b", `{"weight": 100, "uri": "`+s.uri("b")+`"}`, admin), 201)
	const queues = 200
	ctx := context.Background()
	for i := 0; i < queues; i++ {
		q := fmt.Sprintf("q%03d", i)
		if i%2 == 0 {
			s.expect("create "+q, s.do("PUT", "/v2/queues/"+q, `{"n": 1}`), 201)
		}
		// Odd queues are registered lazily by their first post.
		s.expect("post "+q, s.do("POST", "/v2/queues/"+q+"/messages", `{"messages": [{"ttl": 300, "body": "`+q+`"}]}`), 201)
	}
	inA, inB := 0, 0
	storeA, storeB := s.stores[s.uri("a")], s.stores[s.uri("b")]
	for i := 0; i < queues; i++ {
		q := fmt.Sprintf("q%03d", i)
		_, errA := storeA.GetQueueMetadata(ctx, "proj", q)
		_, errB := storeB.GetQueueMetadata(ctx, "proj", q)
		switch {
		case errA == nil && errB != nil:
			inA++
		case errB == nil && errA != nil:
			inB++
		default:
			t.Fatalf("queue %s is in a: %v, in b: %v; want exactly one", q, errA == nil, errB == nil)
		}
		// Its message is readable through the API and stored in its pool.
		s.expect("list "+q, s.do("GET", "/v2/queues/"+q+"/messages?echo=true", ""), 200, `"body":"`+q+`"`)
	}
	// Weights 3:1 over 200 queues: expect about 150 in a. The bounds are
	// ~6 standard deviations wide, so a correct picker never fails.
	if inA < 110 || inA > 185 {
		t.Fatalf("pool a got %d of %d queues, pool b %d; want about 3:1", inA, queues, inB)
	}
	s.expect("list all", s.do("GET", "/v2/queues?limit=20&with_count=true", ""), 200, `"count":200`, `"name":"q000"`)
	s.expect("stats", s.do("GET", "/v2/queues/q000/stats", ""), 200, `"total":1`)

	// A flavor sends its queues to its own pools only.
	s.expect("pool c", s.do("PUT", "/v2/pools/c", `{"weight": 1, "uri": "`+s.uri("c")+`"}`, admin), 201)
	s.expect("flavor", s.do("PUT", "/v2/flavors/fast", `{"pool_list": ["c"]}`, admin), 201)
	s.expect("unknown flavor", s.do("PUT", "/v2/queues/x", `{"_flavor": "nope"}`), 400, "Flavor nope does not exist")
	for i := 0; i < 10; i++ {
		q := fmt.Sprintf("f%d", i)
		s.expect("flavored "+q, s.do("PUT", "/v2/queues/"+q, `{"_flavor": "fast"}`), 201)
		if _, err := s.stores[s.uri("c")].GetQueueMetadata(ctx, "proj", q); err != nil {
			t.Fatalf("flavored queue %s not in the flavor's pool: %v", q, err)
		}
	}
	// Unflavored queues never land in a flavored pool.
	s.expect("plain", s.do("PUT", "/v2/queues/plain", ""), 201)
	if _, err := s.stores[s.uri("c")].GetQueueMetadata(ctx, "proj", "plain"); err == nil {
		t.Fatal("an unflavored queue landed in the flavored pool")
	}
	// Changing _flavor re-registers the queue on the new flavor's pool.
	s.expect("reflavor", s.do("PATCH", "/v2/queues/plain", `[{"op": "add", "path": "/metadata/_flavor", "value": "fast"}]`,
		"Content-Type: application/openstack-messaging-v2.0-json-patch"), 200, `"_flavor":"fast"`)
	if _, err := s.stores[s.uri("c")].GetQueueMetadata(ctx, "proj", "plain"); err != nil {
		t.Fatalf("re-flavored queue not moved to the flavor's pool: %v", err)
	}
}
