package engine

import (
	"bytes"
	"testing"
)

func TestRecordRoundTrip(t *testing.T) {
	r := &record{Type: recPost, Project: "p", Queue: "q", Time: -5, TTL: 60, Grace: 7, Flag: 3, ClaimID: "c", SubID: "s",
		Meta: []byte(`{"a":1}`), Seqs: []uint64{1, 1 << 60}, Msgs: []recMsg{{Seq: 9, Nonce: 1<<64 - 1, TTL: 60, Delay: 2, Client: "cl", Checksum: "MD5:x", Body: []byte(`{"b":[1]}`)}}}
	got, err := decodeRecord(r.encode(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.encode(nil), r.encode(nil)) || got.Msgs[0].Nonce != r.Msgs[0].Nonce || got.Seqs[1] != 1<<60 {
		t.Fatalf("round trip changed the record: %+v", got)
	}
}

// FuzzDecodeRecord: the decoder must reject, never panic on, any bytes, and
// whatever it accepts must re-encode to the same bytes.
func FuzzDecodeRecord(f *testing.F) {
	f.Add((&record{Type: recPost, Project: "p", Queue: "q", Msgs: []recMsg{{Seq: 1, Body: []byte("1")}}}).encode(nil))
	f.Add((&record{Type: recClaim, Project: "p", Queue: "q", ClaimID: "c", Seqs: []uint64{1, 2}}).encode(nil))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRecord(b)
		if err != nil {
			return
		}
		if again := r.encode(nil); !bytes.Equal(again, b) {
			if r2, err := decodeRecord(again); err != nil || !bytes.Equal(r2.encode(nil), again) {
				t.Fatalf("accepted record does not re-encode stably")
			}
		}
	})
}
