package catalog_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/zaqar-go/zaqar/catalog"
	"github.com/zaqar-go/zaqar/sqldb"
	"github.com/zaqar-go/zaqar/sqldb/sqltest"
	"github.com/zaqar-go/zaqar/storage"
)

// each runs fn against a fresh catalogue on SQLite, MariaDB and PostgreSQL.
func each(t *testing.T, fn func(t *testing.T, c *catalog.Catalog)) {
	for _, d := range sqltest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			c, err := catalog.Open(context.Background(), sqltest.FreshURI(t, d), sqldb.DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			fn(t, c)
		})
	}
}

var ctx = context.Background()

func mustPool(t *testing.T, c *catalog.Catalog, p catalog.Pool) {
	t.Helper()
	if _, err := c.PutPool(ctx, p); err != nil {
		t.Fatalf("put pool %s: %v", p.Name, err)
	}
}

func TestMigrationsAreVersionedAndIdempotent(t *testing.T) {
	for _, d := range sqltest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			uri := sqltest.FreshURI(t, d)
			for i := 0; i < 2; i++ {
				c, err := catalog.Open(ctx, uri, sqldb.DefaultOptions())
				if err != nil {
					t.Fatalf("open %d: %v", i, err)
				}
				v, err := c.DB().SchemaVersion(ctx, catalog.Migrations())
				c.Close()
				if err != nil || v != 2 {
					t.Fatalf("schema version %d, %v; want 2", v, err)
				}
			}
		})
	}
}

func TestPools(t *testing.T) {
	each(t, func(t *testing.T, c *catalog.Catalog) {
		created, err := c.PutPool(ctx, catalog.Pool{Name: "p1", URI: "badger:///a", Weight: 100, Options: map[string]any{"k": "v"}})
		if err != nil || !created {
			t.Fatalf("create: %v %v", created, err)
		}
		// PUT of an existing name overwrites it.
		created, err = c.PutPool(ctx, catalog.Pool{Name: "p1", URI: "badger:///a2", Weight: 5})
		if err != nil || created {
			t.Fatalf("overwrite: created=%v err=%v", created, err)
		}
		p, err := c.GetPool(ctx, "p1")
		if err != nil || p.URI != "badger:///a2" || p.Weight != 5 || len(p.Options) != 0 {
			t.Fatalf("after overwrite: %+v %v", p, err)
		}
		mustPool(t, c, catalog.Pool{Name: "p2", URI: "badger:///b", Weight: 1, Options: map[string]any{"partitions": 2}})
		// A second pool with the same URI is a typed duplicate.
		_, err = c.PutPool(ctx, catalog.Pool{Name: "p3", URI: "badger:///b", Weight: 1})
		var dup *sqldb.DuplicateError
		if !errors.Is(err, catalog.ErrPoolURIInUse) || !errors.As(err, &dup) || !dup.HasColumn("uri") {
			t.Fatalf("duplicate uri: %v", err)
		}
		if err := c.UpdatePool(ctx, "p1", catalog.PoolUpdate{URI: ptr("badger:///b")}); !errors.Is(err, catalog.ErrPoolURIInUse) {
			t.Fatalf("update to a used uri: %v", err)
		}
		// A pool naming a missing flavor is a typed reference error.
		_, err = c.PutPool(ctx, catalog.Pool{Name: "p4", URI: "badger:///d", Weight: 1, Flavor: "nope"})
		var ref *sqldb.ReferenceError
		if !errors.Is(err, catalog.ErrFlavorNotFound) || !errors.As(err, &ref) {
			t.Fatalf("dangling flavor: %v", err)
		}
		if err := c.UpdatePool(ctx, "p1", catalog.PoolUpdate{Flavor: ptr("nope")}); !errors.Is(err, catalog.ErrFlavorNotFound) {
			t.Fatalf("update to a dangling flavor: %v", err)
		}
		if err := c.UpdatePool(ctx, "ghost", catalog.PoolUpdate{Weight: ptr(int64(3))}); !errors.Is(err, catalog.ErrPoolNotFound) {
			t.Fatalf("update of a missing pool: %v", err)
		}
		if err := c.UpdatePool(ctx, "p2", catalog.PoolUpdate{Weight: ptr(int64(1))}); err != nil {
			t.Fatalf("update to the same value: %v", err)
		}
		list, err := c.ListPools(ctx, "", 10)
		if err != nil || len(list) != 2 || list[0].Name != "p1" || list[1].Name != "p2" {
			t.Fatalf("list: %+v %v", list, err)
		}
		if n, _ := list[1].Options["partitions"].(interface{ String() string }); n == nil || n.String() != "2" {
			t.Fatalf("options round trip: %#v", list[1].Options)
		}
		list, _ = c.ListPools(ctx, "p1", 10)
		if len(list) != 1 || list[0].Name != "p2" {
			t.Fatalf("list after marker: %+v", list)
		}
		if _, err := c.GetPool(ctx, "ghost"); !errors.Is(err, catalog.ErrPoolNotFound) {
			t.Fatalf("get missing: %v", err)
		}
		if err := c.DeletePool(ctx, "p2"); err != nil {
			t.Fatal(err)
		}
		if err := c.DeletePool(ctx, "p2"); err != nil {
			t.Fatalf("delete of a missing pool: %v", err)
		}
	})
}

func TestFlavors(t *testing.T) {
	each(t, func(t *testing.T, c *catalog.Catalog) {
		mustPool(t, c, catalog.Pool{Name: "a", URI: "badger:///a", Weight: 1})
		mustPool(t, c, catalog.Pool{Name: "b", URI: "badger:///b", Weight: 1})
		mustPool(t, c, catalog.Pool{Name: "c", URI: "badger:///c", Weight: 1})
		if _, err := c.PutFlavor(ctx, catalog.Flavor{Name: "gold", Project: "p", Pools: []string{"a", "ghost"}}); !errors.Is(err, catalog.ErrPoolNotFound) {
			t.Fatalf("flavor with a missing pool: %v", err)
		}
		// The failed create left nothing behind.
		if _, err := c.GetFlavor(ctx, "p", "gold"); !errors.Is(err, catalog.ErrFlavorNotFound) {
			t.Fatalf("failed create left a flavor: %v", err)
		}
		if p, _ := c.GetPool(ctx, "a"); p.Flavor != "" {
			t.Fatalf("failed create left pool a in flavor %q", p.Flavor)
		}
		created, err := c.PutFlavor(ctx, catalog.Flavor{Name: "gold", Project: "p", Pools: []string{"a", "b"}, Capabilities: map[string]any{"FIFO": true}})
		if err != nil || !created {
			t.Fatalf("create: %v %v", created, err)
		}
		f, err := c.GetFlavor(ctx, "p", "gold")
		if err != nil || len(f.Pools) != 2 || f.Pools[0] != "a" || f.Pools[1] != "b" || f.Capabilities["FIFO"] != true {
			t.Fatalf("get: %+v %v", f, err)
		}
		if _, err := c.GetFlavor(ctx, "other-project", "gold"); !errors.Is(err, catalog.ErrFlavorNotFound) {
			t.Fatalf("flavor visible from another project: %v", err)
		}
		if _, err := c.PutFlavor(ctx, catalog.Flavor{Name: "gold", Project: "other-project", Pools: []string{"c"}}); !errors.Is(err, catalog.ErrFlavorNameTaken) {
			t.Fatalf("same name in another project: %v", err)
		}
		// Replacing the pool list moves membership.
		if created, err := c.PutFlavor(ctx, catalog.Flavor{Name: "gold", Project: "p", Pools: []string{"b", "c"}}); err != nil || created {
			t.Fatalf("replace: %v %v", created, err)
		}
		if p, _ := c.GetPool(ctx, "a"); p.Flavor != "" {
			t.Fatalf("pool a still in flavor %q", p.Flavor)
		}
		pools, err := c.PoolsOfFlavor(ctx, "gold")
		if err != nil || len(pools) != 2 || pools[0].Name != "b" {
			t.Fatalf("pools of gold: %+v %v", pools, err)
		}
		unflavored, _ := c.PoolsOfFlavor(ctx, "")
		if len(unflavored) != 1 || unflavored[0].Name != "a" {
			t.Fatalf("pools without flavor: %+v", unflavored)
		}
		list, err := c.ListFlavors(ctx, "p", "", 10)
		if err != nil || len(list) != 1 || list[0].Name != "gold" {
			t.Fatalf("list: %+v %v", list, err)
		}
		// The last pool of a flavor cannot be deleted.
		if err := c.DeletePool(ctx, "b"); err != nil {
			t.Fatalf("delete one of two: %v", err)
		}
		var inUse *catalog.PoolInUseError
		if err := c.DeletePool(ctx, "c"); !errors.As(err, &inUse) || inUse.Flavor != "gold" {
			t.Fatalf("delete the last pool of a flavor: %v", err)
		}
		// Deleting the flavor clears it from its pools.
		if err := c.DeleteFlavor(ctx, "p", "gold"); err != nil {
			t.Fatal(err)
		}
		if p, _ := c.GetPool(ctx, "c"); p.Flavor != "" {
			t.Fatalf("pool c keeps deleted flavor %q", p.Flavor)
		}
		if err := c.DeletePool(ctx, "c"); err != nil {
			t.Fatalf("delete after flavor removal: %v", err)
		}
	})
}

func TestCatalogue(t *testing.T) {
	each(t, func(t *testing.T, c *catalog.Catalog) {
		mustPool(t, c, catalog.Pool{Name: "a", URI: "badger:///a", Weight: 1})
		mustPool(t, c, catalog.Pool{Name: "b", URI: "badger:///b", Weight: 1})
		if _, err := c.Lookup(ctx, "p", "q"); !errors.Is(err, catalog.ErrNotRegistered) {
			t.Fatalf("lookup of unregistered: %v", err)
		}
		if got, err := c.Register(ctx, "p", "q", "a"); err != nil || got != "a" {
			t.Fatalf("register: %s %v", got, err)
		}
		// A second registration (a lost race) returns the winner's pool.
		if got, err := c.Register(ctx, "p", "q", "b"); err != nil || got != "a" {
			t.Fatalf("second register: %s %v", got, err)
		}
		if _, err := c.Register(ctx, "p", "q2", "ghost"); !errors.Is(err, catalog.ErrPoolNotFound) {
			t.Fatalf("register to a missing pool: %v", err)
		}
		// Names are case-sensitive on every database.
		if got, err := c.Register(ctx, "p", "Q", "b"); err != nil || got != "b" {
			t.Fatalf("register Q: %s %v", got, err)
		}
		c.Register(ctx, "p", "r", "b")
		c.Register(ctx, "other", "q", "b")
		names, err := c.ListQueues(ctx, "p", "", 10, false)
		if err != nil || len(names) != 3 || names[0] != "Q" || names[1] != "q" || names[2] != "r" {
			t.Fatalf("list: %v %v", names, err)
		}
		names, _ = c.ListQueues(ctx, "p", "q", 10, false)
		if len(names) != 1 || names[0] != "r" {
			t.Fatalf("list after marker: %v", names)
		}
		if n, err := c.CountQueues(ctx, "p"); err != nil || n != 3 {
			t.Fatalf("count: %d %v", n, err)
		}
		// Topics are registered under their storage names, as long as the
		// longest queue name and the prefix, and listed apart.
		long := storage.TopicKey(strings.Repeat("t", 64))
		if got, err := c.Register(ctx, "p", long, "b"); err != nil || got != "b" {
			t.Fatalf("register a topic of 64 characters: %s %v", got, err)
		}
		if names, err := c.ListQueues(ctx, "p", "", 10, true); err != nil || len(names) != 1 || names[0] != long {
			t.Fatalf("list topics: %v %v", names, err)
		}
		if names, _ := c.ListQueues(ctx, "p", "", 10, false); len(names) != 3 {
			t.Fatalf("list queues with a topic registered: %v", names)
		}
		if n, err := c.CountQueues(ctx, "p"); err != nil || n != 3 {
			t.Fatalf("count with a topic registered: %d %v", n, err)
		}
		c.Deregister(ctx, "p", long)
		// A pool holding queues is kept.
		var inUse *catalog.PoolInUseError
		if err := c.DeletePool(ctx, "a"); !errors.As(err, &inUse) || !inUse.Queues {
			t.Fatalf("delete a pool holding queues: %v", err)
		}
		if err := c.Deregister(ctx, "p", "q"); err != nil {
			t.Fatal(err)
		}
		if err := c.Deregister(ctx, "p", "q"); err != nil {
			t.Fatalf("deregister twice: %v", err)
		}
		if err := c.DeletePool(ctx, "a"); err != nil {
			t.Fatalf("delete an emptied pool: %v", err)
		}
	})
}

func ptr[T any](v T) *T { return &v }
