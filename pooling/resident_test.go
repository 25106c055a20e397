package pooling

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/zaqar-go/zaqar/backend"
	"github.com/zaqar-go/zaqar/catalog"
	"github.com/zaqar-go/zaqar/engine"
	"github.com/zaqar-go/zaqar/sqldb"
	"github.com/zaqar-go/zaqar/storage"
	"github.com/zaqar-go/zaqar/wal"
)

// metadataReads counts the metadata reads that reach a real store.
type metadataReads struct {
	storage.Store
	n atomic.Int64
}

func (m *metadataReads) GetQueueMetadata(ctx context.Context, project, queue string) (storage.Metadata, error) {
	m.n.Add(1)
	return m.Store.GetQueueMetadata(ctx, project, queue)
}

// TestVirtualPoolPostsReadMetadataOnce: posts to a queue that lives
// unregistered in the default store read its metadata once, not once per
// post, and a deleted resident is placed anew.
func TestVirtualPoolPostsReadMetadataOnce(t *testing.T) {
	ctx := context.Background()
	cat, err := catalog.Open(ctx, "sqlite:///"+filepath.Join(t.TempDir(), "c.db"), sqldb.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	eo := engine.DefaultOptions(t.TempDir())
	eo.Fsync, eo.Logger = wal.SyncNever, quiet
	e, err := engine.Open(eo)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	def := &metadataReads{Store: e}
	s, err := New(Options{Catalog: cat, Default: def, Capabilities: backend.Capabilities, Logger: quiet,
		Open: func(uri string, settings map[string]any) (storage.Store, error) {
			return backend.Open(uri, backend.Options{Settings: settings, Logger: quiet})
		}})
	if err != nil {
		t.Fatal(err)
	}
	post := func() {
		t.Helper()
		if _, err := s.PostMessages(ctx, "p", "q", "c", []storage.NewMessage{{Body: []byte(`1`), TTL: 300}}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 10; i++ {
		post()
	}
	if n := def.n.Load(); n != 1 {
		t.Fatalf("10 posts read the metadata %d times, want 1 (the first, to find the queue missing)", n)
	}
	if st, _ := e.QueueStats(ctx, "p", "q"); st.Total != 10 {
		t.Fatalf("default store holds %d messages, want 10", st.Total)
	}
	// Deleted, the queue is no longer known to live there: the next post
	// looks again (and, with pools, would register it on one).
	if err := s.DeleteQueue(ctx, "p", "q"); err != nil {
		t.Fatal(err)
	}
	post()
	if n := def.n.Load(); n != 2 {
		t.Fatalf("a post after the delete read the metadata %d times in all, want 2", n)
	}
}
