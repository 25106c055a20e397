package engine

import (
	"encoding/binary"
	"fmt"
	"testing"

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
		key := childKey(kBatch, qk, seqBytes(1))
		it, err := txn.Get(key)
		if err != nil {
			return err
		}
		v, err := it.ValueCopy(nil)
		if err != nil {
			return err
		}
		ents, claims, err := decodeBatch(1, v)
		if err != nil {
			return err
		}
		for i, ent := range ents {
			if claims[i] != "" {
				ent.claim.Store(&claimRef{id: claims[i]})
			}
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

func TestBatchValueRoundTrip(t *testing.T) {
	ents := []*entry{{seq: 7, nonce: 1, client: "c", seg: 3, off: 10, blen: 4}, {seq: 9, nonce: 2, client: "c", checksum: "x"}}
	ents[0].expires.Store(100)
	ents[1].ttl.Store(60)
	ents[1].batchOff = 2
	got, claims, err := decodeBatch(7, appendBatch(nil, 7, ents))
	if err != nil || len(got) != 2 || len(claims) != 2 {
		t.Fatalf("decode: %v %d", err, len(got))
	}
	if got[1].seq != 9 || got[1].batchOff != 2 || got[1].batch() != 7 || got[1].checksum != "x" || got[1].ttl.Load() != 60 {
		t.Fatalf("second entry: %+v", got[1])
	}
	if got[0].seg != 3 || got[0].off != 10 || got[0].blen != 4 || got[0].expires.Load() != 100 {
		t.Fatalf("first entry: %+v", got[0])
	}
	if got[0].client != "c" || got[1].client != "c" {
		t.Fatal("client lost")
	}
}

func FuzzDecodeBatch(f *testing.F) {
	ent := &entry{seq: 5, nonce: 1, client: "3a1d6a3e-0000-4000-8000-000000000001"}
	f.Add(appendBatch(nil, 5, []*entry{ent}))
	f.Add([]byte{batchFormat, 200})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		ents, claims, err := decodeBatch(5, b)
		if err == nil && len(ents) != len(claims) {
			t.Fatalf("%d entries, %d claim ids", len(ents), len(claims))
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
