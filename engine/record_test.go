package engine

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

func TestRecordRoundTrip(t *testing.T) {
	r := &record{Type: recPost, Project: "p", Queue: "q", Time: -5, TTL: 60, Grace: 7, Flag: 3, ClaimID: "c", SubID: "s",
		Meta: []byte(`{"a":1}`), Seqs: []uint64{1, 1 << 60}, Msgs: []recMsg{{Seq: 9, Nonce: 1<<64 - 1, TTL: 60, Delay: 2, Client: "cl", Checksum: "MD5:x", Body: []byte(`{"b":[1]}`)}}}
	b, offs := r.encode(nil, nil)
	got, gotOffs, err := decodeRecord(b)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := got.encode(nil, nil)
	if !bytes.Equal(again, b) || got.Msgs[0].Nonce != r.Msgs[0].Nonce || got.Seqs[1] != 1<<60 {
		t.Fatalf("round trip changed the record: %+v", got)
	}
	if !reflect.DeepEqual(offs, gotOffs) || !bytes.Equal(b[offs[0]:offs[0]+len(r.Msgs[0].Body)], r.Msgs[0].Body) {
		t.Fatalf("body offsets %v, decoded %v", offs, gotOffs)
	}
}

// Records written before the format byte (format 0: the type first) are
// read as they were; a format from a later build is refused, not misread.
func TestRecordFormats(t *testing.T) {
	r := &record{Type: recClaim, Project: "p", Queue: "q", Time: 7, TTL: 60, ClaimID: "c", Seqs: []uint64{1, 2}}
	b, _ := r.encode(nil, nil)
	if b[0] != recordVersioned|recordFormat || b[1] != recClaim {
		t.Fatalf("record starts % x, want the format then the type", b[:2])
	}
	legacy := b[1:] // format 0: the same fields without the format byte
	got, _, err := decodeRecord(legacy)
	if err != nil || !reflect.DeepEqual(got, r) {
		t.Fatalf("format 0 record: %+v, %v", got, err)
	}
	future := append([]byte{recordVersioned | (recordFormat + 1)}, b[1:]...)
	if _, _, err := decodeRecord(future); !errors.Is(err, errBadRecord) {
		t.Fatalf("a later format was read: %v", err)
	}
}

// FuzzDecodeRecord: the decoder must reject, never panic on, any bytes, and
// whatever it accepts must re-encode to bytes that decode to the same
// record.
func FuzzDecodeRecord(f *testing.F) {
	seed := func(r *record) []byte { b, _ := r.encode(nil, nil); return b }
	f.Add(seed(&record{Type: recPost, Project: "p", Queue: "q", Msgs: []recMsg{{Seq: 1, Body: []byte("1")}}}))
	f.Add(seed(&record{Type: recClaim, Project: "p", Queue: "q", ClaimID: "c", Seqs: []uint64{1, 2}}))
	f.Add(seed(&record{Type: recClaim, Project: "p", Queue: "q", ClaimID: "c", Seqs: []uint64{1, 2}})[1:])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, _, err := decodeRecord(b)
		if err != nil {
			return
		}
		again, _ := r.encode(nil, nil)
		r2, _, err := decodeRecord(again)
		if err != nil || !reflect.DeepEqual(r, r2) {
			t.Fatalf("accepted record does not re-encode stably")
		}
	})
}
