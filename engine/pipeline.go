package engine

import (
	"fmt"

	"github.com/zaqar-go/zaqar/storage"
)

// commit is a group on its way from the writer to its callers. Groups are
// completed strictly in order: a group's changes are published, handed to
// the flusher and acknowledged only after every earlier group's, and only
// once its records are durable and its bodies placed in the log (its
// claims may be answered sooner, once written: see answerLeases). A group
// that wrote nothing (failed validations, reaping) still waits for the
// groups before it, since what it answered may rest on their changes.
type commit struct {
	ops   []*op
	recs  []applied // records written, nil for a group that wrote none
	reap  []reaped
	views []view // entry slices to publish, as the group left them
	last  uint64 // log index of the last record; set before placed
	group uint64 // the writer's number of the group
	gaps  []gapDesc
	// guarded by pipeMu:
	placed, synced bool
	err            error
}

type view struct {
	q    *queue
	view *queueView
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
		if m == 0 && p.drained != nil { // nil in tests of the pipeline alone
			p.drained.Broadcast()
		}
	}
}

// complete publishes a group's changes, hands them to the flusher and
// answers its callers.
func (p *partition) complete(c *commit) {
	if err := c.err; err != nil {
		for _, o := range c.ops {
			o.err = fmt.Errorf("%w: %v", storage.ErrUnavailable, err)
			o.sig <- sigDone
		}
		return
	}
	for _, v := range c.views {
		v.q.published.Store(v.view)
	}
	if (len(c.recs) > 0 || len(c.reap) > 0 || len(c.gaps) > 0) && !p.noFlush {
		n := postedMessages(c.recs)
		p.flushLag.Add(n)
		p.flushes <- flushJob{recs: c.recs, last: c.last, reap: c.reap, group: c.group, gaps: c.gaps, msgs: n}
	}
	// Waiters first: a caller that posted and then looks for a waiter's
	// answer must find the waiter woken.
	p.wake.wakeFor(c.recs)
	for _, o := range c.ops {
		o.sig <- sigDone
	}
}
