package engine

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/zaqar-go/zaqar/storage"
)

var errClosed = fmt.Errorf("%w: engine closed", storage.ErrUnavailable)

// PostMessages implements storage.MessageStore.
func (e *Engine) PostMessages(ctx context.Context, project, name, clientID string, msgs []storage.NewMessage) ([]string, error) {
	return e.post(project, name, clientID, msgs, false)
}

// PostPlaintext implements storage.PlaintextGuard: the writer that applies
// the post also applies every metadata change of the queue, so it checks
// the flag the post will be stored under.
func (e *Engine) PostPlaintext(ctx context.Context, project, name, clientID string, msgs []storage.NewMessage) ([]string, error) {
	return e.post(project, name, clientID, msgs, true)
}

func (e *Engine) post(project, name, clientID string, msgs []storage.NewMessage, plaintext bool) ([]string, error) {
	if len(msgs) == 0 {
		return nil, nil
	}
	if err := e.postable(msgs); err != nil {
		return nil, err
	}
	p := e.partition(project, name)
	rm := e.recMsgs(msgs, func(int) string { return clientID })
	err := p.do(func(now int64) error {
		if q := p.queue(qkey(project, name)); q != nil {
			if m := q.meta.Load(); plaintext && m != nil && storage.EncryptionEnabled(*m) {
				return storage.ErrEncryptionRequired
			}
			if err := q.roomFor(len(rm), now); err != nil {
				return err
			}
		}
		p.emitPost(project, name, now, rm)
		return nil
	})
	if err != nil {
		return nil, err
	}
	e.posted.Add(uint64(len(msgs)))
	// The ids share one string: one allocation per post, not one per
	// message, and none on the writer.
	var all strings.Builder
	all.Grow(messageIDLen * len(rm))
	var id [messageIDLen]byte
	for i := range rm {
		all.Write(appendMessageID(id[:0], rm[i].Seq, rm[i].Nonce))
	}
	ids := make([]string, len(rm))
	for i, s := 0, all.String(); i < len(rm); i++ {
		ids[i] = s[i*messageIDLen : (i+1)*messageIDLen]
	}
	return ids, nil
}

// recMsgs prepares messages for a post record, outside the writer.
// The caller's buffers are only valid during the call. An uncompressed
// log keeps the bodies: the writer copies them into the log frame and
// readers find them there, so they need no copy. A compressed log cannot
// be read at an offset, so memory holds the body until the flusher writes
// it to Badger: copy it.
func (e *Engine) recMsgs(msgs []storage.NewMessage, client func(i int) string) []recMsg {
	rm := make([]recMsg, len(msgs))
	for i, m := range msgs {
		body := m.Body
		if e.opts.Compression {
			body = bytes.Clone(body)
		}
		rm[i] = recMsg{Nonce: rand.Uint64(), TTL: m.TTL, Delay: m.Delay, Client: client(i),
			Checksum: m.Checksum, Body: body}
	}
	return rm
}

// roomFor refuses a post of n messages that would take the queue over its
// _max_messages. Writer only.
func (q *queue) roomFor(n int, now int64) error {
	m := q.meta.Load()
	if m == nil {
		return nil
	}
	max, ok := m.Int(storage.MetaMaxMessages)
	if !ok || max <= 0 {
		return nil
	}
	// Messages that expired in the gap are counted until paged in and
	// reaped: not against the limit.
	live := q.live - q.gap.expiry.expired(now)
	if live+int64(n) > max {
		return &storage.LimitError{Msg: fmt.Sprintf("Queue %s holds %d messages; posting %d would exceed its _max_messages of %d.",
			q.name, live, n, max)}
	}
	return nil
}

// emitPost gives the messages the queue's next sequences and emits their
// post record. Writer only.
func (p *partition) emitPost(project, name string, now int64, rm []recMsg) {
	q := p.writerQueue(project, name)
	for i := range rm {
		rm[i].Seq = q.nextSeq + uint64(i)
	}
	p.emit(&record{Type: recPost, Project: project, Queue: name, Time: now, Msgs: rm})
}

// ListMessages implements storage.MessageStore. Markers are the decimal
// sequence of the last message returned.
func (e *Engine) ListMessages(ctx context.Context, project, name string, opts storage.ListMessagesOptions) ([]storage.Message, string, error) {
	if err := e.usable(); err != nil {
		return nil, "", err
	}
	p, q := e.existing(project, name)
	if q == nil || opts.Limit <= 0 {
		return nil, "", nil
	}
	var marker uint64
	if opts.Marker != "" {
		var err error
		if marker, err = strconv.ParseUint(opts.Marker, 10, 64); err != nil {
			return nil, "", nil
		}
	}
	now := e.now()
	v := q.view()
	picked := make([]*entry, 0, opts.Limit)
	pick := func(en *entry) bool {
		switch {
		case !en.visible(now),
			!opts.Echo && en.client == opts.ClientID,
			!opts.IncludeClaimed && en.liveClaim(now) != nil,
			!opts.IncludeDelayed && en.delayUntil > now:
		default:
			picked = append(picked, en)
		}
		return len(picked) < opts.Limit
	}
	// The head, then the gap from disk, then the tail.
	entries, headEnd := v.entries, len(v.entries)
	if v.gap.open() {
		headEnd = lower(entries, v.gap.from)
	}
	more := true
	for i := after(entries, marker); more && i < headEnd; i++ {
		more = pick(entries[i])
	}
	if more && v.gap.open() && marker+1 < v.gap.to {
		err := p.scanGap(qkey(project, name), max(marker+1, v.gap.from), v.gap.to, false, func(en *entry) bool {
			if v.gap.skips(en.seq) {
				return true
			}
			more = pick(en)
			return more
		})
		if err != nil {
			return nil, "", fmt.Errorf("%w: %v", storage.ErrUnavailable, err)
		}
	}
	for i := max(headEnd, after(entries, marker)); more && i < len(entries); i++ {
		more = pick(entries[i])
	}
	if len(picked) == 0 {
		return nil, "", nil
	}
	out, err := e.messages(p, q, picked, now)
	if err != nil {
		return nil, "", err
	}
	return out, strconv.FormatUint(picked[len(picked)-1].seq, 10), nil
}

// lookup finds a visible entry by id in a published snapshot.
func lookup(entries []*entry, id string, now int64) *entry {
	seq, nonce, ok := parseMessageID(id)
	if !ok {
		return nil
	}
	en := find(entries, seq)
	if en == nil || en.nonce != nonce || !en.visible(now) {
		return nil
	}
	return en
}

// lookupGap finds a visible message of gap g by id, reading it from disk.
// A message that is not in the gap is not found.
func (p *partition) lookupGap(q *queue, g *gapView, id string, now int64) (*entry, error) {
	seq, nonce, ok := parseMessageID(id)
	if !ok || !g.open() || seq < g.from || seq >= g.to || g.skips(seq) {
		return nil, nil
	}
	en, err := p.gapEntry(qkey(q.project, q.name), seq)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", storage.ErrUnavailable, err)
	}
	if en == nil || en.nonce != nonce || !en.visible(now) {
		return nil, nil
	}
	return en, nil
}

// find looks a message up by id in a view: memory, then the gap.
func (p *partition) find(q *queue, v *queueView, id string, now int64) (*entry, error) {
	if en := lookup(v.entries, id, now); en != nil {
		return en, nil
	}
	return p.lookupGap(q, v.gap, id, now)
}

// writerLookup is find on the writer's own state. Writer only.
func (p *partition) writerLookup(q *queue, id string, now int64) (*entry, error) {
	if en := lookup(q.entries, id, now); en != nil {
		return en, nil
	}
	return p.lookupGap(q, q.gapView(), id, now)
}

// GetMessage implements storage.MessageStore.
func (e *Engine) GetMessage(ctx context.Context, project, name, id string) (storage.Message, error) {
	if err := e.usable(); err != nil {
		return storage.Message{}, err
	}
	p, q := e.existing(project, name)
	if q == nil {
		return storage.Message{}, storage.ErrQueueNotFound
	}
	now := e.now()
	en, err := p.find(q, q.view(), id, now)
	if err != nil {
		return storage.Message{}, err
	}
	if en == nil {
		return storage.Message{}, storage.ErrMessageNotFound
	}
	msgs, err := e.messages(p, q, []*entry{en}, now)
	if err != nil {
		return storage.Message{}, err
	}
	if len(msgs) == 0 {
		return storage.Message{}, storage.ErrMessageNotFound
	}
	return msgs[0], nil
}

// GetMessages implements storage.MessageStore.
func (e *Engine) GetMessages(ctx context.Context, project, name string, ids []string) ([]storage.Message, error) {
	if err := e.usable(); err != nil {
		return nil, err
	}
	p, q := e.existing(project, name)
	if q == nil {
		return nil, storage.ErrQueueNotFound
	}
	now := e.now()
	v := q.view()
	picked := make([]*entry, 0, len(ids))
	seen := map[uint64]bool{}
	for _, id := range ids {
		en, err := p.find(q, v, id, now)
		if err != nil {
			return nil, err
		}
		if en != nil && !seen[en.seq] {
			seen[en.seq] = true
			picked = append(picked, en)
		}
	}
	return e.messages(p, q, picked, now)
}

// DeleteMessage implements storage.MessageStore.
func (e *Engine) DeleteMessage(ctx context.Context, project, name, id, claimID string) error {
	p := e.partition(project, name)
	err := p.do(func(now int64) error {
		q := p.queue(qkey(project, name))
		if q == nil {
			return nil
		}
		en, err := p.writerLookup(q, id, now)
		if en == nil || err != nil {
			return err
		}
		held := en.liveClaim(now)
		if claimID == "" {
			if held != nil {
				return storage.ErrMessageClaimed
			}
		} else {
			if held == nil {
				return storage.ErrMessageNotClaimed
			}
			c := q.getClaim(claimID)
			if c == nil || !c.live(now) {
				return storage.ErrClaimNotFound
			}
			if c != held {
				return storage.ErrMessageClaimed
			}
		}
		p.emit(&record{Type: recDelete, Project: project, Queue: name, Time: now, Seqs: []uint64{en.seq}})
		return nil
	})
	if err == nil {
		e.deleted.Add(1)
	}
	return err
}

// DeleteMessages implements storage.MessageStore.
func (e *Engine) DeleteMessages(ctx context.Context, project, name string, ids, claimIDs []string) error {
	p := e.partition(project, name)
	return p.do(func(now int64) error {
		q := p.queue(qkey(project, name))
		if q == nil {
			return nil
		}
		// Usually one claim: a list, not a map.
		var allowed []*claimRef
		for _, id := range claimIDs {
			if c := q.getClaim(id); c != nil && c.live(now) {
				allowed = append(allowed, c)
			}
		}
		seqs := make([]uint64, 0, len(ids))
		for _, id := range ids {
			en, err := p.writerLookup(q, id, now)
			if err != nil {
				return err
			}
			if en == nil {
				continue
			}
			if claimIDs != nil && !slices.Contains(allowed, en.liveClaim(now)) {
				return storage.ErrMessageClaimed
			}
			seqs = append(seqs, en.seq)
		}
		if len(seqs) > 0 {
			p.emit(&record{Type: recDelete, Project: project, Queue: name, Time: now, Seqs: seqs})
			e.deleted.Add(uint64(len(seqs)))
		}
		return nil
	})
}

// PopMessages implements storage.MessageStore.
func (e *Engine) PopMessages(ctx context.Context, project, name string, n int) ([]storage.Message, error) {
	p := e.partition(project, name)
	var out []storage.Message
	err := p.do(func(now int64) error {
		q := p.queue(qkey(project, name))
		if q == nil || !q.exists {
			return nil
		}
		var picked []*entry
		q.claimable(now, func(en *entry) bool {
			picked = append(picked, en)
			return len(picked) < n
		})
		var err error
		if out, err = e.messages(p, q, picked, now); err != nil {
			return err
		}
		seqs := make([]uint64, len(out))
		for i, m := range out {
			seqs[i], _, _ = parseMessageID(m.ID)
		}
		if len(seqs) > 0 {
			p.emit(&record{Type: recDelete, Project: project, Queue: name, Time: now, Seqs: seqs})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	e.deleted.Add(uint64(len(out)))
	return out, nil
}
