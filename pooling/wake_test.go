package pooling

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/zaqar-go/zaqar/backend"
	"github.com/zaqar-go/zaqar/catalog"
	"github.com/zaqar-go/zaqar/engine"
	"github.com/zaqar-go/zaqar/sqldb"
	"github.com/zaqar-go/zaqar/storage"
	"github.com/zaqar-go/zaqar/wal"
)

func woken(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatalf("%s did not wake the waiter", what)
	}
}

func post(t *testing.T, s storage.Store, queue string) {
	t.Helper()
	if _, err := s.PostMessages(context.Background(), "p", queue, "c", []storage.NewMessage{{Body: []byte(`1`), TTL: 300}}); err != nil {
		t.Fatal(err)
	}
}

// TestChangesFollowTheQueuesPool: a waiter of a queue without a pool is
// woken when a post places it; then it waits on the pool's store, which
// wakes it at the next post.
func TestChangesFollowTheQueuesPool(t *testing.T) {
	s, _ := newPooled(t, sqldb.SQLite, nil, 1)
	ch, done, ok := storage.Changes(s, "p", "q")
	if !ok {
		t.Fatal("an unregistered queue must be watchable")
	}
	post(t, s, "q")
	woken(t, ch, "the post that placed the queue")
	done()
	ch, done, ok = storage.Changes(s, "p", "q")
	if !ok {
		t.Fatal("a queue on an embedded pool must be watchable")
	}
	defer done()
	post(t, s, "q")
	woken(t, ch, "a post to the queue's pool")
}

// TestChangesInTheVirtualPool: a queue that does not exist yet, with a
// virtual pool and no pools, is woken by the post that creates it in the
// virtual pool; once resident it waits on the virtual pool's store.
func TestChangesInTheVirtualPool(t *testing.T) {
	ctx := context.Background()
	cat, err := catalog.Open(ctx, "sqlite:///"+filepath.Join(t.TempDir(), "c.db"), sqldb.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	eo := engine.DefaultOptions(t.TempDir())
	eo.Fsync, eo.Logger, eo.Partitions = wal.SyncNever, quiet, 1
	e, err := engine.Open(eo)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	s, err := New(Options{Catalog: cat, Default: e, Capabilities: backend.Capabilities, Logger: quiet,
		Open: func(uri string, settings map[string]any) (storage.Store, error) {
			return backend.Open(uri, backend.Options{Settings: settings, Logger: quiet})
		}})
	if err != nil {
		t.Fatal(err)
	}
	ch, done, ok := storage.Changes(s, "p", "v")
	if !ok {
		t.Fatal("a queue that may land in the virtual pool must be watchable")
	}
	post(t, s, "v")
	woken(t, ch, "the post that created the queue in the virtual pool")
	done()
	ch, done, ok = storage.Changes(s, "p", "v")
	if !ok {
		t.Fatal("a virtual pool resident must be watchable")
	}
	defer done()
	post(t, e, "v") // straight to the engine: proves the waiter is on it
	woken(t, ch, "a post to the virtual pool")
}

// sleepy is a pool store that cannot wake waiters.
type sleepy struct{ storage.Store }

func TestChangesOfAPoolThatCannotWake(t *testing.T) {
	s, _ := newPooled(t, sqldb.SQLite, nil, 1)
	post(t, s, "q")
	st, err := s.resolve(context.Background(), "p", "q")
	if err != nil {
		t.Fatal(err)
	}
	s.cache.Store(cacheKey("p", "q"), cached{pool: "a", store: sleepy{st}, until: time.Now().Add(time.Hour)})
	if _, done, ok := storage.Changes(s, "p", "q"); ok {
		t.Fatal("a pool that cannot wake must be reported so")
	} else {
		done()
	}
}
