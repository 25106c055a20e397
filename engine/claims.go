package engine

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/zaqar-go/zaqar/storage"
)

// dlqHoldTTL is how long messages selected for the dead letter queue are
// held by an internal claim while they are moved. If the move is cut short
// the hold expires and the next claim moves them again (at-least-once).
const dlqHoldTTL = 60

// CreateClaim implements storage.ClaimStore.
func (e *Engine) CreateClaim(ctx context.Context, project, name string, opts storage.ClaimOptions) (storage.Claim, error) {
	p := e.partition(project, name)
	claimID := uuid.NewString()
	var taken, moving []*entry
	var dlq string
	var dlqTTL int64
	var q *queue
	err := p.do(func(now int64) error {
		q = p.queue(qkey(project, name))
		if q == nil || !q.exists {
			return nil
		}
		meta := q.meta.Load()
		var maxClaims int64
		if meta != nil {
			if n, ok := meta.Int(storage.MetaMaxClaimCount); ok && n > 0 {
				if s, ok := meta.String(storage.MetaDeadLetterQueue); ok && s != "" {
					maxClaims, dlq = n, s
					dlqTTL, _ = meta.Int(storage.MetaDeadLetterTTL)
				}
			}
		}
		var seqs, moveSeqs []uint64
		for _, en := range q.entries {
			if len(seqs)+len(moveSeqs) >= opts.Limit {
				break
			}
			if !en.visible(now) || en.liveClaim(now) != nil || en.delayUntil > now {
				continue
			}
			if maxClaims > 0 && int64(en.claimCount.Load()) >= maxClaims {
				moving = append(moving, en)
				moveSeqs = append(moveSeqs, en.seq)
				continue
			}
			taken = append(taken, en)
			seqs = append(seqs, en.seq)
		}
		if len(seqs) > 0 {
			p.emit(&record{Type: recClaim, Project: project, Queue: name, Time: now, ClaimID: claimID,
				TTL: opts.TTL, Grace: opts.Grace, Seqs: seqs})
		}
		if len(moveSeqs) > 0 {
			p.emit(&record{Type: recClaim, Project: project, Queue: name, Time: now, ClaimID: uuid.NewString(),
				TTL: dlqHoldTTL, Flag: 1, Seqs: moveSeqs})
		}
		return nil
	})
	if err != nil {
		return storage.Claim{}, err
	}
	if len(moving) > 0 {
		if err := e.moveToDeadLetter(ctx, p, q, moving, dlq, dlqTTL); err != nil {
			return storage.Claim{}, err
		}
	}
	if len(taken) == 0 {
		return storage.Claim{}, nil
	}
	now := e.now()
	msgs, err := e.messages(p, q, taken, now)
	if err != nil {
		return storage.Claim{}, err
	}
	e.claimed.Add(uint64(len(msgs)))
	return storage.Claim{ID: claimID, TTL: opts.TTL, Grace: opts.Grace, Updated: time.Unix(0, now), Messages: msgs}, nil
}

// moveToDeadLetter posts the messages to the dead letter queue, then
// deletes them from their queue. A crash in between duplicates rather than
// loses them.
func (e *Engine) moveToDeadLetter(ctx context.Context, p *partition, q *queue, ents []*entry, dlq string, dlqTTL int64) error {
	now := e.now()
	msgs, err := e.messages(p, q, ents, now)
	if err != nil || len(msgs) == 0 {
		return err
	}
	news := make([]storage.NewMessage, len(msgs))
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ttl := dlqTTL
		if ttl <= 0 {
			ttl = max(1, int64(m.Expires.Sub(time.Unix(0, now)).Seconds()))
		}
		news[i] = storage.NewMessage{Body: m.Body, TTL: ttl, Checksum: m.Checksum}
		ids[i] = m.ID
	}
	if _, err := e.PostMessages(ctx, q.project, dlq, msgs[0].ClientID, news); err != nil {
		return err
	}
	return e.DeleteMessages(ctx, q.project, q.name, ids, nil)
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
	msgs, err := e.messages(p, q, held, now)
	if err != nil {
		return storage.Claim{}, err
	}
	st := c.state.Load()
	return storage.Claim{ID: c.id, TTL: st.ttl, Grace: st.grace, Updated: time.Unix(0, st.updated), Messages: msgs}, nil
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
