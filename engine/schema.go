package engine

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/zaqar-go/zaqar/storage"
)

// Badger key layout. qk is qkey(project, queue): a uvarint length, the
// project, then the queue name (which can never contain a NUL byte).
//
//	'q' qk            queue metadata (JSON)
//	'n' qk            next sequence (8 bytes big endian)
//	'g' qk 0 first    index of the live messages of the batch posted at
//	                  sequence first (appendBatch), in the value log
//	                  when larger than valueThreshold
//	'm' qk 0 seq      one message's index (msgMeta encoding): the format
//	                  before 'g', migrated to 'g' at open
//	'b' qk 0 seq      message body, in the value log when larger than
//	                  valueThreshold
//	'c' qk 0 claimid  claim state
//	'd' qk            the queue's gap: messages only on disk (gap.go)
//	's' qk 0 subid    subscription (JSON)
//	'x' "ckpt" p      checkpoint: last WAL index of partition p in Badger
//	'x' "partitions"  partition count (set at creation, changed by Repartition)
const (
	kQueue = 'q'
	kNext  = 'n'
	kBatch = 'g'
	kMeta  = 'm'
	kBody  = 'b'
	kClaim = 'c'
	kGap   = 'd'
	kSub   = 's'
)

func queueKey(kind byte, qk string) []byte {
	return append([]byte{kind}, qk...)
}

func childKey(kind byte, qk string, child []byte) []byte {
	return append(appendChildPrefix(make([]byte, 0, 2+len(qk)+len(child)), kind, qk), child...)
}

// appendChildPrefix appends what every child key of qk of this kind
// starts with.
func appendChildPrefix(b []byte, kind byte, qk string) []byte {
	b = append(b, kind)
	b = append(b, qk...)
	return append(b, 0)
}

func seqBytes(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

func ckptKey(p int) []byte { return []byte(fmt.Sprintf("xckpt%03d", p)) }

var partitionsKey = []byte("xpartitions")

// splitKey parses kind, project, queue and child part of a key.
func splitKey(k []byte) (kind byte, project, queue string, child []byte, ok bool) {
	if len(k) < 2 {
		return 0, "", "", nil, false
	}
	kind = k[0]
	n, w := binary.Uvarint(k[1:])
	if w <= 0 || uint64(len(k)-1-w) < n {
		return 0, "", "", nil, false
	}
	rest := k[1+w:]
	project = string(rest[:n])
	rest = rest[n:]
	for i, c := range rest {
		if c == 0 {
			return kind, project, string(rest[:i]), rest[i+1:], true
		}
	}
	return kind, project, string(rest), nil, true
}

func encodeClaimState(s *claimState) []byte {
	b := binary.AppendVarint(nil, s.expires)
	b = binary.AppendVarint(b, s.updated)
	b = binary.AppendVarint(b, s.ttl)
	return binary.AppendVarint(b, s.grace)
}

func decodeClaimState(b []byte) (*claimState, error) {
	d := &decoder{b: b}
	s := &claimState{expires: d.varint(), updated: d.varint(), ttl: d.varint(), grace: d.varint()}
	return s, d.err
}

// storedSub is a subscription's persistent form.
type storedSub struct {
	ID         string           `json:"id"`
	Queue      string           `json:"queue"`
	Subscriber string           `json:"subscriber"`
	TTL        int64            `json:"ttl"`
	Options    storage.Metadata `json:"options"`
	Created    int64            `json:"created"`
	Expires    int64            `json:"expires"`
	Confirmed  bool             `json:"confirmed"`
}

func (s *storedSub) public() storage.Subscription {
	return storage.Subscription{
		ID: s.ID, Queue: s.Queue, Subscriber: s.Subscriber, TTL: s.TTL,
		Options: s.Options.Clone(), Created: time.Unix(0, s.Created), Expires: time.Unix(0, s.Expires),
		Confirmed: s.Confirmed,
	}
}

func decodeSub(b []byte) (*storedSub, error) {
	var s storedSub
	if err := unmarshalJSON(b, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

func encodeMeta(m storage.Metadata) []byte {
	if m == nil {
		m = storage.Metadata{}
	}
	b, err := json.Marshal(m)
	if err != nil {
		// Metadata comes from decoded JSON, so it always encodes.
		panic("BUG: metadata does not encode: " + err.Error())
	}
	return b
}

func decodeMeta(b []byte) (storage.Metadata, error) {
	m := storage.Metadata{}
	if len(b) == 0 {
		return m, nil
	}
	if err := unmarshalJSON(b, &m); err != nil {
		return nil, err
	}
	return m, nil
}

// badgerBody fetches a flushed body from Badger.
func badgerBody(db *badger.DB, qk string, seq uint64) ([]byte, error) {
	var out []byte
	err := db.View(func(txn *badger.Txn) error {
		it, err := txn.Get(childKey(kBody, qk, seqBytes(seq)))
		if err != nil {
			return err
		}
		out, err = it.ValueCopy(nil)
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, storage.ErrMessageNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("%w: read body: %v", storage.ErrUnavailable, err)
	}
	return out, nil
}
