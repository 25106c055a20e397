package engine

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/zaqar-go/zaqar/storage"
	"github.com/zaqar-go/zaqar/wal"
)

// op is a change submitted to a partition. fn runs while its goroutine's
// partition holds the write role: it validates against the current state
// and calls emit for each change, or returns an error having emitted
// nothing.
type op struct {
	fn  func(now int64) error
	err error
	// lease: every record fn emitted is a claim (see leaseOnly), so with
	// fsync always the op is answered once its group is written.
	lease bool
	// sig tells the op's goroutine what to do next: the write role is
	// given only to a queued op, done only to one whose group completed.
	sig chan opSignal
}

type opSignal uint8

const (
	sigDone  opSignal = iota + 1 // the op's group is complete (or failed): err is set
	sigWrite                     // the op's goroutine now holds the write role
)

var opPool = sync.Pool{New: func() any { return &op{sig: make(chan opSignal, 1)} }}

// do submits fn and waits until its records are durable (claims alone:
// written, see leaseOnly).
//
// The partition has no writer goroutine: the callers commit their groups
// themselves (group commit as LevelDB's writers do it). Whoever submits
// while no one writes takes the write role: it applies every op queued
// meanwhile as one group, writes it to the log, syncs it (fsync always),
// completes it and hands the role to the oldest op queued since, which
// the sync gave time to gather. So a request costs at most one goroutine
// switch (the wake of its answer, or of the role it is given), where a
// writer and a syncer goroutine cost three per group on top; and since
// the holder of the role syncs on its own goroutine, no wake waits
// behind a processor held through an fdatasync.
func (p *partition) do(fn func(now int64) error) error {
	if b := p.broken.Load(); b != nil {
		return fmt.Errorf("%w: %v", storage.ErrUnavailable, *b)
	}
	o := opPool.Get().(*op)
	o.fn, o.err, o.lease = fn, nil, false
	r := &p.writer
	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		o.fn = nil
		opPool.Put(o)
		return errClosed
	}
	r.queue = append(r.queue, o)
	lead := !r.writing
	r.writing = true
	r.mu.Unlock()
	if lead {
		p.write()
	}
	for {
		switch <-o.sig {
		case sigWrite:
			p.write()
		case sigDone:
			err := o.err
			o.fn = nil
			opPool.Put(o)
			return err
		}
	}
}

// writeRole is a partition's write role and the ops waiting for it.
type writeRole struct {
	mu      sync.Mutex
	queue   []*op // submitted, not yet taken into a group
	writing bool  // the write role is held
	stopped bool
	pausers []chan struct{} // waiting for the write role between groups
	idle    sync.Cond       // on mu: the role was released
}

// write holds the write role: it takes the queued ops (up to maxGroup)
// as one group, writes it, syncs it (fsync always: the log's other
// policies report durability themselves) and hands the role on.
func (p *partition) write() {
	p.awaitFlusher()
	r := &p.writer
	r.mu.Lock()
	if r.stopped {
		p.passWrite()
		r.mu.Unlock()
		return
	}
	n := min(len(r.queue), maxGroup)
	p.batch = append(p.batch[:0], r.queue[:n]...)
	m := copy(r.queue, r.queue[n:])
	clear(r.queue[m:])
	r.queue = r.queue[:m]
	r.mu.Unlock()

	if p.processBatch(p.batch) && p.callerSyncs {
		// A failure reaches the group through its durable callback.
		_ = p.log.SyncWritten()
	}
	clear(p.batch)

	r.mu.Lock()
	p.passWrite()
	r.mu.Unlock()
}

// passWrite hands the write role to a waiting pause, else to the oldest
// queued op, else releases it; on a stopped partition queued ops fail.
// Caller holds p.writer.mu and the role.
func (p *partition) passWrite() {
	r := &p.writer
	switch {
	case len(r.pausers) > 0:
		ch := r.pausers[0]
		r.pausers = r.pausers[1:]
		ch <- struct{}{}
		return
	case r.stopped:
		for _, o := range r.queue {
			o.err = errClosed
			o.sig <- sigDone
		}
		clear(r.queue)
		r.queue = r.queue[:0]
	case len(r.queue) > 0:
		r.queue[0].sig <- sigWrite
		return
	}
	r.writing = false
	r.idle.Broadcast()
}

// holdWrite waits for the write role between groups (a backup's pause).
func (p *partition) holdWrite(ctx context.Context) error {
	r := &p.writer
	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		return errClosed
	}
	if !r.writing {
		r.writing = true
		r.mu.Unlock()
		return nil
	}
	ch := make(chan struct{}, 1)
	r.pausers = append(r.pausers, ch)
	r.mu.Unlock()
	var err error
	select {
	case <-ch:
		return nil
	case <-p.stop:
		err = errClosed
	case <-ctx.Done():
		err = ctx.Err()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if i := slices.Index(r.pausers, ch); i >= 0 {
		r.pausers = slices.Delete(r.pausers, i, i+1)
		return err
	}
	p.passWrite() // handed over meanwhile
	return err
}

// releaseWrite ends a pause.
func (p *partition) releaseWrite() {
	p.writer.mu.Lock()
	p.passWrite()
	p.writer.mu.Unlock()
}

// stopWriting fails every op submitted from now on and waits until no one
// writes.
func (p *partition) stopWriting() {
	r := &p.writer
	r.mu.Lock()
	r.stopped = true
	if !r.writing {
		r.writing = true
		p.passWrite()
	}
	for r.writing {
		r.idle.Wait()
	}
	r.mu.Unlock()
}

// emit applies a record and adds it to the current group. Writer only.
func (p *partition) emit(r *record) {
	fx := p.apply(r)
	p.ret.released(fx.gone)
	p.group = append(p.group, applied{rec: r, fx: fx})
}

// maxGroup bounds the requests one group (one log frame) carries.
const maxGroup = 512

// processBatch applies the ops, writes their records as one log frame and
// hands the group to the pipeline (see commit); write then syncs it. It
// says whether the group waits for that sync: a lease group (leaseOnly)
// is complete once written. Write role only.
func (p *partition) processBatch(batch []*op) bool {
	w := &p.enc
	p.group = p.group[:0]
	p.groupSeq++
	now := p.eng.now()
	leases := false // an op of the group is a lease (see answerLeases)
	for _, o := range batch {
		if p.broken.Load() != nil {
			o.err = fmt.Errorf("%w: partition failed", storage.ErrUnavailable)
			continue
		}
		emitted := len(p.group)
		o.err = o.fn(now)
		o.lease = p.callerSyncs && len(p.group) > emitted && leaseOnly(p.group[emitted:])
		leases = leases || o.lease
	}
	p.manageWindows()
	c := &commit{ops: append([]*op(nil), batch...), reap: p.reaped, group: p.groupSeq, gaps: p.takeGapDescs()}
	p.reaped = nil
	if len(p.group) > 0 || len(c.reap) > 0 || len(c.gaps) > 0 {
		p.lastJobGroup = c.group
	}
	for q := range p.touched {
		// The writer's entries slice only grows in place past this
		// length or is replaced, so this view stays as it is now.
		c.views = append(c.views, view{q: q, view: q.writerView()})
		delete(p.touched, q)
	}
	if len(p.group) == 0 {
		p.enqueue(c)
		p.settle(c, true, true, nil)
		return false
	}
	c.recs = append([]applied(nil), p.group...)
	w.encode(c.recs)
	lease := p.callerSyncs && leaseOnly(c.recs)
	var durable func(error)
	if !lease {
		durable = func(err error) { p.settle(c, false, true, err) }
	}
	// Enqueue before writing: the log may report durability before Write
	// returns (inside it with fsync interval or never).
	p.enqueue(c)
	last, err := p.log.Write(w.records, w.pos, durable)
	if err != nil {
		// Nothing of this group reached the log, but memory holds its
		// changes: stop serving this partition rather than
		// acknowledge anything more.
		p.fail(err)
		// Bodies may still be the callers' buffers, invalid once
		// they have their answer: readers must not see them.
		for _, a := range c.recs {
			for _, e := range a.fx.ents {
				if e != nil {
					e.body.Store(nil)
				}
			}
		}
		p.settle(c, true, true, err)
		return false
	}
	c.last = last
	for i, a := range c.recs {
		p.ret.placed(a.rec, a.fx, w.bodyOffs(i), w.pos[i])
	}
	if lease {
		// In the file before it is answered: it survives the process
		// (kill -9), and the next sync covers it.
		if err := p.log.Flush(); err != nil {
			p.settle(c, true, true, err)
			return false
		}
	}
	// Until now the bodies were the callers' buffers: the group may be
	// acknowledged only from here on.
	p.settle(c, true, lease, nil)
	if leases && !lease {
		p.answerLeases(c)
	}
	return !lease
}

// answerLeases answers the claims of a group that also holds durable
// changes once the group is in the log file, as a group of claims alone
// is (leaseOnly), rather than after its fdatasync. Every earlier group is
// complete (the write role passes only after its group's sync), so a
// claim's answer rests on nothing unwritten but its own group, whose
// posts it may have taken: were the machine to lose that group, the
// producers were never answered and will post again (at least once).
func (p *partition) answerLeases(c *commit) {
	if p.log.Flush() != nil {
		return // answered with their group
	}
	var leases []*op
	p.pipeMu.Lock()
	// A checkpoint's sync (flush.go) may have made the group durable
	// meanwhile, and complete answered every op of it, which their
	// goroutines may already have put back in the pool: answering one
	// twice, or reading it, would reach whoever took it next.
	if !c.synced {
		c.ops = slices.DeleteFunc(c.ops, func(o *op) bool {
			if o.lease {
				leases = append(leases, o)
			}
			return o.lease
		})
	}
	p.pipeMu.Unlock()
	for _, o := range leases {
		o.sig <- sigDone
	}
}

// leaseOnly says whether records (a group's, or one op's) only claim
// messages. A claim is a lease: losing one puts its messages back for
// another consumer, which is what its expiry does anyway, and no message,
// post or delete is lost with it. So with fsync always a claim is
// answered once its record is written to the log, without waiting for an
// fdatasync: it survives the server's crash, and against the machine's it
// is made durable by the next sync of the partition (its own group's when
// the group holds durable changes too, see answerLeases; else the next
// post, delete or other durable change, or at the latest the next
// checkpoint). A consumer's claim and delete thus cost one fdatasync share
// between them instead of two. A delete under a claim syncs the claim with
// it, since the log is sequential.
func leaseOnly(recs []applied) bool {
	for _, a := range recs {
		if a.rec.Type != recClaim {
			return false
		}
	}
	return true
}

// groupEncoding is the writer's reusable encoding of one group: the
// records' bytes, where each message body lies within its record, and
// where the log put each record.
type groupEncoding struct {
	buf      []byte
	records  [][]byte
	offs     []int // body offsets of every record, one after the other
	offStart []int // where each record's offsets start in offs
	pos      []wal.Pos
}

func (w *groupEncoding) encode(recs []applied) {
	w.buf, w.records, w.offs, w.offStart = w.buf[:0], w.records[:0], w.offs[:0], w.offStart[:0]
	for _, a := range recs {
		start := len(w.buf)
		w.offStart = append(w.offStart, len(w.offs))
		w.buf, w.offs = a.rec.encode(w.buf, w.offs)
		w.records = append(w.records, w.buf[start:len(w.buf):len(w.buf)])
	}
	// A record encoded before buf grew still points into the old array,
	// whose bytes stay as they were: no need to re-slice.
	if cap(w.pos) < len(recs) {
		w.pos = make([]wal.Pos, len(recs))
	}
	w.pos = w.pos[:len(recs)]
}

func (w *groupEncoding) bodyOffs(i int) []int {
	end := len(w.offs)
	if i+1 < len(w.offStart) {
		end = w.offStart[i+1]
	}
	return w.offs[w.offStart[i]:end]
}
