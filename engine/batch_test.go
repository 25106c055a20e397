package engine

import (
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/zaqar-go/zaqar/storage"
	"github.com/zaqar-go/zaqar/wal"
)

// indexKeys returns the message index keys of Badger by kind: 'g' keys as
// first sequence -> number of entries, and the count of 'm' keys.
func indexKeys(t *testing.T, e *Engine) (batches map[uint64]int, legacy int) {
	t.Helper()
	batches = map[uint64]int{}
	err := e.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.DefaultIteratorOptions)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			kind, _, _, child, ok := splitKey(it.Item().Key())
			if !ok {
				continue
			}
			switch kind {
			case kMeta:
				legacy++
			case kBatch:
				v, err := it.Item().ValueCopy(nil)
				if err != nil {
					return err
				}
				first := binary.BigEndian.Uint64(child)
				ents, _, err := decodeBatch(first, v)
				if err != nil {
					t.Errorf("batch %d: %v", first, err)
				}
				batches[first] = len(ents)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return batches, legacy
}

func listAll(t *testing.T, e *Engine) map[string]storage.Message {
	t.Helper()
	msgs, _, err := e.ListMessages(ctx, "p", "q", storage.ListMessagesOptions{Limit: 100, Echo: true, IncludeClaimed: true})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]storage.Message{}
	for _, m := range msgs {
		out[m.ID] = m
	}
	return out
}

// TestBatchIndexAcrossRestart: Badger holds one index value per posted
// batch with its live messages only; claims, deletes and an emptied batch
// are reflected there, and a restart from Badger alone (nothing left to
// replay) restores exactly the live messages with their claims.
func TestBatchIndexAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	opts := func(o *Options) { o.Fsync, o.Partitions = wal.SyncNever, 1 }
	e := openEngine(t, dir, opts)
	a := post(t, e, "q", "a0", "a1", "a2", "a3", "a4")
	b := post(t, e, "q", "b0", "b1", "b2")
	c, err := e.CreateClaim(ctx, "p", "q", storage.ClaimOptions{TTL: 300, Grace: 60, Limit: 2})
	if err != nil || len(c.Messages) != 2 {
		t.Fatalf("claim: %v %+v", err, c)
	}
	if err := e.DeleteMessage(ctx, "p", "q", a[0], c.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.DeleteMessage(ctx, "p", "q", a[2], ""); err != nil {
		t.Fatal(err)
	}
	if err := e.DeleteMessages(ctx, "p", "q", b, nil); err != nil {
		t.Fatal(err)
	}
	checkpointNow(e)
	batches, legacy := indexKeys(t, e)
	if legacy != 0 || len(batches) != 1 || batches[1] != 3 {
		t.Fatalf("index keys: batches %v (want {1:3}), legacy %d", batches, legacy)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}

	e = openEngine(t, dir, opts)
	defer e.Close()
	got := listAll(t, e)
	if len(got) != 3 || got[a[1]].ClaimID != c.ID || got[a[3]].ClaimID != "" || got[a[4]].ClaimID != "" {
		t.Fatalf("after restart: %+v", got)
	}
	if string(got[a[4]].Body) != "a4" {
		t.Fatalf("body after restart: %q", got[a[4]].Body)
	}
	cl, err := e.GetClaim(ctx, "p", "q", c.ID)
	if err != nil || len(cl.Messages) != 1 || cl.Messages[0].ID != a[1] {
		t.Fatalf("claim after restart: %v %+v", err, cl)
	}
	if _, err := e.GetMessage(ctx, "p", "q", a[0]); err == nil {
		t.Fatal("deleted message is back")
	}
	// Sequences go on after the emptied batch, whose key is gone.
	next := post(t, e, "q", "c0")
	if next[0] <= b[2] {
		t.Fatalf("new id %s not after %s", next[0], b[2])
	}
}

// storedBatch reads the index value of the batch posted at first, with
// each entry's claim attached as the engine holds it.
func storedBatch(txn *badger.Txn, qk string, first uint64) ([]byte, []*entry, error) {
	key := childKey(kBatch, qk, seqBytes(first))
	it, err := txn.Get(key)
	if err != nil {
		return nil, nil, err
	}
	v, err := it.ValueCopy(nil)
	if err != nil {
		return nil, nil, err
	}
	ents, claims, err := decodeBatch(first, v)
	if err != nil {
		return nil, nil, err
	}
	for i, ent := range ents {
		if claims[i] != "" {
			ent.claim.Store(&claimRef{id: claims[i]})
		}
	}
	return key, ents, nil
}

// TestFormat1ValuesLoad: a data directory whose batch values were written
// in format 1 opens with every message as it was: TTLs, delay, checksum,
// claim; and later changes are written in format 2.
func TestFormat1ValuesLoad(t *testing.T) {
	dir := t.TempDir()
	opts := func(o *Options) { o.Fsync, o.Partitions = wal.SyncNever, 1 }
	e := openEngine(t, dir, opts)
	ids, err := e.PostMessages(ctx, "p", "q", "client-a", []storage.NewMessage{
		{Body: []byte(`"m0"`), TTL: 300}, {Body: []byte(`"m1"`), TTL: 900, Checksum: "MD5:00"},
		{Body: []byte(`"m2"`), TTL: 600, Delay: 120}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := e.CreateClaim(ctx, "p", "q", storage.ClaimOptions{TTL: 300, Grace: 60, Limit: 1})
	if err != nil || len(c.Messages) != 1 {
		t.Fatalf("claim: %v", err)
	}
	want := map[string]storage.Message{}
	for _, id := range ids {
		m, err := e.GetMessage(ctx, "p", "q", id)
		if err != nil {
			t.Fatal(err)
		}
		want[id] = m
	}
	checkpointNow(e)
	err = e.db.Update(func(txn *badger.Txn) error {
		key, ents, err := storedBatch(txn, qkey("p", "q"), 1)
		if err != nil {
			return err
		}
		return txn.Set(key, appendBatchFormat1(nil, 1, ents))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}

	e = openEngine(t, dir, opts)
	defer e.Close()
	for id, w := range want {
		m, err := e.GetMessage(ctx, "p", "q", id)
		if err != nil {
			t.Fatalf("%s after restart: %v", id, err)
		}
		if m.TTL != w.TTL || m.ClaimID != w.ClaimID || m.Checksum != w.Checksum || !m.DelayUntil.Equal(w.DelayUntil) ||
			!m.Created.Equal(w.Created) || string(m.Body) != string(w.Body) {
			t.Fatalf("%s after restart: %+v, want %+v", id, m, w)
		}
	}
	if err := e.DeleteMessage(ctx, "p", "q", ids[0], c.ID); err != nil {
		t.Fatal(err)
	}
	checkpointNow(e)
	err = e.db.View(func(txn *badger.Txn) error {
		it, err := txn.Get(childKey(kBatch, qkey("p", "q"), seqBytes(1)))
		if err != nil {
			return err
		}
		return it.Value(func(v []byte) error {
			if v[0] != batchFormat {
				t.Errorf("rewritten value in format %d", v[0])
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestLegacyMessageKeysMigrate: an index written one key per message (the
// earlier format) loads, is rewritten as batch keys at open, and later
// changes stick across another restart.
func TestLegacyMessageKeysMigrate(t *testing.T) {
	dir := t.TempDir()
	opts := func(o *Options) { o.Fsync, o.Partitions = wal.SyncNever, 1 }
	e := openEngine(t, dir, opts)
	ids := post(t, e, "q", "m0", "m1", "m2")
	c, err := e.CreateClaim(ctx, "p", "q", storage.ClaimOptions{TTL: 300, Grace: 60, Limit: 1})
	if err != nil || len(c.Messages) != 1 {
		t.Fatalf("claim: %v", err)
	}
	checkpointNow(e)
	// Rewrite the index in the earlier format.
	err = e.db.Update(func(txn *badger.Txn) error {
		qk := qkey("p", "q")
		key, ents, err := storedBatch(txn, qk, 1)
		if err != nil {
			return err
		}
		for _, ent := range ents {
			if err := txn.Set(childKey(kMeta, qk, seqBytes(ent.seq)), appendMsgMeta(nil, ent)); err != nil {
				return err
			}
		}
		return txn.Delete(key)
	})
	if err != nil {
		t.Fatal(err)
	}
	if batches, legacy := indexKeys(t, e); len(batches) != 0 || legacy != 3 {
		t.Fatalf("set-up: batches %v, legacy %d", batches, legacy)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}

	e = openEngine(t, dir, opts)
	got := listAll(t, e)
	if len(got) != 3 || got[ids[0]].ClaimID != c.ID || string(got[ids[2]].Body) != "m2" {
		t.Fatalf("after migration: %+v", got)
	}
	if batches, legacy := indexKeys(t, e); len(batches) != 3 || legacy != 0 {
		t.Fatalf("after migration: batches %v, legacy %d", batches, legacy)
	}
	if err := e.DeleteMessage(ctx, "p", "q", ids[1], ""); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}

	e = openEngine(t, dir, opts)
	defer e.Close()
	got = listAll(t, e)
	if _, back := got[ids[1]]; back || len(got) != 2 {
		t.Fatalf("after delete and restart: %+v", got)
	}
}

// sameEntry reports how two index entries differ in what Badger keeps
// of them, or "" when they do not.
func sameEntry(a, b *entry, claimA, claimB string) string {
	type kept struct {
		seq, nonce               uint64
		created, delayUntil, off int64
		client, checksum, claim  string
		seg                      uint64
		blen, batchOff           uint32
		expires, ttl             int64
		claimCount               int32
	}
	ka := kept{a.seq, a.nonce, a.created, a.delayUntil, a.off, a.client, a.checksum, claimA, a.seg, a.blen, a.batchOff, a.expires.Load(), a.ttl.Load(), a.claimCount.Load()}
	kb := kept{b.seq, b.nonce, b.created, b.delayUntil, b.off, b.client, b.checksum, claimB, b.seg, b.blen, b.batchOff, b.expires.Load(), b.ttl.Load(), b.claimCount.Load()}
	if ka != kb {
		return fmt.Sprintf("%+v != %+v", ka, kb)
	}
	return ""
}

// batchEntries is a post of n messages as the engine indexes it.
func batchEntries(first uint64, n int) []*entry {
	const created = int64(1_795_000_000_123_456_789)
	ents := make([]*entry, n)
	for i := range ents {
		e := &entry{seq: first + uint64(i), nonce: 0x9e3779b97f4a7c15 * uint64(i+1), created: created,
			client: "3a1d6a3e-0000-4000-8000-000000000001", seg: 12, off: 4096 + int64(i)*1100, blen: 1050,
			batchOff: uint32(i)}
		e.ttl.Store(3600)
		e.expires.Store(created + 3600*int64(time.Second))
		ents[i] = e
	}
	return ents
}

// TestBatchValueRoundTrip: every field, at its usual value or not, comes
// back as it was.
func TestBatchValueRoundTrip(t *testing.T) {
	ents := batchEntries(7, 6)
	ents[1].client = "another-client"
	ents[2].created += 5
	ents[2].expires.Store(ents[2].created + 60*int64(time.Second))
	ents[3].ttl.Store(4000) // raised by a claim: expires follows created + ttl no more
	ents[3].expires.Store(ents[3].created + 3900*int64(time.Second))
	ents[3].claim.Store(&claimRef{id: "claim-1"})
	ents[3].claimCount.Store(2)
	ents[4].delayUntil = ents[4].created + 30*int64(time.Second)
	ents[4].checksum = "MD5:abc"
	ents[5].seg, ents[5].off = 0, 0      // body not in the log: offsets go backwards
	ents = append(ents[:1], ents[2:]...) // a deleted message leaves a gap
	v := appendBatch(nil, 7, ents)
	if v[0] != batchFormat {
		t.Fatalf("format %d", v[0])
	}
	got, claims, err := decodeBatch(7, v)
	if err != nil || len(got) != len(ents) || len(claims) != len(ents) {
		t.Fatalf("decode: %v, %d entries", err, len(got))
	}
	for i, e := range ents {
		claim := ""
		if c := e.claim.Load(); c != nil {
			claim = c.id
		}
		if d := sameEntry(e, got[i], claim, claims[i]); d != "" {
			t.Errorf("entry %d: %s", i, d)
		}
	}
	if got[0].batch() != 7 || got[4].batch() != 7 {
		t.Fatal("batch lost")
	}
}

// appendBatchFormat1 is how format 1 values were written.
func appendBatchFormat1(b []byte, first uint64, live []*entry) []byte {
	b = append(b, batchFormat1)
	b = binary.AppendUvarint(b, uint64(len(live)))
	for _, e := range live {
		b = binary.AppendUvarint(b, e.seq-first)
		b = appendMsgMeta(b, e)
	}
	return b
}

// TestBatchFormat1StillReads: values written before format 2 decode to
// the same entries.
func TestBatchFormat1StillReads(t *testing.T) {
	ents := batchEntries(100, 3)
	ents[1].claim.Store(&claimRef{id: "claim-9"})
	ents[2].checksum = "MD5:x"
	got, claims, err := decodeBatch(100, appendBatchFormat1(nil, 100, ents))
	if err != nil || len(got) != 3 {
		t.Fatalf("decode: %v, %d entries", err, len(got))
	}
	for i, e := range ents {
		claim := ""
		if c := e.claim.Load(); c != nil {
			claim = c.id
		}
		if d := sameEntry(e, got[i], claim, claims[i]); d != "" {
			t.Errorf("entry %d: %s", i, d)
		}
	}
}

// TestBatchValueSize: a post of 10 messages costs Badger about 20 bytes a
// message, a quarter of format 1, and stays small enough that Badger
// writes it once, to its value log.
func TestBatchValueSize(t *testing.T) {
	ents := batchEntries(1, 10)
	v := appendBatch(nil, 1, ents)
	old := appendBatchFormat1(nil, 1, ents)
	t.Logf("10 messages: %d bytes (format 1: %d)", len(v), len(old))
	if len(v) > 10*20+60 || len(v) > len(old)/3 {
		t.Fatalf("10 messages take %d bytes (format 1: %d)", len(v), len(old))
	}
	if bound := batchValueBound(ents); len(v) > bound {
		t.Fatalf("value %d bytes over its bound %d", len(v), bound)
	}
}

// FuzzDecodeBatch: no input panics, and what decodes encodes (format 2)
// and decodes again to the same entries.
func FuzzDecodeBatch(f *testing.F) {
	ents := batchEntries(5, 3)
	ents[1].claim.Store(&claimRef{id: "c"})
	ents[2].delayUntil = 9
	f.Add(appendBatch(nil, 5, ents))
	f.Add(appendBatchFormat1(nil, 5, ents))
	f.Add([]byte{batchFormat, 200})
	f.Add([]byte{batchFormat1, 1, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, claims, err := decodeBatch(5, b)
		if err != nil {
			return
		}
		if len(got) != len(claims) {
			t.Fatalf("%d entries, %d claim ids", len(got), len(claims))
		}
		for i, e := range got {
			if claims[i] != "" {
				e.claim.Store(&claimRef{id: claims[i]})
			}
		}
		again, claimsAgain, err := decodeBatch(5, appendBatch(nil, 5, got))
		if err != nil || len(again) != len(got) {
			t.Fatalf("re-encoded: %v, %d of %d entries", err, len(again), len(got))
		}
		for i := range got {
			if d := sameEntry(got[i], again[i], claims[i], claimsAgain[i]); d != "" {
				t.Fatalf("entry %d: %s", i, d)
			}
		}
	})
}

// TestFlushMemoryReuseKeepsIndexIntact: the flusher encodes index keys
// and values into memory it reuses for the next Badger batch, so every
// batch must be complete in Badger before its memory is overwritten. Each
// post is flushed on its own, with distinct TTLs and clients, and one
// oversized post makes the flusher replace its buffer; after a restart
// from Badger alone every message must come back as it was posted.
func TestFlushMemoryReuseKeepsIndexIntact(t *testing.T) {
	dir := t.TempDir()
	e := openEngine(t, dir, nil)
	type posted struct {
		ttl    int64
		client string
		body   string
	}
	want := map[string]posted{}
	postFlushed := func(i, n int) {
		client := fmt.Sprintf("client-%04d", i)
		msgs := make([]storage.NewMessage, n)
		for j := range msgs {
			msgs[j] = storage.NewMessage{Body: []byte(fmt.Sprintf(`"%d.%d"`, i, j)), TTL: int64(60 + i)}
		}
		ids, err := e.PostMessages(ctx, "p", "q", client, msgs)
		if err != nil {
			t.Fatal(err)
		}
		for j, id := range ids {
			want[id] = posted{int64(60 + i), client, string(msgs[j].Body)}
		}
		checkpointNow(e)
	}
	for i := range 40 {
		postFlushed(i, 3)
	}
	postFlushed(40, 2000) // its index value outgrows the buffer
	for i := 41; i < 60; i++ {
		postFlushed(i, 3)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}

	e = openEngine(t, dir, nil)
	defer e.Close()
	for id, w := range want {
		m, err := e.GetMessage(ctx, "p", "q", id)
		if err != nil {
			t.Fatalf("message %s: %v", id, err)
		}
		if m.TTL != w.ttl || m.ClientID != w.client || string(m.Body) != w.body {
			t.Fatalf("message %s came back as ttl %d, client %q, body %s; posted ttl %d, client %q, body %s",
				id, m.TTL, m.ClientID, m.Body, w.ttl, w.client, w.body)
		}
	}
}

// TestFlushArenaHandsOutStableBytes: what the arena handed out stays as it
// was while more is carved, also when an append outgrew its reservation.
func TestFlushArenaHandsOutStableBytes(t *testing.T) {
	var a flushArena
	var got [][]byte
	var want []string
	for i := range 200 {
		v := []byte(fmt.Sprintf("value-%03d-", i))
		n := len(v) * (1 + i%7) * 100
		if i%50 == 49 {
			a.reserve(1) // too small: the append moves
		} else {
			a.reserve(n)
		}
		b := a.tail()
		for len(b) < n {
			b = append(b, v...)
		}
		got = append(got, a.carve(b))
		want = append(want, string(b))
	}
	for i := range got {
		if string(got[i]) != want[i] {
			t.Fatalf("piece %d changed after more was carved", i)
		}
		if cap(got[i]) != len(got[i]) {
			t.Fatalf("piece %d has room to grow into its neighbour", i)
		}
	}
}
