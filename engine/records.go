package engine

import (
	"encoding/binary"
	"errors"
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

// record is the decoded form of every record type; unused fields are zero.
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

	created  bool     // set by apply when the record created the queue; not logged
	ents     []*entry // set by apply for recPost: the entry of each message (nil if skipped)
	gone     []*entry // set by apply for recDelete: the entries it removed
	bodyOffs []int    // offset of each message body within the encoded record
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

var errBadRecord = errors.New("engine: malformed record")

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBytes(b, s []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func (r *record) encode(b []byte) []byte {
	start := len(b)
	b = append(b, r.Type)
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
	r.bodyOffs = slices.Grow(r.bodyOffs[:0], len(r.Msgs))
	for i := range r.Msgs {
		m := &r.Msgs[i]
		b = binary.AppendUvarint(b, m.Seq)
		b = binary.LittleEndian.AppendUint64(b, m.Nonce)
		b = binary.AppendVarint(b, m.TTL)
		b = binary.AppendVarint(b, m.Delay)
		b = appendString(b, m.Client)
		b = appendString(b, m.Checksum)
		b = binary.AppendUvarint(b, uint64(len(m.Body)))
		r.bodyOffs = append(r.bodyOffs, len(b)-start)
		b = append(b, m.Body...)
	}
	return b
}

// decoder reads the encoding above; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errBadRecord
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errBadRecord
		return 0
	}
	d.b = d.b[n:]
	return v
}

// bytes returns a copy: records outlive the WAL's read buffer.
func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)) {
		d.err = errBadRecord
		return nil
	}
	if n == 0 {
		return nil
	}
	out := append([]byte(nil), d.b[:n]...)
	d.b = d.b[n:]
	return out
}

func (d *decoder) string() string { return string(d.view()) }

// view returns the next length-prefixed value without copying it.
func (d *decoder) view() []byte {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)) {
		d.err = errBadRecord
		return nil
	}
	out := d.b[:n:n]
	d.b = d.b[n:]
	return out
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 1 {
		d.err = errBadRecord
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) fixed64() uint64 {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 8 {
		d.err = errBadRecord
		return 0
	}
	v := binary.LittleEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

// bytesAt is bytes that also records where the value starts within whole.
func (d *decoder) bytesAt(whole []byte, offs *[]int) []byte {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)) {
		d.err = errBadRecord
		return nil
	}
	*offs = append(*offs, len(whole)-len(d.b))
	out := append([]byte(nil), d.b[:n]...)
	d.b = d.b[n:]
	return out
}

func decodeRecord(b []byte) (*record, error) {
	if len(b) == 0 {
		return nil, errBadRecord
	}
	d := &decoder{b: b[1:]}
	r := &record{Type: b[0]}
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
		return nil, errBadRecord
	}
	if n > 0 {
		r.Seqs = make([]uint64, n)
		for i := range r.Seqs {
			r.Seqs[i] = d.uvarint()
		}
	}
	n = d.uvarint()
	if n > uint64(len(d.b)) {
		return nil, errBadRecord
	}
	if n > 0 {
		r.Msgs = make([]recMsg, n)
		r.bodyOffs = make([]int, 0, n)
		for i := range r.Msgs {
			m := &r.Msgs[i]
			m.Seq = d.uvarint()
			if len(d.b) < 8 {
				return nil, errBadRecord
			}
			m.Nonce = binary.LittleEndian.Uint64(d.b)
			d.b = d.b[8:]
			m.TTL = d.varint()
			m.Delay = d.varint()
			m.Client = d.string()
			m.Checksum = d.string()
			m.Body = d.bytesAt(b, &r.bodyOffs)
		}
	}
	if d.err != nil || len(d.b) != 0 || r.Type < recPost || r.Type > recSubDelete {
		return nil, errBadRecord
	}
	return r, nil
}
