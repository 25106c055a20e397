package engine

import (
	"encoding/binary"
	"math"
	"time"
)

// The value under a batch key ('g', schema.go): the state of the live
// messages of one post, rewritten whenever one of them changes.

// appendMsgMeta appends the value of one message under an 'm' key (the
// format before batches, still read and migrated at open).
func appendMsgMeta(b []byte, e *entry) []byte {
	b = binary.LittleEndian.AppendUint64(b, e.nonce)
	b = binary.AppendVarint(b, e.created)
	b = binary.AppendVarint(b, e.expires.Load())
	b = binary.AppendVarint(b, e.ttl.Load())
	b = binary.AppendVarint(b, e.delayUntil)
	b = binary.AppendVarint(b, int64(e.claimCount.Load()))
	claimID := ""
	if c := e.claim.Load(); c != nil {
		claimID = c.id
	}
	b = appendString(b, claimID)
	b = appendString(b, e.client)
	b = appendString(b, e.checksum)
	b = binary.AppendUvarint(b, e.seg)
	b = binary.AppendVarint(b, e.off)
	return binary.AppendUvarint(b, uint64(e.blen))
}

// readMsgMeta decodes what appendMsgMeta wrote. prevClient, when equal,
// is shared rather than allocated again: a batch has one client id.
func readMsgMeta(d *decoder, seq uint64, prevClient string) (*entry, string) {
	e := &entry{seq: seq, nonce: d.fixed64()}
	e.created = d.varint()
	e.expires.Store(d.varint())
	e.ttl.Store(d.varint())
	e.delayUntil = d.varint()
	e.claimCount.Store(int32(d.varint()))
	claimID := d.string()
	if client := d.view(); string(client) == prevClient {
		e.client = prevClient
	} else {
		e.client = string(client)
	}
	e.checksum = d.string()
	e.seg = d.uvarint()
	e.off = d.varint()
	e.blen = uint32(d.uvarint())
	return e, claimID
}

// decodeIndex decodes the value of a message key: a 'g' batch starting at
// seq, or a legacy 'm' value of message seq (read as a batch of one). It
// returns the entries and the claim id of each ("" when unclaimed).
func decodeIndex(kind byte, seq uint64, b []byte) ([]*entry, []string, error) {
	if kind == kBatch {
		return decodeBatch(seq, b)
	}
	d := &decoder{b: b}
	e, claimID := readMsgMeta(d, seq, "")
	if d.err != nil {
		return nil, nil, d.err
	}
	return []*entry{e}, []string{claimID}, nil
}

// Every 'g' value starts with its format byte so the encoding can evolve.
// Format 1 spelt out every field of every entry; it is still read. Format
// 2 is written: what the messages of one post share (client, creation
// time) is stored once and fields at their usual value cost a flag bit
// (TestBatchValueSize). Badger's write path (its logs are written through
// memory maps, page by page) costs in proportion to these bytes, and every
// post writes one.
const (
	batchFormat1 = 1
	batchFormat  = 2
)

// Flags of a format 2 entry: which optional fields follow.
const (
	bfClient     = 1 << iota // client differs from the batch's
	bfCreated                // created differs from the batch's (varint delta)
	bfExpires                // expires is not created + ttl (varint delta)
	bfDelay                  // delayUntil (varint)
	bfClaimCount             // claimCount (uvarint)
	bfClaim                  // claim id (string)
	bfChecksum               // checksum (string)
)

// appendBatch appends the value of a batch: its live entries (all
// from one post, so sharing a first sequence), format 2.
//
//	format n client created { seqOff flags nonce ttl seg offDelta blen [optional fields] }*n
func appendBatch(b []byte, first uint64, live []*entry) []byte {
	b = append(b, batchFormat)
	b = binary.AppendUvarint(b, uint64(len(live)))
	var client string
	var created int64
	if len(live) > 0 {
		client, created = live[0].client, live[0].created
	}
	b = appendString(b, client)
	b = binary.AppendVarint(b, created)
	var prevOff int64
	for _, e := range live {
		ttl := e.ttl.Load()
		expiresDelta := e.expires.Load() - (e.created + ttl*int64(time.Second))
		claimCount := e.claimCount.Load()
		claimID := ""
		if c := e.claim.Load(); c != nil {
			claimID = c.id
		}
		var flags byte
		if e.client != client {
			flags |= bfClient
		}
		if e.created != created {
			flags |= bfCreated
		}
		if expiresDelta != 0 {
			flags |= bfExpires
		}
		if e.delayUntil != 0 {
			flags |= bfDelay
		}
		if claimCount != 0 {
			flags |= bfClaimCount
		}
		if claimID != "" {
			flags |= bfClaim
		}
		if e.checksum != "" {
			flags |= bfChecksum
		}
		b = binary.AppendUvarint(b, e.seq-first)
		b = append(b, flags)
		b = binary.LittleEndian.AppendUint64(b, e.nonce)
		b = binary.AppendVarint(b, ttl)
		b = binary.AppendUvarint(b, e.seg)
		b = binary.AppendVarint(b, e.off-prevOff)
		prevOff = e.off
		b = binary.AppendUvarint(b, uint64(e.blen))
		if flags&bfClient != 0 {
			b = appendString(b, e.client)
		}
		if flags&bfCreated != 0 {
			b = binary.AppendVarint(b, e.created-created)
		}
		if flags&bfExpires != 0 {
			b = binary.AppendVarint(b, expiresDelta)
		}
		if flags&bfDelay != 0 {
			b = binary.AppendVarint(b, e.delayUntil)
		}
		if flags&bfClaimCount != 0 {
			b = binary.AppendUvarint(b, uint64(claimCount))
		}
		if flags&bfClaim != 0 {
			b = appendString(b, claimID)
		}
		if flags&bfChecksum != 0 {
			b = appendString(b, e.checksum)
		}
	}
	return b
}

// decodeBatch returns the entries of a 'g' value and the claim id of each
// ("" when unclaimed).
func decodeBatch(first uint64, b []byte) ([]*entry, []string, error) {
	if len(b) == 0 || (b[0] != batchFormat && b[0] != batchFormat1) {
		return nil, nil, errBadRecord
	}
	format := b[0]
	d := &decoder{b: b[1:]}
	n := d.uvarint()
	if d.err != nil || n > uint64(len(b)) {
		return nil, nil, errBadRecord
	}
	ents := make([]*entry, 0, n)
	claims := make([]string, 0, n)
	var client string
	var created, prevOff int64
	var slab []entry // entrySlab entries per allocation, as posts allocate them
	if format == batchFormat {
		client = d.string()
		created = d.varint()
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		off := d.uvarint()
		if off > math.MaxUint32 || first+off < first {
			return nil, nil, errBadRecord
		}
		var e *entry
		var claimID string
		if format == batchFormat1 {
			e, claimID = readMsgMeta(d, first+off, client)
			client = e.client
		} else {
			if len(slab) == 0 {
				slab = make([]entry, min(n-i, entrySlab))
			}
			e, slab = &slab[0], slab[1:]
			claimID = readBatchEntry(d, e, first+off, client, created, prevOff)
			prevOff = e.off
		}
		e.batchOff = uint32(off)
		ents = append(ents, e)
		claims = append(claims, claimID)
	}
	if d.err != nil {
		return nil, nil, d.err
	}
	return ents, claims, nil
}

// readBatchEntry decodes one format 2 entry of a batch whose shared
// client and creation time are given; prevOff is the log offset of the
// entry before it.
func readBatchEntry(d *decoder, e *entry, seq uint64, client string, created, prevOff int64) string {
	flags := d.byte()
	*e = entry{seq: seq, client: client, created: created, nonce: d.fixed64()}
	ttl := d.varint()
	e.ttl.Store(ttl)
	e.seg = d.uvarint()
	e.off = prevOff + d.varint()
	blen := d.uvarint()
	if blen > math.MaxUint32 {
		d.err = errBadRecord
	}
	e.blen = uint32(blen)
	if flags&bfClient != 0 {
		e.client = d.string()
	}
	if flags&bfCreated != 0 {
		e.created += d.varint()
	}
	var expiresDelta int64
	if flags&bfExpires != 0 {
		expiresDelta = d.varint()
	}
	e.expires.Store(e.created + ttl*int64(time.Second) + expiresDelta)
	if flags&bfDelay != 0 {
		e.delayUntil = d.varint()
	}
	if flags&bfClaimCount != 0 {
		e.claimCount.Store(int32(d.uvarint()))
	}
	claimID := ""
	if flags&bfClaim != 0 {
		claimID = d.string()
	}
	if flags&bfChecksum != 0 {
		e.checksum = d.string()
	}
	return claimID
}
