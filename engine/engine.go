package engine

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"

	"github.com/zaqar-go/zaqar/storage"
	"github.com/zaqar-go/zaqar/wal"
)

// Defaults of Options. zaqar-server's configuration table uses these too,
// so the documented default and the code cannot drift apart.
const (
	DefaultPartitions         = 4
	DefaultFsync              = wal.SyncAlways
	DefaultFsyncInterval      = 50 * time.Millisecond
	DefaultSegmentSize        = 64 << 20
	DefaultReapInterval       = time.Second
	DefaultCheckpointInterval = 10 * time.Second
	DefaultBadgerCacheBytes   = 64 << 20
	maxPartitions             = 256
	// MinSegmentSize is the smallest log segment accepted.
	MinSegmentSize = 64 << 10
)

// Options configure the engine. Every durability tunable is here.
type Options struct {
	// Dir is the data directory: Badger under Dir/badger, the partition
	// logs under Dir/wal/pNN.
	Dir string
	// Partitions is the number of partitions, set when the directory is
	// created and changed only by Repartition (offline). Each has one
	// writer goroutine and its own log.
	Partitions int
	// Fsync is when the log is forced to disk: wal.SyncAlways
	// (acknowledged means durable), wal.SyncInterval, or wal.SyncNever
	// (UNSAFE: a crash loses acknowledged messages).
	Fsync         wal.SyncPolicy
	FsyncInterval time.Duration // period for wal.SyncInterval
	SegmentSize   int64         // log segment size in bytes
	Compression   bool          // S2-compress log frames
	// ReapInterval is how often expired messages and claims are removed
	// from memory and disk.
	ReapInterval time.Duration
	// CheckpointInterval is how often Badger is synced so that covered log
	// segments can be deleted: longer costs fewer disk stalls, shorter
	// keeps less log to hold and to replay after a crash.
	CheckpointInterval time.Duration
	// BadgerCacheBytes sizes Badger's block cache.
	BadgerCacheBytes int64
	// MinFreeBytes is the reserve kept free on the data directory's
	// filesystem: below it, posts are refused (space.go).
	MinFreeBytes int64
	// MaxBytes is the data directory's budget: over it, posts are refused
	// (0 = no budget).
	MaxBytes int64
	// IndexWindow is how many of a queue's oldest messages the index keeps
	// in memory (at least 2); the rest of a backlog is paged in from disk
	// as consumers advance (gap.go).
	IndexWindow int
	// IndexMemory is the memory the resident index of all queues may use:
	// each partition shares its part among its queues that hold messages,
	// whose windows shrink from IndexWindow down to a few dozen messages as
	// queues multiply (budget.go). 0 = every queue keeps IndexWindow.
	IndexMemory int64
	Clock       storage.Clock // nil = time.Now
	Logger      *slog.Logger  // nil = slog.Default()

	noFlush bool // tests only: skip Badger writes so recovery uses the log alone
	// storedPartitions: open with the partition count the directory was
	// created with, whatever Partitions says (Repartition).
	storedPartitions bool
}

// DefaultOptions returns the defaults for a store in dir.
func DefaultOptions(dir string) Options {
	return Options{
		Dir: dir, Partitions: DefaultPartitions, Fsync: DefaultFsync, FsyncInterval: DefaultFsyncInterval,
		SegmentSize: DefaultSegmentSize, ReapInterval: DefaultReapInterval,
		CheckpointInterval: DefaultCheckpointInterval, BadgerCacheBytes: DefaultBadgerCacheBytes,
		MinFreeBytes: DefaultMinFreeBytes, IndexWindow: DefaultIndexWindow, IndexMemory: DefaultIndexMemory,
	}
}

// Validate reports out-of-range options.
func (o Options) Validate() error {
	switch {
	case o.Dir == "":
		return errors.New("engine: data directory is required")
	case o.Partitions < 1 || o.Partitions > maxPartitions:
		return fmt.Errorf("engine: partitions must be 1..256, got %d", o.Partitions)
	case o.SegmentSize < MinSegmentSize:
		return fmt.Errorf("engine: segment size must be at least 64 KiB, got %d", o.SegmentSize)
	case o.ReapInterval <= 0 || o.CheckpointInterval <= 0:
		return errors.New("engine: reap and checkpoint intervals must be positive")
	case o.MinFreeBytes < 0 || o.MaxBytes < 0 || o.IndexMemory < 0:
		return errors.New("engine: min_free_bytes, max_bytes and index_memory must not be negative")
	case o.IndexWindow < 2:
		return fmt.Errorf("engine: index window must be at least 2, got %d", o.IndexWindow)
	}
	return nil
}

// Engine is the embedded message store. It implements storage.Store.
type Engine struct {
	opts   Options
	db     *badger.DB
	parts  []*partition
	stop   chan struct{}
	bg     sync.WaitGroup
	closed atomic.Bool
	mu     sync.Mutex // serialises Close

	posted, deleted, claimed atomic.Uint64
	full                     atomic.Pointer[error] // why posts are refused, or nil (space.go)
	room                     atomic.Int64          // bytes posts may still write before the next space check
}

var _ storage.Store = (*Engine)(nil)

// valueThreshold is the size above which Badger keeps a value in its
// value log rather than in the LSM tree.
const valueThreshold = 128

// badgerMemTable is Badger's memtable size (its memory-mapped log is twice
// that), smaller on a nearly full disk (space.go).
const badgerMemTable = 32 << 20

// badgerIndexCache sizes Badger's cache of table indexes and Bloom filters.
const badgerIndexCache = 16 << 20

// badgerValueLogFile is the size of Badger's value log files. Badger
// reads its last value log file whole at every open (to find where it
// ends) and maps each file at twice this size: with its default of 1 GiB
// a start after a busy run read up to a gigabyte (8 s for 480 MB on the
// test machine), and a file could be mapped into space the disk does not
// have. The largest value the engine writes (a batch's index, or a body
// with compression) is far below it.
const badgerValueLogFile = 16 << 20

// Open opens or creates the store in opts.Dir and recovers its state.
func Open(opts Options) (*Engine, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	// The time of each step of the start is logged: a start is meant to
	// take about as long whatever the backlog (docs/paged-index.md).
	started := time.Now()
	// Values over valueThreshold go to Badger's value log: a posted batch's
	// value is then written once, rather than into a memtable that is
	// flushed and compacted again (docs/performance.md has the figures).
	memTable, err := memTableFor(opts.Dir, badgerMemTable)
	if err != nil {
		return nil, err
	}
	db, err := badger.Open(badgerOptions(opts, memTable))
	if err != nil {
		return nil, fmt.Errorf("%w: open badger: %v", storage.ErrUnavailable, err)
	}
	badgerOpened := time.Now()
	e := &Engine{opts: opts, db: db, stop: make(chan struct{})}
	var nofull error
	e.full.Store(&nofull)
	if err := e.checkPartitions(); err != nil {
		db.Close()
		return nil, err
	}
	for i := 0; i < e.opts.Partitions; i++ {
		p, err := openPartition(e, i)
		if err != nil {
			e.closePartial()
			return nil, err
		}
		p.noFlush = opts.noFlush
		e.parts = append(e.parts, p)
	}
	logsOpened := time.Now()
	if err := e.load(); err != nil {
		e.closePartial()
		return nil, err
	}
	loaded := time.Now()
	for _, p := range e.parts {
		if err := p.recover(); err != nil {
			e.closePartial()
			return nil, err
		}
		p.start()
	}
	e.checkSpace()
	e.bg.Add(1)
	go e.reaper()
	level := slog.LevelInfo
	if opts.Fsync == wal.SyncNever {
		level = slog.LevelWarn
	}
	opts.Logger.Log(nil, level, "engine open", "dir", opts.Dir, "partitions", e.opts.Partitions,
		"fsync", opts.Fsync.String(), "unsafe", opts.Fsync == wal.SyncNever,
		"took", time.Since(started).Round(time.Millisecond), "badger", badgerOpened.Sub(started).Round(time.Millisecond),
		"logs", logsOpened.Sub(badgerOpened).Round(time.Millisecond), "index", loaded.Sub(logsOpened).Round(time.Millisecond),
		"replay", time.Since(loaded).Round(time.Millisecond))
	return e, nil
}

// badgerOptions are the options of the data directory's Badger.
func badgerOptions(opts Options, memTable int64) badger.Options {
	return badger.DefaultOptions(filepath.Join(opts.Dir, "badger")).
		WithSyncWrites(false).WithDetectConflicts(false).WithNumCompactors(2).
		WithNumGoroutines(max(2, runtime.GOMAXPROCS(0))).WithValueThreshold(valueThreshold).
		WithBlockCacheSize(opts.BadgerCacheBytes).WithIndexCacheSize(badgerIndexCache).
		WithMemTableSize(memTable).WithValueLogFileSize(badgerValueLogFile).WithCompression(options.None).
		WithLogger(badgerLogger{opts.Logger.With("component", "badger")})
}

func (e *Engine) checkPartitions() error {
	return e.db.Update(func(txn *badger.Txn) error {
		it, err := txn.Get(partitionsKey)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return txn.Set(partitionsKey, binary.BigEndian.AppendUint32(nil, uint32(e.opts.Partitions)))
		}
		if err != nil {
			return err
		}
		v, err := it.ValueCopy(nil)
		if err != nil || len(v) != 4 {
			return fmt.Errorf("engine: unreadable partition count: %v", err)
		}
		n := int(binary.BigEndian.Uint32(v))
		if e.opts.storedPartitions && n >= 1 && n <= maxPartitions {
			e.opts.Partitions = n
		}
		if n != e.opts.Partitions {
			return fmt.Errorf("engine: %s was created with %d partitions; configured %d (zaqar-server repartition changes the count)", e.opts.Dir, n, e.opts.Partitions)
		}
		return nil
	})
}

func (e *Engine) closePartial() {
	for _, p := range e.parts {
		p.log.Close()
	}
	e.db.Close()
}

func (e *Engine) now() int64 { return e.opts.Clock().UnixNano() }

// Partitions reports the partition count.
func (e *Engine) Partitions() int { return len(e.parts) }

func (e *Engine) partitionIndex(project, queue string) int {
	return partitionOf(project, queue, len(e.parts))
}

// partitionOf is the partition of a queue among n.
func partitionOf(project, queue string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(project))
	h.Write([]byte{0})
	h.Write([]byte(queue))
	return int(h.Sum32() % uint32(n))
}

func (e *Engine) partition(project, queue string) *partition {
	return e.parts[e.partitionIndex(project, queue)]
}

// Ping reports whether the engine serves requests.
func (e *Engine) Ping(ctx context.Context) error {
	if e.closed.Load() {
		return fmt.Errorf("%w: engine closed", storage.ErrUnavailable)
	}
	for _, p := range e.parts {
		if b := p.broken.Load(); b != nil {
			return fmt.Errorf("%w: partition %d: %v", storage.ErrUnavailable, p.id, *b)
		}
	}
	return nil
}

// Close drains the writers, writes everything to Badger, checkpoints and
// closes. Later calls return storage.ErrUnavailable.
func (e *Engine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed.Swap(true) {
		return nil
	}
	close(e.stop)
	e.bg.Wait()
	return e.shutdown(true)
}

func (e *Engine) shutdown(flush bool) error {
	var errs []error
	for _, p := range e.parts {
		close(p.stop)
		p.stopWriting()
		// Complete the groups still waiting for their sync.
		if err := p.log.Sync(); err != nil {
			errs = append(errs, err)
		}
		if !flush {
			p.noFlush = true
		}
		close(p.flushes)
		<-p.flusherDone
		errs = append(errs, p.log.Close())
	}
	errs = append(errs, e.db.Close())
	return errors.Join(errs...)
}

// Dir is the data directory.
func (e *Engine) Dir() string { return e.opts.Dir }
