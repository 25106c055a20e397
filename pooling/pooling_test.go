package pooling

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/zaqar-go/zaqar/backend"
	"github.com/zaqar-go/zaqar/catalog"
	"github.com/zaqar-go/zaqar/sqldb"
	"github.com/zaqar-go/zaqar/storage"
)

func TestWeightedPick(t *testing.T) {
	pools := []catalog.Pool{{Name: "zero", Weight: 0}, {Name: "a", Weight: 3}, {Name: "b", Weight: 1}}
	for draw, want := range map[int64]string{0: "a", 2: "a", 3: "b"} {
		s := &Store{o: Options{pick: func(n int64) int64 {
			if n != 4 {
				t.Fatalf("draw range %d, want the weight sum 4", n)
			}
			return draw
		}}}
		if got, ok := s.weighted(pools); !ok || got.Name != want {
			t.Fatalf("draw %d picked %q, want %q", draw, got.Name, want)
		}
	}
	s := &Store{o: Options{pick: func(int64) int64 { t.Fatal("drew with no usable pool"); return 0 }}}
	if _, ok := s.weighted([]catalog.Pool{{Name: "z", Weight: 0}}); ok {
		t.Fatal("a pool of weight 0 was chosen")
	}
}

// TestServersAgreeOnPlacement: two servers (two pooled stores over one
// catalogue) registering the same queues at once put each queue in one
// pool, and both route to it.
func TestServersAgreeOnPlacement(t *testing.T) {
	ctx := context.Background()
	cat, err := catalog.Open(ctx, "sqlite:///"+filepath.Join(t.TempDir(), "c.db"), sqldb.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	dir := t.TempDir()
	for _, name := range []string{"a", "b", "c"} {
		if _, err := cat.PutPool(ctx, catalog.Pool{Name: name, URI: "badger://" + filepath.Join(dir, name) + "?fsync=never&partitions=1", Weight: 1}); err != nil {
			t.Fatal(err)
		}
	}
	// One process may open a directory once: the two "servers" share the
	// opened stores, as two processes share a Redis.
	var mu sync.Mutex
	opened := map[string]storage.Store{}
	open := func(uri string, settings map[string]any) (storage.Store, error) {
		mu.Lock()
		defer mu.Unlock()
		if st, ok := opened[uri]; ok {
			return st, nil
		}
		st, err := backend.Open(uri, backend.Options{Settings: settings, Logger: quiet})
		if err == nil {
			opened[uri] = st
		}
		return st, err
	}
	defer func() {
		for _, st := range opened {
			st.Close()
		}
	}()
	servers := make([]*Store, 2)
	for i := range servers {
		servers[i], err = New(Options{Catalog: cat, Open: open, Capabilities: backend.Capabilities, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
	}
	const queues = 30
	var wg sync.WaitGroup
	for _, s := range servers {
		for i := 0; i < queues; i++ {
			wg.Add(1)
			go func(s *Store, q string) {
				defer wg.Done()
				if _, err := s.PostMessages(ctx, "p", q, "c", []storage.NewMessage{{Body: []byte(`1`), TTL: 300}}); err != nil {
					t.Error(err)
				}
			}(s, fmt.Sprintf("q%d", i))
		}
	}
	wg.Wait()
	for i := 0; i < queues; i++ {
		q := fmt.Sprintf("q%d", i)
		holders := 0
		for _, st := range opened {
			stats, err := st.QueueStats(ctx, "p", q)
			if err == nil {
				holders++
				if stats.Total != 2 {
					t.Fatalf("queue %s holds %d messages in its pool, want both servers' 2", q, stats.Total)
				}
			}
		}
		if holders != 1 {
			t.Fatalf("queue %s exists in %d pools, want 1", q, holders)
		}
	}
}
