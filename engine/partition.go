package engine

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/dgraph-io/badger/v4"

	"github.com/zaqar-go/zaqar/wal"
)

// partition owns the queues that hash to it, through four stages with one
// job each:
//
//   - the state machine (state, apply.go): queues, messages, claims,
//     subscriptions in memory, changed only by applying records;
//   - the commit pipeline (writer.go, pipeline.go): the request holding
//     the write role validates the queued requests against the state,
//     applies and logs their records as one WAL frame and syncs it;
//     groups complete in order once durable;
//   - the flusher (flush.go, persist.go): writes applied records to Badger
//     (schema.go) in large unsynced batches and checkpoints;
//   - retention (retention.go): which log segments may be deleted.
//
// Ownership: the holder of the write role alone mutates the state and
// appends to the WAL ("writer only" below means it); the flusher
// goroutine alone writes to Badger and deletes WAL segments. Other
// request goroutines only read.
type partition struct {
	state
	id     int
	eng    *Engine
	db     *badger.DB
	log    *wal.Log
	logger *slog.Logger

	writer      writeRole
	callerSyncs bool          // fsync always: the write role's holders sync the log (writer.go)
	batch       []*op         // write role only: the ops of the current group
	enc         groupEncoding // write role only
	group       []applied     // write role only: records applied in the current group
	reaped      []reaped      // writer-only: messages the reaper removed in the current group
	pipeMu      sync.Mutex
	pipe        []*commit  // groups not yet completed, in order
	drained     *sync.Cond // on pipeMu: the pipe became empty (backup.go waits for it)
	flushes     chan flushJob

	ret  retention
	wake waker
	ckpt atomic.Uint64 // last WAL index durable in Badger

	noFlush     bool // tests: never write to Badger, recover from the WAL alone
	broken      atomic.Pointer[error]
	stop        chan struct{}
	flusherDone chan struct{}

	flushState flushState // flusher-only scratch space

	// The paged index (gap.go). Writer-only unless noted.
	window       int                 // messages of a queue's head kept in memory
	pageIns      int                 // page-ins that brought messages in (tests); writer only
	groupSeq     uint64              // number of the current group
	lastJobGroup uint64              // last group that handed the flusher a job
	flushedGroup atomic.Uint64       // every job up to this group is in Badger (set by the flusher)
	evicting     map[*queue]struct{} // queues with an eviction under way
	gapsChanged  map[*queue]struct{} // queues whose gap changed in this group
	checkAll     bool                // look at every queue's window at the end of this group
	flushLag     atomic.Int64        // messages handed to the flusher, not yet written (flush.go)
	lagShrank    chan struct{}       // the flusher wrote some: a waiting writer looks again
}

func openPartition(e *Engine, id int) (*partition, error) {
	o := e.opts
	lg, err := wal.Open(wal.Options{
		Dir: filepath.Join(o.Dir, "wal", partitionLogDir(id)), SegmentSize: o.SegmentSize,
		Sync: o.Fsync, SyncInterval: o.FsyncInterval, Compression: o.Compression, Logger: o.Logger,
		CallerSyncs: o.Fsync == wal.SyncAlways,
	})
	if err != nil {
		return nil, fmt.Errorf("partition %d: %w", id, err)
	}
	p := &partition{
		state: newState(), id: id, eng: e, db: e.db, log: lg, logger: o.Logger.With("partition", id),
		callerSyncs: o.Fsync == wal.SyncAlways, flushes: make(chan flushJob, 4*maxFlushJobs), ret: newRetention(),
		stop: make(chan struct{}), flusherDone: make(chan struct{}),
		flushState: newFlushState(), window: o.IndexWindow, evicting: map[*queue]struct{}{},
		gapsChanged: map[*queue]struct{}{}, checkAll: true, lagShrank: make(chan struct{}, 1),
	}
	p.state.part = p
	p.drained = sync.NewCond(&p.pipeMu)
	p.writer.idle.L = &p.writer.mu
	return p, nil
}

// partitionLogDir names partition id's log directory under Dir/wal.
func partitionLogDir(id int) string { return fmt.Sprintf("p%02d", id) }

func (p *partition) start() {
	p.sizeWindow()
	go p.flusher()
}

// fail stops the partition after a log or Badger failure.
func (p *partition) fail(err error) {
	if p.broken.CompareAndSwap(nil, &err) {
		p.logger.Error("partition stopped after a write failure", "err", err)
	}
}

// publish makes the writer's view of every touched queue visible to
// readers (recovery; live groups publish through their commit).
func (p *partition) publishTouched() {
	for q := range p.touched {
		q.publish()
		delete(p.touched, q)
	}
}
