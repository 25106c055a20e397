package engine

import (
	"encoding/binary"
	"fmt"
	"slices"
)

// Record types. Every change to a partition is one record in its WAL; the
// same apply function turns a record into in-memory state during normal
// operation and during recovery, so the two cannot disagree.
const (
	recPost         byte = iota + 1 // Msgs appended (queue auto-created)
	recDelete                       // Seqs removed
	recClaim                        // Seqs claimed by ClaimID until Time+TTL
	recClaimUpdate                  // ClaimID renewed at Time with TTL/Grace
	recClaimRelease                 // ClaimID released
	recQueueCreate                  // Meta set if the queue is new
	recQueueMeta                    // Meta replaced
	recQueueDelete                  // queue, messages, claims removed
	recPurge                        // Flag&1: messages, Flag&2: subscriptions
	recSubCreate                    // Meta = subscription JSON
	recSubUpdate                    // Meta = subscription JSON (whole new value)
	recSubDelete                    // SubID removed
)

// record is one logged change, in decoded form; unused fields are zero.
// It holds what is logged and nothing else: what applying it did is an
// effects value (apply.go), where its bodies landed in the log comes from
// encoding it.
type record struct {
	Type    byte
	Project string
	Queue   string
	Time    int64 // unix nanoseconds when the change was made
	TTL     int64
	Grace   int64
	Flag    uint64
	ClaimID string
	SubID   string
	Meta    []byte
	Seqs    []uint64
	Msgs    []recMsg
}

// recMsg is one posted message.
type recMsg struct {
	Seq      uint64
	Nonce    uint64
	TTL      int64
	Delay    int64
	Client   string
	Checksum string
	Body     []byte
}

// recordFormat is the version of the record encoding written. An encoded
// record starts with recordVersioned|recordFormat, then the type; records
// of format 0 (before versions) start with the type, which is below
// recordVersioned, and are still read. A later format is refused rather
// than misread.
const (
	recordVersioned = 0x80
	recordFormat    = 1
)

// encode appends r to b and the offset of each message body, counted from
// the start of r's encoding, to bodyOffs.
func (r *record) encode(b []byte, bodyOffs []int) ([]byte, []int) {
	start := len(b)
	b = append(b, recordVersioned|recordFormat, r.Type)
	b = appendString(b, r.Project)
	b = appendString(b, r.Queue)
	b = binary.AppendVarint(b, r.Time)
	b = binary.AppendVarint(b, r.TTL)
	b = binary.AppendVarint(b, r.Grace)
	b = binary.AppendUvarint(b, r.Flag)
	b = appendString(b, r.ClaimID)
	b = appendString(b, r.SubID)
	b = appendBytes(b, r.Meta)
	b = binary.AppendUvarint(b, uint64(len(r.Seqs)))
	for _, s := range r.Seqs {
		b = binary.AppendUvarint(b, s)
	}
	b = binary.AppendUvarint(b, uint64(len(r.Msgs)))
	bodyOffs = slices.Grow(bodyOffs, len(r.Msgs))
	for i := range r.Msgs {
		m := &r.Msgs[i]
		b = binary.AppendUvarint(b, m.Seq)
		b = binary.LittleEndian.AppendUint64(b, m.Nonce)
		b = binary.AppendVarint(b, m.TTL)
		b = binary.AppendVarint(b, m.Delay)
		b = appendString(b, m.Client)
		b = appendString(b, m.Checksum)
		b = binary.AppendUvarint(b, uint64(len(m.Body)))
		bodyOffs = append(bodyOffs, len(b)-start)
		b = append(b, m.Body...)
	}
	return b, bodyOffs
}

// decodeRecord decodes one record and the offset of each message body
// within b.
func decodeRecord(b []byte) (*record, []int, error) {
	if len(b) == 0 {
		return nil, nil, errBadRecord
	}
	rest := b
	if b[0]&recordVersioned != 0 {
		if v := b[0] &^ recordVersioned; v != recordFormat {
			return nil, nil, fmt.Errorf("%w: record format %d (this build reads 0 to %d)", errBadRecord, v, recordFormat)
		}
		rest = b[1:]
		if len(rest) == 0 {
			return nil, nil, errBadRecord
		}
	}
	d := &decoder{b: rest[1:]}
	r := &record{Type: rest[0]}
	r.Project = d.string()
	r.Queue = d.string()
	r.Time = d.varint()
	r.TTL = d.varint()
	r.Grace = d.varint()
	r.Flag = d.uvarint()
	r.ClaimID = d.string()
	r.SubID = d.string()
	r.Meta = d.bytes()
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		return nil, nil, errBadRecord
	}
	if n > 0 {
		r.Seqs = make([]uint64, n)
		for i := range r.Seqs {
			r.Seqs[i] = d.uvarint()
		}
	}
	n = d.uvarint()
	if n > uint64(len(d.b)) {
		return nil, nil, errBadRecord
	}
	var bodyOffs []int
	if n > 0 {
		r.Msgs = make([]recMsg, n)
		bodyOffs = make([]int, 0, n)
		for i := range r.Msgs {
			m := &r.Msgs[i]
			m.Seq = d.uvarint()
			m.Nonce = d.fixed64()
			m.TTL = d.varint()
			m.Delay = d.varint()
			m.Client = d.string()
			m.Checksum = d.string()
			m.Body = d.bytesAt(b, &bodyOffs)
		}
	}
	if d.err != nil || len(d.b) != 0 || r.Type < recPost || r.Type > recSubDelete {
		return nil, nil, errBadRecord
	}
	return r, bodyOffs, nil
}
