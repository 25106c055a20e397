package engine

import (
	"fmt"
	"testing"

	"github.com/zaqar-go/zaqar/storage"
	"github.com/zaqar-go/zaqar/storage/storagetest"
	"github.com/zaqar-go/zaqar/wal"
)

// TestConformance runs the shared store suite over the engine's durability
// permutations, as every store must.
func TestConformance(t *testing.T) {
	for _, fsync := range []wal.SyncPolicy{wal.SyncAlways, wal.SyncNever} {
		for _, comp := range []bool{false, true} {
			t.Run(fmt.Sprintf("fsync=%s/compression=%v", fsync, comp), func(t *testing.T) {
				storagetest.Run(t, func(t *testing.T, clock storage.Clock) storage.Store {
					e := openEngine(t, t.TempDir(), func(o *Options) {
						o.Clock, o.Fsync, o.Compression, o.Partitions = clock, fsync, comp, 2
					})
					t.Cleanup(func() { e.Close() })
					return e
				})
			})
		}
	}
}
