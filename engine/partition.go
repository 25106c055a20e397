package engine

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/dgraph-io/badger/v4"

	"github.com/zaqar-go/zaqar/storage"
	"github.com/zaqar-go/zaqar/wal"
)

// op is a change submitted to a partition writer. fn runs on the writer
// goroutine: it validates against the current state and calls emit for each
// change, or returns an error having emitted nothing.
type op struct {
	fn   func(now int64) error
	err  error
	done chan struct{}
}

var opPool = sync.Pool{New: func() any { return &op{done: make(chan struct{}, 1)} }}

// flushJob carries applied records to the flusher, with the WAL index of
// the last one (0 for changes that are not logged, such as reaping).
type flushJob struct {
	recs []*record
	last uint64
	reap []reaped
	sync chan struct{} // when set, closed after the job is durable in Badger
}

type reaped struct {
	qk string
	e  *entry
}

// partition owns the queues that hash to it.
//
// Ownership: the writer goroutine (run) alone mutates queues and
// subscriptions and appends to the WAL; the flusher goroutine alone writes
// to Badger and compacts the WAL. Request goroutines only read.
type partition struct {
	id          int
	eng         *Engine
	db          *badger.DB
	log         *wal.Log
	logger      *slog.Logger
	queues      sync.Map // qkey -> *queue
	subsMu      sync.RWMutex
	subs        map[string]map[string]*storedSub // qkey -> id -> sub (values immutable)
	ops         chan *op
	flushes     chan flushJob
	touched     map[*queue]struct{} // writer-only, per group
	group       []*record           // writer-only: records emitted in this group
	reaped      []reaped            // writer-only: reaped in this group
	pipeMu      sync.Mutex
	pipe        []*commit // groups not yet completed, in order
	noFlush     bool      // tests: never write to Badger, recover from the WAL alone
	broken      atomic.Pointer[error]
	stop        chan struct{}
	writerDone  chan struct{}
	flusherDone chan struct{}

	ckpt atomic.Uint64 // last WAL index durable in Badger

	segMu   sync.Mutex
	segLive map[uint64]int64 // log segment -> live messages whose body it holds

	flushState flushState // flusher-only scratch space
}

func openPartition(e *Engine, id int) (*partition, error) {
	o := e.opts
	lg, err := wal.Open(wal.Options{
		Dir: filepath.Join(o.Dir, "wal", fmt.Sprintf("p%02d", id)), SegmentSize: o.SegmentSize,
		Sync: o.Fsync, SyncInterval: o.FsyncInterval, Compression: o.Compression, Logger: o.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("partition %d: %w", id, err)
	}
	p := &partition{
		id: id, eng: e, db: e.db, log: lg, logger: o.Logger.With("partition", id),
		subs: map[string]map[string]*storedSub{}, ops: make(chan *op, 4096),
		flushes: make(chan flushJob, 4*maxFlushJobs), touched: map[*queue]struct{}{}, stop: make(chan struct{}),
		writerDone: make(chan struct{}), flusherDone: make(chan struct{}), segLive: map[uint64]int64{},
		flushState: newFlushState(),
	}
	return p, nil
}

func (p *partition) start() {
	go p.run()
	go p.flusher()
}

// do submits fn to the writer and waits until its record is durable.
func (p *partition) do(fn func(now int64) error) error {
	if b := p.broken.Load(); b != nil {
		return fmt.Errorf("%w: %v", storage.ErrUnavailable, *b)
	}
	o := opPool.Get().(*op)
	o.fn, o.err = fn, nil
	select {
	case p.ops <- o:
	case <-p.stop:
		return fmt.Errorf("%w: engine closed", storage.ErrUnavailable)
	}
	<-o.done
	err := o.err
	o.fn = nil
	opPool.Put(o)
	return err
}

// run is the partition writer: it takes every op queued meanwhile,
// applies them, writes their records as one log frame and hands the group
// to the pipeline (see commit) without waiting for its fdatasync, so the
// next group is applied and written while the disk syncs this one.
func (p *partition) run() {
	defer close(p.writerDone)
	const maxGroup = 512
	batch := make([]*op, 0, maxGroup)
	var encoded [][]byte
	var pos []wal.Pos
	var buf []byte
	for {
		var first *op
		select {
		case first = <-p.ops:
		case <-p.stop:
			p.drainStopped()
			return
		}
		batch = append(batch[:0], first)
	gather:
		for len(batch) < maxGroup {
			select {
			case o := <-p.ops:
				batch = append(batch, o)
			default:
				break gather
			}
		}
		encoded, buf = encoded[:0], buf[:0]
		p.group = p.group[:0]
		now := p.eng.now()
		for _, o := range batch {
			if p.broken.Load() != nil {
				o.err = fmt.Errorf("%w: partition failed", storage.ErrUnavailable)
				continue
			}
			o.err = o.fn(now)
		}
		c := &commit{ops: append([]*op(nil), batch...), reap: p.reaped}
		p.reaped = nil
		for q := range p.touched {
			// The writer's entries slice only grows in place past this
			// length or is replaced, so this view stays as it is now.
			c.views = append(c.views, view{q: q, entries: q.entries})
			delete(p.touched, q)
		}
		recs := p.group
		if len(recs) == 0 {
			p.enqueue(c)
			p.settle(c, true, true, nil)
			continue
		}
		c.recs = append([]*record(nil), recs...)
		for _, rec := range recs {
			start := len(buf)
			buf = rec.encode(buf)
			encoded = append(encoded, buf[start:len(buf):len(buf)])
		}
		if cap(pos) < len(encoded) {
			pos = make([]wal.Pos, len(encoded))
		}
		pos = pos[:len(encoded)]
		// Enqueue before writing: the log may report durability (from its
		// syncer) before Write returns.
		p.enqueue(c)
		last, err := p.log.Write(encoded, pos, func(err error) { p.settle(c, false, true, err) })
		if err != nil {
			// Nothing of this group reached the log, but memory holds its
			// changes: stop serving this partition rather than
			// acknowledge anything more.
			p.fail(err)
			// Bodies may still be the callers' buffers, invalid once
			// they have their answer: readers must not see them.
			for _, r := range recs {
				for _, e := range r.ents {
					if e != nil {
						e.body.Store(nil)
					}
				}
			}
			p.settle(c, true, true, err)
			continue
		}
		c.last = last
		for i, r := range recs {
			p.placeBodies(r, pos[i])
		}
		// Until now the bodies were the callers' buffers: the group may be
		// acknowledged only from here on.
		p.settle(c, true, false, nil)
	}
}

// commit is a group on its way from the writer to its callers. Groups are
// completed strictly in order: a group's changes are published, handed to
// the flusher and acknowledged only after every earlier group's, and only
// once its records are durable and its bodies placed in the log. A group
// that wrote nothing (failed validations, reaping) still waits for the
// groups before it, since what it answered may rest on their changes.
type commit struct {
	ops   []*op
	recs  []*record // records written, nil for a group that wrote none
	reap  []reaped
	views []view // entry slices to publish, as the group left them
	last  uint64 // log index of the last record; set before placed
	// guarded by pipeMu:
	placed, synced bool
	err            error
}

type view struct {
	q       *queue
	entries []*entry
}

// enqueue appends c to the pipeline. Caller is the writer.
func (p *partition) enqueue(c *commit) {
	p.pipeMu.Lock()
	p.pipe = append(p.pipe, c)
	p.pipeMu.Unlock()
}

// settle records that c's bodies are placed and/or its records durable
// (or failed with err), then completes every ready group at the head of
// the pipeline, in order.
func (p *partition) settle(c *commit, placed, synced bool, err error) {
	p.pipeMu.Lock()
	defer p.pipeMu.Unlock()
	if err != nil {
		p.fail(err)
		if c.err == nil {
			c.err = err
		}
	}
	c.placed = c.placed || placed
	c.synced = c.synced || synced
	n := 0
	for _, h := range p.pipe {
		if !h.placed || !h.synced {
			break
		}
		p.complete(h)
		n++
	}
	if n > 0 {
		m := copy(p.pipe, p.pipe[n:])
		clear(p.pipe[m:])
		p.pipe = p.pipe[:m]
	}
}

func (p *partition) complete(c *commit) {
	if err := c.err; err != nil {
		for _, o := range c.ops {
			o.err = fmt.Errorf("%w: %v", storage.ErrUnavailable, err)
			o.done <- struct{}{}
		}
		return
	}
	for _, v := range c.views {
		// A pointer of its own: one into c would keep the whole group,
		// request buffers included, alive as long as the queue is idle.
		entries := v.entries
		v.q.published.Store(&entries)
	}
	if (len(c.recs) > 0 || len(c.reap) > 0) && !p.noFlush {
		p.flushes <- flushJob{recs: c.recs, last: c.last, reap: c.reap}
	}
	for _, o := range c.ops {
		o.done <- struct{}{}
	}
}

// fail stops the partition after a log failure.
func (p *partition) fail(err error) {
	if p.broken.CompareAndSwap(nil, &err) {
		p.logger.Error("wal write failed; partition stopped", "err", err)
	}
}

func (p *partition) drainStopped() {
	for {
		select {
		case o := <-p.ops:
			o.err = fmt.Errorf("%w: engine closed", storage.ErrUnavailable)
			o.done <- struct{}{}
		default:
			return
		}
	}
}

// placeBodies records where the bodies of a post record lie in the log, so
// readers fetch them from there and Badger stores only the index. Records
// of compressed frames are not addressable: their bodies stay in memory
// until the flusher writes them to Badger. Writer only, before publishing.
func (p *partition) placeBodies(r *record, pos wal.Pos) {
	if r.Type != recPost || pos.Offset < 0 {
		return
	}
	p.segMu.Lock()
	defer p.segMu.Unlock()
	for i, e := range r.ents {
		if e == nil || i >= len(r.bodyOffs) {
			continue
		}
		e.seg, e.off, e.blen = pos.Segment, pos.Offset+int64(r.bodyOffs[i]), uint32(len(r.Msgs[i].Body))
		e.body.Store(nil)
		if !e.deleted.Load() {
			p.segLive[e.seg]++
		}
	}
}

// released is called when a message stops being live (deleted or reaped)
// so its log segment can be removed once nothing in it is live.
func (p *partition) released(e *entry) {
	if e.seg == 0 {
		return
	}
	p.segMu.Lock()
	p.segLive[e.seg]--
	p.segMu.Unlock()
}

// recountSegments rebuilds the live counts after recovery.
func (p *partition) recountSegments() {
	p.segMu.Lock()
	defer p.segMu.Unlock()
	clear(p.segLive)
	p.queues.Range(func(_, v any) bool {
		for _, e := range v.(*queue).entries {
			if e.seg != 0 && !e.deleted.Load() {
				p.segLive[e.seg]++
			}
		}
		return true
	})
}

// emit applies a record and adds it to the current group. Writer only.
func (p *partition) emit(r *record) {
	p.apply(r)
	p.group = append(p.group, r)
}

// queue returns the queue state, or nil. Safe from any goroutine.
func (p *partition) queue(qk string) *queue {
	if v, ok := p.queues.Load(qk); ok {
		return v.(*queue)
	}
	return nil
}

// writerQueue returns the queue state, creating an empty one. Writer only.
func (p *partition) writerQueue(project, name string) *queue {
	qk := qkey(project, name)
	if q := p.queue(qk); q != nil {
		return q
	}
	q := newQueue(project, name)
	p.queues.Store(qk, q)
	return q
}

// entrySlab is how many entries of one post are allocated together: 3
// allocations instead of 10 for a 10-message post, while a message that
// outlives its neighbours keeps at most 3 others' entries alive. Four
// 128-byte entries fill 512 bytes, the largest object the Go allocator
// keeps without a type header: larger slabs cost 16 more bytes per entry
// (TestIndexBytesPerMessage: 153 against 138 with slabs of 16).
const entrySlab = 4

// A slab that outgrew 512 bytes would not compile.
var _ [512 - entrySlab*unsafe.Sizeof(entry{})]byte

// apply turns a record into in-memory state. It runs on the writer (live
// and during recovery) and must be idempotent: recovery may replay records
// whose effects Badger already holds.
func (p *partition) apply(r *record) {
	q := p.writerQueue(r.Project, r.Queue)
	p.touched[q] = struct{}{}
	switch r.Type {
	case recPost:
		if !q.exists {
			r.created = true
			q.exists = true
			m := storage.Metadata{}
			q.meta.Store(&m)
		}
		r.ents = make([]*entry, len(r.Msgs))
		var slab []entry
		for i := range r.Msgs {
			m := &r.Msgs[i]
			if m.Seq < q.nextSeq {
				continue // already applied, or applied and removed since
			}
			if len(slab) == 0 {
				slab = make([]entry, min(len(r.Msgs)-i, entrySlab))
			}
			e := &slab[0]
			slab = slab[1:]
			*e = entry{seq: m.Seq, nonce: m.Nonce, created: r.Time, client: m.Client, checksum: m.Checksum,
				batchOff: uint32(m.Seq - r.Msgs[0].Seq)}
			e.expires.Store(r.Time + m.TTL*int64(time.Second))
			e.ttl.Store(m.TTL)
			if m.Delay > 0 {
				e.delayUntil = r.Time + m.Delay*int64(time.Second)
			}
			e.body.Store(&m.Body) // points into the record: no copy of the slice header
			r.ents[i] = e
			q.appendEntry(e)
			q.added(e)
			q.nextSeq = m.Seq + 1
		}
	case recDelete:
		r.gone = r.gone[:0]
		for _, s := range r.Seqs {
			if e := find(q.entries, s); e != nil && !e.deleted.Swap(true) {
				p.released(e)
				r.gone = append(r.gone, e)
				q.deletions = true
			}
		}
	case recClaim:
		st := &claimState{expires: r.Time + r.TTL*int64(time.Second), updated: r.Time, ttl: r.TTL, grace: r.Grace}
		c := &claimRef{id: r.ClaimID, seqs: r.Seqs}
		c.state.Store(st)
		for _, s := range r.Seqs {
			e := find(q.entries, s)
			if e == nil {
				continue
			}
			e.claim.Store(c)
			if r.Flag == 0 {
				e.claimCount.Add(1)
			}
			extendForClaim(e, r.Time, r.TTL, r.Grace)
		}
		q.setClaim(c)
	case recClaimUpdate:
		if c := q.getClaim(r.ClaimID); c != nil {
			c.state.Store(&claimState{expires: r.Time + r.TTL*int64(time.Second), updated: r.Time, ttl: r.TTL, grace: r.Grace})
			for _, seq := range c.seqs {
				if e := find(q.entries, seq); e != nil && e.claim.Load() == c {
					extendForClaim(e, r.Time, r.TTL, r.Grace)
				}
			}
		}
	case recClaimRelease:
		if c := q.getClaim(r.ClaimID); c != nil {
			old := c.state.Load()
			c.state.Store(&claimState{updated: old.updated, ttl: old.ttl, grace: old.grace})
		}
	case recQueueCreate, recQueueMeta:
		if r.Type == recQueueCreate && q.exists {
			return
		}
		m, err := decodeMeta(r.Meta)
		if err != nil {
			m = storage.Metadata{}
		}
		q.exists = true
		q.meta.Store(&m)
	case recQueueDelete:
		p.dropMessages(q)
		q.exists = false
		q.meta.Store(nil)
		q.nextSeq = 1
	case recPurge:
		if r.Flag&1 != 0 {
			p.dropMessages(q)
		}
		if r.Flag&2 != 0 {
			p.subsMu.Lock()
			delete(p.subs, qkey(r.Project, r.Queue))
			p.subsMu.Unlock()
		}
	case recSubCreate, recSubUpdate:
		s, err := decodeSub(r.Meta)
		if err != nil {
			return
		}
		qk := qkey(r.Project, r.Queue)
		p.subsMu.Lock()
		if p.subs[qk] == nil {
			p.subs[qk] = map[string]*storedSub{}
		}
		p.subs[qk][s.ID] = s
		p.subsMu.Unlock()
		if r.Type == recSubCreate && !q.exists {
			r.created = true
			q.exists = true
			m := storage.Metadata{}
			q.meta.Store(&m)
		}
	case recSubDelete:
		qk := qkey(r.Project, r.Queue)
		p.subsMu.Lock()
		delete(p.subs[qk], r.SubID)
		p.subsMu.Unlock()
	}
}

// extendForClaim keeps a claimed message alive for the claim plus grace.
func extendForClaim(e *entry, now, ttl, grace int64) {
	until := now + (ttl+grace)*int64(time.Second)
	if e.expires.Load() < until {
		e.expires.Store(until)
		e.ttl.Store(ttl + grace)
	}
}

func (p *partition) dropMessages(q *queue) {
	for _, e := range q.entries {
		if !e.deleted.Swap(true) {
			p.released(e)
		}
	}
	q.entries = nil
	q.mu.Lock()
	q.claims = map[string]*claimRef{}
	q.mu.Unlock()
}
