package loadgen

import (
	"strconv"
	"strings"
	"sync"
)

// ledger proves delivery: every acknowledged message key is produced once,
// and each consumption is checked against it. Sharded by producer worker
// to keep contention low at high rates.
//
// A run produces millions of keys, so they are kept as ledgerKey (no
// pointers): the collector need not scan the ledger, whose marking would
// otherwise stall the workers and be counted, open loop, as server latency.
type ledger struct {
	prefix string // "<run>.", which every key of this run starts with
	shards [64]ledgerShard

	foreignMu sync.Mutex
	foreign   map[string]bool // consumed keys not of this run (left by another, or malformed)
}

// ledgerKey names a message of the run: the producer worker and the
// worker's message number, unique within the run.
type ledgerKey struct {
	worker uint32
	n      uint64
}

type ledgerShard struct {
	mu       sync.Mutex
	produced map[ledgerKey]bool // key -> consumed
	unacked  map[ledgerKey]bool // consumed keys never acknowledged to a producer
}

// Ledger is the delivery account of a run.
type Ledger struct {
	Produced   int64 `json:"produced"`   // messages acknowledged with 201
	Consumed   int64 `json:"consumed"`   // distinct acknowledged messages consumed
	Duplicates int64 `json:"duplicates"` // consumptions of a message already consumed (redelivery after a claim expired, or a bug)
	Unacked    int64 `json:"unacked"`    // consumed messages whose POST never got its 201 (timeouts), or not of this run
	Lost       int64 `json:"lost"`       // acknowledged, not consumed, and not left in any queue
	Remaining  int64 `json:"remaining"`  // messages still in the queues at the end
	Drained    bool  `json:"drained"`    // the queues were emptied, so Lost is exact
}

func newLedger(runID string) *ledger {
	l := &ledger{prefix: runID + ".", foreign: map[string]bool{}}
	for i := range l.shards {
		l.shards[i].produced = map[ledgerKey]bool{}
		l.shards[i].unacked = map[ledgerKey]bool{}
	}
	return l
}

// appendMessageKey appends the key a message body carries:
// "<run>.<worker>.<n>".
func (l *ledger) appendMessageKey(b []byte, worker int, n uint64) []byte {
	b = append(b, l.prefix...)
	b = strconv.AppendInt(b, int64(worker), 10)
	b = append(b, '.')
	return strconv.AppendUint(b, n, 10)
}

// parseKey reads a key that appendMessageKey wrote for this run.
func (l *ledger) parseKey(s string) (ledgerKey, bool) {
	rest, ok := strings.CutPrefix(s, l.prefix)
	if !ok {
		return ledgerKey{}, false
	}
	w, n, ok := strings.Cut(rest, ".")
	if !ok {
		return ledgerKey{}, false
	}
	worker, err := strconv.ParseUint(w, 10, 32)
	if err != nil {
		return ledgerKey{}, false
	}
	num, err := strconv.ParseUint(n, 10, 64)
	if err != nil {
		return ledgerKey{}, false
	}
	return ledgerKey{worker: uint32(worker), n: num}, true
}

func (l *ledger) shard(worker uint32) *ledgerShard {
	return &l.shards[worker%uint32(len(l.shards))]
}

// produced records the acknowledged messages first..first+count-1 of a
// worker.
func (l *ledger) produced(worker int, first uint64, count int) {
	s := l.shard(uint32(worker))
	s.mu.Lock()
	defer s.mu.Unlock()
	for n := first; n < first+uint64(count); n++ {
		k := ledgerKey{worker: uint32(worker), n: n}
		if s.unacked[k] {
			// Consumed before the producer saw its 201: a normal race, not
			// an unacknowledged delivery.
			delete(s.unacked, k)
			s.produced[k] = true
		} else if _, seen := s.produced[k]; !seen {
			s.produced[k] = false
		}
	}
}

// consumed records one delivery of the message with body key key; it
// reports a duplicate.
func (l *ledger) consumed(key string) (duplicate bool) {
	k, ok := l.parseKey(key)
	if !ok {
		l.foreignMu.Lock()
		defer l.foreignMu.Unlock()
		if l.foreign[key] {
			return true
		}
		l.foreign[key] = true
		return false
	}
	s := l.shard(k.worker)
	s.mu.Lock()
	defer s.mu.Unlock()
	done, known := s.produced[k]
	switch {
	case known && done:
		return true
	case known:
		s.produced[k] = true
	case s.unacked[k]:
		return true
	default:
		s.unacked[k] = true
	}
	return false
}

func (l *ledger) account(duplicates, remaining int64, drained bool) Ledger {
	out := Ledger{Duplicates: duplicates, Remaining: remaining, Drained: drained}
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		for _, done := range s.produced {
			out.Produced++
			if done {
				out.Consumed++
			}
		}
		out.Unacked += int64(len(s.unacked))
		s.mu.Unlock()
	}
	l.foreignMu.Lock()
	out.Unacked += int64(len(l.foreign))
	l.foreignMu.Unlock()
	if drained {
		out.Lost = out.Produced - out.Consumed
	}
	return out
}
