package engine

import (
	"fmt"
	"testing"
	"time"

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
	// The paged index: a window of 2 and flushes within milliseconds, so
	// that most backlogs of the suite live partly on disk.
	for _, comp := range []bool{false, true} {
		t.Run(fmt.Sprintf("window=2/compression=%v", comp), func(t *testing.T) {
			storagetest.Run(t, func(t *testing.T, clock storage.Clock) storage.Store {
				e := openEngine(t, t.TempDir(), func(o *Options) {
					o.Clock, o.Compression, o.Partitions, o.IndexWindow = clock, comp, 2, 2
					o.CheckpointInterval = 20 * time.Millisecond
				})
				t.Cleanup(func() { e.Close() })
				return e
			})
		})
	}
}
