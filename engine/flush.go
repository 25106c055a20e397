package engine

import (
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
}

// flusher writes applied records to Badger in large batches without sync,
// then periodically checkpoints: Badger is synced, the last covered WAL
// index is recorded, and WAL segments it covers are deleted. Messages
// deleted before their post reaches the flusher never cost a Badger write.
// Jobs arriving within gatherWait share one Badger batch.
func (p *partition) flusher() {
	defer close(p.flusherDone)
	ckptEvery := p.eng.opts.CheckpointInterval
	tick := time.NewTicker(ckptEvery)
	defer tick.Stop()
	var pending uint64 // last WAL index written to Badger, not yet checkpointed
	jobs := make([]flushJob, 0, maxFlushJobs)
	gatherTimer := time.NewTimer(gatherWait)
	gatherTimer.Stop()
	for {
		select {
		case job, ok := <-p.flushes:
			if !ok {
				if !p.noFlush {
					p.checkpoint(pending)
				}
				return
			}
			jobs = p.gather(append(jobs[:0], job), gatherTimer)
			if err := p.persist(jobs...); err != nil {
				p.fail(err)
				for _, job := range jobs {
					if job.sync != nil {
						close(job.sync)
					}
				}
				continue
			}
			for _, job := range jobs {
				if job.last > 0 {
					pending = job.last
				}
				if job.sync != nil {
					p.checkpoint(pending)
					close(job.sync)
				}
			}
			clear(jobs)
		case <-tick.C:
			p.checkpoint(pending)
		}
	}
}

// gather adds to jobs what arrives within gatherWait, up to maxFlushJobs, so
// that one Badger batch carries many posts: a batch's fixed cost (the
// write pipeline's goroutine hand-offs, its log write) is most of the
// flusher's CPU when each carries a few small index values. Nobody waits
// for a flush except a sync job, which ends the gathering at once.
func (p *partition) gather(jobs []flushJob, timer *time.Timer) []flushJob {
	timer.Reset(gatherWait)
	defer timer.Stop()
	for len(jobs) < maxFlushJobs && jobs[len(jobs)-1].sync == nil {
		select {
		case job, ok := <-p.flushes:
			if !ok {
				return jobs // the next receive sees the close
			}
			jobs = append(jobs, job)
		case <-timer.C:
			return jobs
		}
	}
	return jobs
}

// gatherWait is how long the flusher collects jobs for one Badger batch.
// Readers never wait for the flusher (memory is never behind the log);
// only recovery replays a little more log after a crash.
const gatherWait = 2 * time.Millisecond

// maxFlushJobs bounds how many flush jobs share one Badger batch. The
// flushes channel holds more, so that the pipeline never blocks on a
// flusher busy with a full batch.
const maxFlushJobs = 256

// checkpoint makes Badger durable up to the last flushed WAL index, then
// deletes every log segment that the checkpoint covers and that holds no
// live message body (retention decides). The active segment is rotated
// when idle so that it too can go once its messages are gone.
func (p *partition) checkpoint(upTo uint64) {
	if upTo > p.ckpt.Load() {
		if p.eng.opts.Fsync != wal.SyncAlways {
			// Badger's index points into the log: the log must be on
			// disk up to upTo before a checkpoint says Badger covers it,
			// or a crash would leave index entries without their bodies
			// and a log that ends before the checkpoint. With
			// fsync=always every flushed record is durable already.
			if err := p.log.Sync(); err != nil {
				p.logger.Error("wal sync for checkpoint failed", "err", err)
				return
			}
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
