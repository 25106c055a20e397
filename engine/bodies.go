package engine

import (
	"errors"
	"fmt"
	"time"

	"github.com/zaqar-go/zaqar/storage"
	"github.com/zaqar-go/zaqar/wal"
)

// Bodies that lie close together in one log segment are read with one
// pread: a claim's or a listing's messages usually come from a few posts,
// whose bodies are consecutive in the log, and a read per message cost as
// much CPU as the rest of a claim. bodyGap bounds the bytes of other
// records one read may span between two bodies; maxBodyRead one read.
const (
	bodyGap     = 4 << 10
	maxBodyRead = 1 << 20
)

// readBody is one entry's body; found is false for a message that
// vanished meanwhile (its segment deleted, or its Badger value gone).
type readBody struct {
	b     []byte
	found bool
}

// bodies returns the body of each entry. The bodies of one read share its
// buffer.
func (p *partition) bodies(q *queue, ents []*entry) ([]readBody, error) {
	out := make([]readBody, len(ents))
	for i := 0; i < len(ents); {
		en := ents[i]
		if b := en.body.Load(); b != nil {
			out[i] = readBody{*b, true}
			i++
			continue
		}
		if en.seg == 0 {
			body, err := badgerBody(p.db, qkey(q.project, q.name), en.seq)
			if err != nil && !errors.Is(err, storage.ErrMessageNotFound) {
				return nil, err
			}
			out[i] = readBody{body, err == nil}
			i++
			continue
		}
		j, end := i+1, en.off+int64(en.blen)
		for ; j < len(ents); j++ {
			nx := ents[j]
			if nx.seg != en.seg || nx.off < end || nx.off-end > bodyGap ||
				nx.off+int64(nx.blen)-en.off > maxBodyRead || nx.body.Load() != nil {
				break
			}
			end = nx.off + int64(nx.blen)
		}
		buf := make([]byte, end-en.off)
		if err := p.log.ReadAt(wal.Pos{Segment: en.seg, Offset: en.off}, buf); err != nil {
			if !errors.Is(err, wal.ErrSegmentGone) {
				return nil, fmt.Errorf("%w: %v", storage.ErrUnavailable, err)
			}
		} else {
			for k := i; k < j; k++ {
				o := ents[k].off - en.off
				n := o + int64(ents[k].blen)
				out[k] = readBody{buf[o:n:n], true}
			}
		}
		i = j
	}
	return out, nil
}

// message builds the public form of an entry with its body.
func message(en *entry, body []byte, now int64) storage.Message {
	m := storage.Message{
		ID: messageID(en.seq, en.nonce), Body: body, TTL: en.ttl.Load(),
		Created: time.Unix(0, en.created), Expires: time.Unix(0, en.expires.Load()),
		ClientID: en.client, ClaimCount: int(en.claimCount.Load()), Checksum: en.checksum,
	}
	if en.delayUntil > 0 {
		m.DelayUntil = time.Unix(0, en.delayUntil)
	}
	if c := en.liveClaim(now); c != nil {
		m.ClaimID = c.id
	}
	return m
}

// messages converts entries, skipping those that vanished meanwhile.
func (e *Engine) messages(p *partition, q *queue, ents []*entry, now int64) ([]storage.Message, error) {
	bodies, err := p.bodies(q, ents)
	if err != nil {
		return nil, err
	}
	out := make([]storage.Message, 0, len(ents))
	for i, en := range ents {
		if bodies[i].found {
			out = append(out, message(en, bodies[i].b, now))
		}
	}
	return out, nil
}
