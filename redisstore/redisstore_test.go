package redisstore

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zaqar-go/zaqar/internal/testenv"
	"github.com/zaqar-go/zaqar/storage"
	"github.com/zaqar-go/zaqar/storage/storagetest"
)

var (
	quiet = slog.New(slog.NewTextHandler(io.Discard, nil))
	runID = time.Now().UnixNano()
	seq   atomic.Int64
)

// open returns a store on the machine's Redis under a prefix of its own,
// whose keys are removed when the test ends.
func open(t testing.TB, clock storage.Clock) *Store {
	t.Helper()
	return openWith(t, Options{Clock: clock, SweepInterval: -1})
}

func openWith(t testing.TB, o Options) *Store {
	t.Helper()
	uri := testenv.RedisURI(t)
	prefix := fmt.Sprintf("zqtest-%d-%d", runID, seq.Add(1))
	o.Prefix, o.Logger = prefix, quiet
	s, err := Open(uri, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(context.Background()); err != nil {
		testenv.Unavailable(t, "redis at %s: %v", uri, err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		iter := s.rdb.Scan(ctx, 0, "{"+prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			s.rdb.Del(ctx, iter.Val())
		}
		s.Close()
	})
	return s
}

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, clock storage.Clock) storage.Store { return open(t, clock) })
}
