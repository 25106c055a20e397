package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/dgraph-io/badger/v4"
)

// The gap on disk: reading its messages back from Badger, its descriptor
// saved with the checkpoint, and the edits deletes make to its batch values.

func batchKey(qk string, first uint64) []byte {
	return binary.BigEndian.AppendUint64(appendChildPrefix(nil, kBatch, qk), first)
}

// gapEntry reads one message of the gap from Badger, or nil.
func (p *partition) gapEntry(qk string, seq uint64) (*entry, error) {
	var found *entry
	err := p.scanGapBatch(qk, seq, func(_ uint64, ents []*entry) {
		for _, e := range ents {
			if e.seq == seq {
				found = e
			}
		}
	})
	return found, err
}

// scanGap calls fn with the messages Badger holds with sequences in
// [from, to), in order (reversed: from the end), until fn returns false.
// Readers call it on a published gap: what the writer deleted meanwhile is
// theirs to skip (gapView.deleted).
func (p *partition) scanGap(qk string, from, to uint64, reverse bool, fn func(*entry) bool) error {
	if from >= to {
		return nil
	}
	prefix := appendChildPrefix(nil, kBatch, qk)
	err := p.db.View(func(txn *badger.Txn) error {
		opt := badger.DefaultIteratorOptions
		opt.Prefix = prefix
		opt.PrefetchValues = false
		start := batchKey(qk, from)
		if reverse {
			opt.Reverse = true
			start = batchKey(qk, to-1)
		} else {
			// The batch holding from may start before it: find its key.
			back := opt
			back.Reverse = true
			rit := txn.NewIterator(back)
			rit.Seek(start)
			if rit.ValidForPrefix(prefix) {
				start = rit.Item().KeyCopy(nil)
			}
			rit.Close()
		}
		it := txn.NewIterator(opt)
		defer it.Close()
		for it.Seek(start); it.ValidForPrefix(prefix); it.Next() {
			first := binary.BigEndian.Uint64(it.Item().Key()[len(prefix):])
			if first >= to && !reverse {
				return nil
			}
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			ents, _, err := decodeBatch(first, v)
			if err != nil {
				return fmt.Errorf("messages %d+: %w", first, err)
			}
			if reverse {
				for i := len(ents) - 1; i >= 0; i-- {
					if s := ents[i].seq; s >= from && s < to && !fn(ents[i]) {
						return nil
					}
				}
				if first <= from {
					return nil
				}
				continue
			}
			for _, e := range ents {
				if e.seq >= from && e.seq < to && !fn(e) {
					return nil
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read messages from disk: %w", err)
	}
	return nil
}

// Descriptor of a gap, under 'd' qk (schema.go), written by the flusher
// with the jobs whose changes it reflects, so that a restart loads the
// head and the tail and not the gap:
//
//	format from to live segLo segHi n { minuteDelta count }*n
//
// and, in format 2 (written only when the gap holds delayed messages, so
// that earlier versions still read every other descriptor):
//
//	m { secondDelta count }*m
const (
	gapFormat       = 1
	gapFormatDelays = 2
)

func appendGapDesc(b []byte, g *gapState) []byte {
	format := byte(gapFormat)
	if len(g.delays) > 0 {
		format = gapFormatDelays
	}
	b = append(b, format)
	b = binary.AppendUvarint(b, g.from)
	b = binary.AppendUvarint(b, g.to)
	b = binary.AppendVarint(b, g.live)
	b = binary.AppendUvarint(b, g.segLo)
	b = binary.AppendUvarint(b, g.segHi)
	b = binary.AppendUvarint(b, uint64(len(g.expiry)))
	var prev int64
	for _, x := range g.expiry {
		b = binary.AppendVarint(b, x.minute-prev)
		b = binary.AppendVarint(b, x.n)
		prev = x.minute
	}
	if format == gapFormatDelays {
		b = binary.AppendUvarint(b, uint64(len(g.delays)))
		prev = 0
		for _, x := range g.delays {
			b = binary.AppendVarint(b, x.minute-prev)
			b = binary.AppendVarint(b, x.n)
			prev = x.minute
		}
	}
	return b
}

var errGapFormat = errors.New("unknown gap format")

func decodeGapDesc(b []byte) (gapState, error) {
	if len(b) == 0 || (b[0] != gapFormat && b[0] != gapFormatDelays) {
		return gapState{}, errGapFormat
	}
	d := &decoder{b: b[1:]}
	g := gapState{from: d.uvarint(), to: d.uvarint(), live: d.varint(), segLo: d.uvarint(), segHi: d.uvarint()}
	n := d.uvarint()
	if n > uint64(len(b)) {
		return gapState{}, errBadRecord
	}
	var prev int64
	for i := uint64(0); i < n && d.err == nil; i++ {
		prev += d.varint()
		g.expiry = append(g.expiry, expiryBucket{prev, d.varint()})
	}
	if b[0] == gapFormatDelays {
		m := d.uvarint()
		if m > uint64(len(b)) {
			return gapState{}, errBadRecord
		}
		prev = 0
		for i := uint64(0); i < m && d.err == nil; i++ {
			prev += d.varint()
			g.delays = append(g.delays, expiryBucket{prev, d.varint()})
		}
	}
	return g, d.err
}

// gapDesc is a gap's descriptor on its way to Badger (val nil: delete).
type gapDesc struct {
	qk  string
	val []byte
}

// takeGapDescs encodes the gaps changed in this group. Writer only.
func (p *partition) takeGapDescs() []gapDesc {
	if len(p.gapsChanged) == 0 {
		return nil
	}
	out := make([]gapDesc, 0, len(p.gapsChanged))
	for q := range p.gapsChanged {
		d := gapDesc{qk: qkey(q.project, q.name)}
		if q.gap.open() {
			d.val = appendGapDesc(nil, &q.gap)
		}
		out = append(out, d)
		delete(p.gapsChanged, q)
	}
	return out
}

// gapEdits are the batch values of the gap that one flusher write
// changes: read from Badger once, edited in memory, written at the end,
// so that several deletes in one batch value all take effect.
type gapEdits struct {
	vals   map[batchRef][]*entry
	order  []batchRef
	bodies [][]byte // body keys of removed messages kept in Badger
}

// remove drops the messages seqs of the queue qk from their batch values.
func (g *gapEdits) remove(p *partition, qk string, seqs []uint64) error {
	if g.vals == nil {
		g.vals = map[batchRef][]*entry{}
	}
	for _, seq := range seqs {
		ref, ok := g.find(qk, seq)
		if !ok {
			var ents []*entry
			err := p.scanGapBatch(qk, seq, func(first uint64, e []*entry) {
				ref, ents = batchRef{qk, first}, e
			})
			if err != nil {
				return err
			}
			if ents == nil {
				continue // gone already
			}
			g.vals[ref] = ents
			g.order = append(g.order, ref)
		}
		ents := g.vals[ref]
		for i, e := range ents {
			if e.seq == seq {
				g.vals[ref] = append(ents[:i:i], ents[i+1:]...)
				if e.seg == 0 {
					g.bodies = append(g.bodies, childKey(kBody, qk, seqBytes(seq)))
				}
				break
			}
		}
	}
	return nil
}

// find returns the batch already read that holds seq.
func (g *gapEdits) find(qk string, seq uint64) (batchRef, bool) {
	for _, ref := range g.order {
		if ref.qk != qk || ref.first > seq {
			continue
		}
		for _, e := range g.vals[ref] {
			if e.seq == seq {
				return ref, true
			}
		}
	}
	return batchRef{}, false
}

// drop forgets the edits of a queue whose messages were all removed.
func (g *gapEdits) drop(qk string) {
	prefix := string(appendChildPrefix(nil, kBody, qk))
	g.bodies = slices.DeleteFunc(g.bodies, func(k []byte) bool { return strings.HasPrefix(string(k), prefix) })
	for _, ref := range g.order {
		if ref.qk == qk {
			delete(g.vals, ref)
		}
	}
}

// write adds the edited values to wb. A batch the same write re-encodes
// from memory (dirty) was paged in meanwhile: memory, which skipped the
// deleted messages, is its truth.
func (g *gapEdits) write(wb *badger.WriteBatch, dirty map[batchRef]bool) error {
	for _, k := range g.bodies {
		if err := wb.Delete(k); err != nil {
			return err
		}
	}
	for _, ref := range g.order {
		ents, ok := g.vals[ref]
		if !ok {
			continue
		}
		if _, resident := dirty[ref]; resident {
			continue
		}
		key := batchKey(ref.qk, ref.first)
		if len(ents) == 0 {
			if err := wb.Delete(key); err != nil {
				return err
			}
			continue
		}
		if err := wb.Set(key, appendBatch(nil, ref.first, ents)); err != nil {
			return err
		}
	}
	return nil
}

// scanGapBatch calls fn with the batch value holding seq, if any.
func (p *partition) scanGapBatch(qk string, seq uint64, fn func(first uint64, ents []*entry)) error {
	prefix := appendChildPrefix(nil, kBatch, qk)
	return p.db.View(func(txn *badger.Txn) error {
		opt := badger.DefaultIteratorOptions
		opt.Prefix = prefix
		opt.Reverse = true
		it := txn.NewIterator(opt)
		defer it.Close()
		it.Seek(batchKey(qk, seq))
		if !it.ValidForPrefix(prefix) {
			return nil
		}
		first := binary.BigEndian.Uint64(it.Item().Key()[len(prefix):])
		v, err := it.Item().ValueCopy(nil)
		if err != nil {
			return err
		}
		ents, _, err := decodeBatch(first, v)
		if err != nil {
			return fmt.Errorf("messages %d+: %w", first, err)
		}
		for _, e := range ents {
			if e.seq == seq {
				fn(first, ents)
				return nil
			}
		}
		return nil
	})
}
