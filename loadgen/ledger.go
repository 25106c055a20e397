package loadgen

import (
	"hash/maphash"
	"sync"
)

// ledger proves delivery: every acknowledged message key is produced once,
// and each consumption is checked against it. Sharded to keep contention
// low at high rates.
type ledger struct {
	seed   maphash.Seed
	shards [64]ledgerShard
}

type ledgerShard struct {
	mu       sync.Mutex
	produced map[string]bool // key -> consumed
	unacked  map[string]bool // consumed keys never acknowledged to a producer
}

// Ledger is the delivery account of a run.
type Ledger struct {
	Produced   int64 `json:"produced"`   // messages acknowledged with 201
	Consumed   int64 `json:"consumed"`   // distinct acknowledged messages consumed
	Duplicates int64 `json:"duplicates"` // consumptions of a message already consumed (redelivery after a claim expired, or a bug)
	Unacked    int64 `json:"unacked"`    // consumed messages whose POST never got its 201 (timeouts): at-least-once, not an error
	Lost       int64 `json:"lost"`       // acknowledged, not consumed, and not left in any queue
	Remaining  int64 `json:"remaining"`  // messages still in the queues at the end
	Drained    bool  `json:"drained"`    // the queues were emptied, so Lost is exact
}

func newLedger() *ledger {
	l := &ledger{seed: maphash.MakeSeed()}
	for i := range l.shards {
		l.shards[i].produced = map[string]bool{}
		l.shards[i].unacked = map[string]bool{}
	}
	return l
}

func (l *ledger) shard(key string) *ledgerShard {
	return &l.shards[maphash.String(l.seed, key)%uint64(len(l.shards))]
}

func (l *ledger) produced(keys []string) {
	for _, k := range keys {
		s := l.shard(k)
		s.mu.Lock()
		if s.unacked[k] {
			// Consumed before the producer saw its 201: a normal race, not
			// an unacknowledged delivery.
			delete(s.unacked, k)
			s.produced[k] = true
		} else if _, seen := s.produced[k]; !seen {
			s.produced[k] = false
		}
		s.mu.Unlock()
	}
}

// consumed records one delivery; it reports a duplicate.
func (l *ledger) consumed(key string) (duplicate bool) {
	s := l.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	done, known := s.produced[key]
	switch {
	case known && done:
		return true
	case known:
		s.produced[key] = true
	case s.unacked[key]:
		return true
	default:
		s.unacked[key] = true
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
	if drained {
		out.Lost = out.Produced - out.Consumed
	}
	return out
}
