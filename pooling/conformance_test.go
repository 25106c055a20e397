package pooling

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/zaqar-go/zaqar/backend"
	"github.com/zaqar-go/zaqar/catalog"
	"github.com/zaqar-go/zaqar/sqldb"
	"github.com/zaqar-go/zaqar/sqldb/sqltest"
	"github.com/zaqar-go/zaqar/storage"
	"github.com/zaqar-go/zaqar/storage/storagetest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// newPooled builds a pooled store over a fresh catalogue of the dialect
// with two embedded pools of the given weights.
func newPooled(t *testing.T, d sqldb.Dialect, clock storage.Clock, weights ...int64) (*Store, *catalog.Catalog) {
	t.Helper()
	ctx := context.Background()
	cat, err := catalog.Open(ctx, sqltest.FreshURI(t, d), sqldb.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for i, w := range weights {
		name := string(rune('a' + i))
		uri := "badger://" + filepath.Join(dir, name) + "?fsync=never"
		if _, err := cat.PutPool(ctx, catalog.Pool{Name: name, URI: uri, Weight: w}); err != nil {
			t.Fatal(err)
		}
	}
	s, err := New(Options{
		Catalog: cat,
		Open: func(uri string, settings map[string]any) (storage.Store, error) {
			return backend.Open(uri, backend.Options{Clock: clock, Settings: settings, Logger: quiet})
		},
		Capabilities: backend.Capabilities,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		cat.Close()
	})
	return s, cat
}

// TestConformance runs the shared storage suite against a pooled store:
// queues spread over two embedded pools behave exactly as one store.
func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, clock storage.Clock) storage.Store {
		s, _ := newPooled(t, sqldb.SQLite, clock, 1, 1)
		return s
	})
}
