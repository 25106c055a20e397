package engine

import (
	"errors"
	"fmt"
	"strings"
	"sync"
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

// bodyBuf is a recycled buffer that claims read bodies into (see
// storage.Claim.WithRecycle). A new buffer for every claim was memory the
// heap had not touched for long, and copying a claim's bodies into it
// from the page cache cost about twice as much as into one in use a
// moment before.
type bodyBuf struct{ b []byte }

var bodyBufs = sync.Pool{New: func() any { return &bodyBuf{b: make([]byte, 0, 16<<10)} }}

// maxRecycledBodyBuf bounds what one pooled buffer keeps: larger claims
// read into buffers of their own.
const maxRecycledBodyBuf = 256 << 10

func (bb *bodyBuf) recycle() {
	bb.b = bb.b[:0]
	bodyBufs.Put(bb)
}

// bodies returns the body of each entry. The bodies of one read share its
// buffer, carved from into when not nil (which is grown for next time
// when it was short).
func (p *partition) bodies(q *queue, ents []*entry, into *bodyBuf) ([]readBody, error) {
	out := make([]readBody, len(ents))
	want := 0
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
		n := int(end - en.off)
		want += n
		var buf []byte
		if into != nil && cap(into.b)-len(into.b) >= n {
			at := len(into.b)
			into.b = into.b[:at+n]
			buf = into.b[at : at+n : at+n]
		} else {
			buf = make([]byte, n)
		}
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
	if into != nil && want > cap(into.b) && want <= maxRecycledBodyBuf {
		// What was read lies in buffers of its own: room for the next
		// claim.
		into.b = make([]byte, 0, want)
	}
	return out, nil
}

// message builds the public form of an entry with its body.
func message(en *entry, id string, body []byte, now int64) storage.Message {
	m := storage.Message{
		ID: id, Body: body, TTL: en.ttl.Load(),
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
	return e.readMessages(p, q, ents, now, nil)
}

// claimMessages fills claim c with the messages of ents, their bodies read
// into a recycled buffer that c gives back (storage.Claim.Recycle).
func (e *Engine) claimMessages(p *partition, q *queue, ents []*entry, now int64, c storage.Claim) (storage.Claim, error) {
	bb := bodyBufs.Get().(*bodyBuf)
	msgs, err := e.readMessages(p, q, ents, now, bb)
	if err != nil {
		bb.recycle()
		return storage.Claim{}, err
	}
	c.Messages = msgs
	return c.WithRecycle(bb.recycle), nil
}

// readMessages is messages, reading into a recycled buffer when into is
// not nil.
func (e *Engine) readMessages(p *partition, q *queue, ents []*entry, now int64, into *bodyBuf) ([]storage.Message, error) {
	bodies, err := p.bodies(q, ents, into)
	if err != nil {
		return nil, err
	}
	// The ids share one string: one allocation, not one per message.
	var all strings.Builder
	all.Grow(messageIDLen * len(ents))
	var id [messageIDLen]byte
	for i, en := range ents {
		if bodies[i].found {
			all.Write(appendMessageID(id[:0], en.seq, en.nonce))
		}
	}
	ids := all.String()
	out := make([]storage.Message, 0, len(ents))
	for i, en := range ents {
		if bodies[i].found {
			k := len(out) * messageIDLen
			out = append(out, message(en, ids[k:k+messageIDLen], bodies[i].b, now))
		}
	}
	return out, nil
}
