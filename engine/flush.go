package engine

import (
	"sort"
	"time"

	"github.com/zaqar-go/zaqar/wal"
)

// flushJob carries applied records to the flusher, with the WAL index of
// the last one (0 for changes that are not logged, such as reaping).
type flushJob struct {
	recs []applied
	last uint64
	reap []reaped
	sync chan struct{} // when set, closed after the job is durable in Badger
	// group is the writer's number of the group (0 in recovery); gaps the
	// descriptors of the gaps it changed.
	group uint64
	gaps  []gapDesc
	msgs  int64 // messages posted by the job's records, counted in flushLag
}

// maxFlushLag bounds the messages posted and not yet written to Badger, per
// partition (a second's worth at the rates the HTTP server sustains):
// over it the writer waits for the flusher (awaitFlusher). Until written,
// they can neither leave memory (gap.go) nor be forgotten by the flush
// jobs that carry them, so a flusher slower than the posts would
// otherwise let memory grow with the backlog.
const maxFlushLag = 64 << 10

// postedMessages counts the messages the records post.
func postedMessages(recs []applied) int64 {
	var n int64
	for _, a := range recs {
		n += int64(len(a.rec.Msgs))
	}
	return n
}

// awaitFlusher holds the writer while the flusher lags more than
// maxFlushLag messages behind it; reads go on meanwhile. Writer only.
func (p *partition) awaitFlusher() {
	for p.flushLag.Load() > maxFlushLag {
		select {
		case <-p.lagShrank:
		case <-p.stop:
			return
		}
	}
}

// flusher writes applied records to Badger without sync, then
// periodically checkpoints: Badger is synced, the last covered WAL index is
// recorded, and WAL segments it covers are deleted.
//
// Jobs wait flushAge before they are written: the log holds them anyway
// until the next checkpoint, and a message consumed meanwhile (posted,
// claimed and deleted within flushAge, as under a steady stream of
// consumers) then costs Badger nothing: its batch is never written, where
// writing at once cost a value per post, another per claim and a
// tombstone per delete. Readers never wait for the flusher (memory is
// never behind the log); only recovery replays a little more log.
func (p *partition) flusher() {
	defer close(p.flusherDone)
	tick := time.NewTicker(p.eng.opts.CheckpointInterval)
	defer tick.Stop()
	age := p.flushAge()
	aging := time.NewTicker(max(age/4, time.Millisecond))
	defer aging.Stop()
	var pending uint64 // last WAL index written to Badger, not yet checkpointed
	var held []heldJob // arrived, not yet written, in order
	var heldMsgs int64 // messages the held jobs post
	// write persists held jobs that arrived before cutoff (all with a zero
	// cutoff) and answers their sync requests.
	write := func(cutoff time.Time) {
		n := len(held)
		if !cutoff.IsZero() {
			n = sort.Search(len(held), func(i int) bool { return !held[i].at.Before(cutoff) })
		}
		if n == 0 {
			return
		}
		jobs := make([]flushJob, n)
		for i := range jobs {
			jobs[i] = held[i].job
		}
		held = append(held[:0], held[n:]...)
		err := p.persist(jobs...)
		if err != nil {
			p.fail(err)
		}
		for _, job := range jobs {
			heldMsgs -= job.msgs
			if job.msgs != 0 {
				p.flushLag.Add(-job.msgs)
				select {
				case p.lagShrank <- struct{}{}:
				default:
				}
			}
			if err == nil && job.last > 0 {
				pending = job.last
			}
			if err == nil && job.group > p.flushedGroup.Load() {
				// What this group left in memory is on disk: the writer
				// may evict it (gap.go).
				p.flushedGroup.Store(job.group)
			}
			if job.sync != nil {
				if err == nil {
					p.checkpoint(pending)
				}
				close(job.sync)
			}
		}
	}
	// add holds a job that arrived; false once the channel is closed and
	// everything written.
	add := func(job flushJob, ok bool, now time.Time) bool {
		if !ok {
			if !p.noFlush {
				write(time.Time{})
				p.checkpoint(pending)
			}
			return false
		}
		held = append(held, heldJob{job: job, at: now})
		heldMsgs += job.msgs
		if job.sync != nil || heldMsgs >= maxFlushLag/2 {
			// Asked to, or the writer is about to wait for it.
			write(time.Time{})
		}
		return true
	}
	// take adds the jobs queued so far, without waiting for more.
	take := func() bool {
		now := time.Now()
		for {
			select {
			case job, ok := <-p.flushes:
				if !add(job, ok, now) {
					return false
				}
			default:
				return true
			}
		}
	}
	poll := time.NewTimer(flushPoll)
	poll.Stop()
	defer poll.Stop()
	polling := false
	for {
		// With jobs held the flusher takes new ones every flushPoll; with
		// none it waits on the channel, so an idle partition costs no
		// wakeups.
		var idle <-chan flushJob
		if len(held) == 0 {
			idle = p.flushes
		}
		select {
		case job, ok := <-idle:
			if !add(job, ok, time.Now()) {
				return
			}
		case <-poll.C:
			polling = false
			if !take() {
				return
			}
		case now := <-aging.C:
			if !take() {
				return
			}
			write(now.Add(-age))
		case now := <-tick.C:
			if !take() {
				return
			}
			write(now.Add(-age))
			p.checkpoint(pending)
		}
		if len(held) > 0 && !polling {
			poll.Reset(flushPoll)
			polling = true
		}
	}
}

// flushPoll is how often a flusher holding jobs takes the new ones. It
// does not wait on the channel meanwhile: a receiver waiting there is
// woken for every group the writer completes (thousands a second under
// load, each a goroutine switch, which on a 2-vCPU VM cost several µs of
// CPU per post), and jobs wait flushAge before they are written anyway.
// The channel's capacity (4 x maxFlushJobs) holds far more than a poll's
// worth.
const flushPoll = 5 * time.Millisecond

// heldJob is a flush job waiting for its age.
type heldJob struct {
	job flushJob
	at  time.Time
}

// flushAgeMax is how long a flush job waits at most: a quarter of the
// checkpoint interval when that is shorter, so that each checkpoint covers
// nearly all it could.
const flushAgeMax = time.Second

func (p *partition) flushAge() time.Duration {
	return min(flushAgeMax, p.eng.opts.CheckpointInterval/4)
}

// maxFlushJobs sizes the channel of flush jobs: the flusher drains it into
// its held list continuously, so the pipeline never blocks on it.
const maxFlushJobs = 256

// checkpoint makes Badger durable up to the last flushed WAL index, then
// deletes every log segment that the checkpoint covers and that holds no
// live message body (retention decides). The active segment is rotated
// when idle so that it too can go once its messages are gone.
func (p *partition) checkpoint(upTo uint64) {
	if upTo > p.ckpt.Load() {
		// Badger's index points into the log: the log must be on disk up
		// to upTo before a checkpoint says Badger covers it, or a crash
		// would leave index entries without their bodies and a log that
		// ends before the checkpoint. With fsync=always only claims
		// (leaseOnly) and a group between its write and its holder's
		// sync can be waiting for one; completing that group here is
		// safe (answerLeases), and a log with none costs nothing.
		sync := p.log.Sync
		if p.eng.opts.Fsync == wal.SyncAlways {
			sync = p.log.SyncWritten
		}
		if err := sync(); err != nil {
			p.logger.Error("wal sync for checkpoint failed", "err", err)
			return
		}
		if err := p.db.Sync(); err != nil {
			p.logger.Error("badger sync failed", "err", err)
			return
		}
		p.ckpt.Store(upTo)
	}
	ck := p.ckpt.Load()
	if ck == 0 {
		return
	}
	segs := p.log.Segments()
	if p.ret.shouldRotate(segs[len(segs)-1], ck, p.log.LastIndex()) {
		if err := p.log.Rotate(); err != nil {
			p.logger.Warn("wal rotate failed", "err", err)
			return
		}
		segs = p.log.Segments()
	}
	for _, first := range p.ret.deletable(segs, ck) {
		if err := p.log.Remove(first); err != nil {
			p.logger.Warn("wal segment removal failed", "segment", first, "err", err)
		}
	}
}
