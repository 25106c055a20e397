package engine

import (
	"fmt"
	"sync"

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

// do submits fn to the writer and waits until its records are durable.
func (p *partition) do(fn func(now int64) error) error {
	if b := p.broken.Load(); b != nil {
		return fmt.Errorf("%w: %v", storage.ErrUnavailable, *b)
	}
	o := opPool.Get().(*op)
	o.fn, o.err = fn, nil
	select {
	case p.ops <- o:
	case <-p.stop:
		return errClosed
	}
	<-o.done
	err := o.err
	o.fn = nil
	opPool.Put(o)
	return err
}

// emit applies a record and adds it to the current group. Writer only.
func (p *partition) emit(r *record) {
	fx := p.apply(r)
	p.ret.released(fx.gone)
	p.group = append(p.group, applied{rec: r, fx: fx})
}

// maxGroup bounds the requests one group (one log frame) carries.
const maxGroup = 512

// run is the partition writer: it takes every op queued meanwhile,
// applies them, writes their records as one log frame and hands the group
// to the pipeline (see commit) without waiting for its fdatasync, so the
// next group is applied and written while the disk syncs this one.
func (p *partition) run() {
	defer close(p.writerDone)
	batch := make([]*op, 0, maxGroup)
	var w groupEncoding
	for {
		p.awaitFlusher()
		var first *op
		select {
		case first = <-p.ops:
		case r := <-p.pauses:
			// Between groups: nothing applied is unlogged.
			p.pause(r)
			continue
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
		p.group = p.group[:0]
		p.groupSeq++
		now := p.eng.now()
		for _, o := range batch {
			if p.broken.Load() != nil {
				o.err = fmt.Errorf("%w: partition failed", storage.ErrUnavailable)
				continue
			}
			o.err = o.fn(now)
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
			continue
		}
		c.recs = append([]applied(nil), p.group...)
		w.encode(c.recs)
		// Enqueue before writing: the log may report durability (from its
		// syncer) before Write returns.
		p.enqueue(c)
		last, err := p.log.Write(w.records, w.pos, func(err error) { p.settle(c, false, true, err) })
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
			continue
		}
		c.last = last
		for i, a := range c.recs {
			p.ret.placed(a.rec, a.fx, w.bodyOffs(i), w.pos[i])
		}
		// Until now the bodies were the callers' buffers: the group may be
		// acknowledged only from here on.
		p.settle(c, true, false, nil)
	}
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

func (p *partition) drainStopped() {
	for {
		select {
		case o := <-p.ops:
			o.err = errClosed
			o.done <- struct{}{}
		default:
			return
		}
	}
}
