package engine

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/zaqar-go/zaqar/storage"
)

// CreateClaim implements storage.ClaimStore. Messages due for the queue's
// dead letter queue (storage.DeadLetter) are moved instead of claimed: in
// the same group as the claim when both queues are in this partition (one
// log frame: the move is atomic), otherwise posted there under a hold
// claim and then deleted here (a crash in between duplicates, never
// loses, them).
func (e *Engine) CreateClaim(ctx context.Context, project, name string, opts storage.ClaimOptions) (storage.Claim, error) {
	p := e.partition(project, name)
	qk := qkey(project, name)
	if q := p.queue(qk); p.broken.Load() == nil && (q == nil || !q.mayClaim(e.now())) {
		// Nothing to take: answered without a turn on the writer, which
		// long-poll consumers woken together by a post would otherwise
		// queue for, all but one in vain.
		return storage.Claim{}, nil
	}
	claimID := uuid.NewString()
	var taken []*entry
	var move *deadLetterMove
	var q *queue
	err := p.do(func(now int64) error {
		q = p.queue(qk)
		if q == nil || !q.exists {
			return nil
		}
		var dl storage.DeadLetter
		hasDL := false
		if meta := q.meta.Load(); meta != nil {
			dl, hasDL = storage.DeadLetterOf(*meta)
		}
		// Sized for the usual claim, in which every message is taken.
		seqs := make([]uint64, 0, min(opts.Limit, maxPresized))
		taken = make([]*entry, 0, min(opts.Limit, maxPresized))
		var due []*entry
		q.claimable(now, func(en *entry) bool {
			if hasDL && dl.Due(int64(en.claimCount.Load())) {
				due = append(due, en)
			} else {
				taken = append(taken, en)
				seqs = append(seqs, en.seq)
			}
			return len(seqs)+len(due) < opts.Limit
		})
		if len(seqs) > 0 {
			p.emit(&record{Type: recClaim, Project: project, Queue: name, Time: now, ClaimID: claimID,
				TTL: opts.TTL, Grace: opts.Grace, Seqs: seqs})
		}
		if len(seqs)+len(due) == opts.Limit {
			// Messages may be left: the next claim waiter's turn (waker).
			p.wake.wakeClaimer(qk)
		}
		if len(due) > 0 {
			var err error
			move, err = e.startDeadLetterMove(p, q, dl, due, now)
			return err
		}
		return nil
	})
	if err != nil {
		return storage.Claim{}, err
	}
	if move != nil {
		if err := e.finishDeadLetterMove(p, q, move); err != nil {
			return storage.Claim{}, err
		}
	}
	if len(taken) == 0 {
		return storage.Claim{}, nil
	}
	now := e.now()
	c, err := e.claimMessages(p, q, taken, now, storage.Claim{ID: claimID, TTL: opts.TTL, Grace: opts.Grace, Updated: time.Unix(0, now)})
	if err != nil {
		return storage.Claim{}, err
	}
	e.claimed.Add(uint64(len(c.Messages)))
	return c, nil
}

// maxPresized bounds what a claim allocates ahead for the messages it
// may take.
const maxPresized = 100

// deadLetterMove is a move to a dead letter queue of another partition,
// begun on the source's writer and finished by finishDeadLetterMove.
type deadLetterMove struct {
	queue string   // the dead letter queue
	msgs  []recMsg // the messages as they are posted there
	seqs  []uint64 // their sequences in the source queue
}

// startDeadLetterMove moves due messages of q to the dead letter queue:
// entirely, when that queue is in p, or else by holding them and returning
// the move to finish. Writer only.
func (e *Engine) startDeadLetterMove(p *partition, q *queue, dl storage.DeadLetter, due []*entry, now int64) (*deadLetterMove, error) {
	msgs, err := e.messages(p, q, due, now)
	if err != nil || len(msgs) == 0 {
		return nil, err
	}
	news := make([]storage.NewMessage, len(msgs))
	seqs := make([]uint64, len(msgs))
	for i, m := range msgs {
		news[i] = dl.Moved(m, time.Unix(0, now))
		seqs[i], _, _ = parseMessageID(m.ID)
	}
	rm := e.recMsgs(news, func(i int) string { return msgs[i].ClientID })
	if e.partition(q.project, dl.Queue) == p {
		p.emitPost(q.project, dl.Queue, now, rm)
		p.emit(&record{Type: recDelete, Project: q.project, Queue: q.name, Time: now, Seqs: seqs})
		e.posted.Add(uint64(len(rm)))
		e.deleted.Add(uint64(len(seqs)))
		return nil, nil
	}
	p.emit(&record{Type: recClaim, Project: q.project, Queue: q.name, Time: now, ClaimID: uuid.NewString(),
		TTL: storage.DeadLetterHoldTTL, Flag: 1, Seqs: seqs})
	return &deadLetterMove{queue: dl.Queue, msgs: rm, seqs: seqs}, nil
}

// finishDeadLetterMove posts a held move in the dead letter queue's
// partition, then deletes the messages from their queue.
func (e *Engine) finishDeadLetterMove(p *partition, q *queue, m *deadLetterMove) error {
	dp := e.partition(q.project, m.queue)
	if err := dp.do(func(now int64) error {
		dp.emitPost(q.project, m.queue, now, m.msgs)
		return nil
	}); err != nil {
		return err
	}
	e.posted.Add(uint64(len(m.msgs)))
	err := p.do(func(now int64) error {
		p.emit(&record{Type: recDelete, Project: q.project, Queue: q.name, Time: now, Seqs: m.seqs})
		return nil
	})
	if err == nil {
		e.deleted.Add(uint64(len(m.seqs)))
	}
	return err
}

// GetClaim implements storage.ClaimStore.
func (e *Engine) GetClaim(ctx context.Context, project, name, claimID string) (storage.Claim, error) {
	if err := e.usable(); err != nil {
		return storage.Claim{}, err
	}
	p, q := e.existing(project, name)
	if q == nil {
		return storage.Claim{}, storage.ErrClaimNotFound
	}
	now := e.now()
	c := q.getClaim(claimID)
	if c == nil || !c.live(now) {
		return storage.Claim{}, storage.ErrClaimNotFound
	}
	entries := q.snapshot()
	var held []*entry
	for _, seq := range c.seqs {
		if en := find(entries, seq); en != nil && en.visible(now) && en.claim.Load() == c {
			held = append(held, en)
		}
	}
	if len(held) == 0 {
		return storage.Claim{}, storage.ErrClaimNotFound
	}
	st := c.state.Load()
	return e.claimMessages(p, q, held, now, storage.Claim{ID: c.id, TTL: st.ttl, Grace: st.grace, Updated: time.Unix(0, st.updated)})
}

// UpdateClaim implements storage.ClaimStore.
func (e *Engine) UpdateClaim(ctx context.Context, project, name, claimID string, ttl, grace int64) error {
	p := e.partition(project, name)
	return p.do(func(now int64) error {
		q := p.queue(qkey(project, name))
		if q == nil {
			return storage.ErrClaimNotFound
		}
		c := q.getClaim(claimID)
		if c == nil || !c.live(now) || !holdsAny(q, c, now) {
			return storage.ErrClaimNotFound
		}
		p.emit(&record{Type: recClaimUpdate, Project: project, Queue: name, Time: now, ClaimID: claimID, TTL: ttl, Grace: grace})
		return nil
	})
}

func holdsAny(q *queue, c *claimRef, now int64) bool {
	for _, seq := range c.seqs {
		if en := find(q.entries, seq); en != nil && en.visible(now) && en.claim.Load() == c {
			return true
		}
	}
	return false
}

// DeleteClaim implements storage.ClaimStore.
func (e *Engine) DeleteClaim(ctx context.Context, project, name, claimID string) error {
	p := e.partition(project, name)
	return p.do(func(now int64) error {
		q := p.queue(qkey(project, name))
		if q == nil {
			return nil
		}
		if c := q.getClaim(claimID); c != nil && c.live(now) {
			p.emit(&record{Type: recClaimRelease, Project: project, Queue: name, Time: now, ClaimID: claimID})
		}
		return nil
	})
}
