package brokers

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"sync"
	"sync/atomic"
)

// Ledger proves delivery for one measurement: every message a producer
// had acknowledged must be consumed exactly once. Keys are
// "<run>.<worker>.<n>", dense per worker, so each worker's messages are one
// byte each in a slice (no map, nothing for the collector to scan at
// 300,000 messages a measurement).
type Ledger struct {
	prefix  []byte // "<run>."
	workers []workerLog

	produced atomic.Int64 // acknowledged to a producer
	distinct atomic.Int64 // acknowledged and consumed at least once
	dups     atomic.Int64 // deliveries beyond the first
	foreign  atomic.Int64 // bodies whose key is not of this run
}

// A message's state byte: the high bit says a producer got its
// acknowledgement, the low seven count deliveries (saturating).
const (
	ackedBit  = 0x80
	countMask = 0x7f
	// maxSeq bounds a worker's sequence numbers, so a malformed key cannot
	// make the ledger allocate gigabytes.
	maxSeq = 1 << 26
)

type workerLog struct {
	mu    sync.Mutex
	state []uint8
}

// NewLedger is a ledger for producer workers 0..workers-1 with a fresh run
// id, so a body left over from another measurement is never taken for one
// of this run's.
func NewLedger(workers int) *Ledger {
	var id [4]byte
	rand.Read(id[:])
	return newLedgerID(hex.EncodeToString(id[:]), workers)
}

func newLedgerID(run string, workers int) *Ledger {
	return &Ledger{prefix: []byte(run + "."), workers: make([]workerLog, workers)}
}

// AppendKey appends the key of worker's message n.
func (l *Ledger) AppendKey(b []byte, worker int, n uint64) []byte {
	b = append(b, l.prefix...)
	b = strconv.AppendInt(b, int64(worker), 10)
	b = append(b, '.')
	return strconv.AppendUint(b, n, 10)
}

func (l *Ledger) parse(key []byte) (worker int, n uint64, ok bool) {
	rest, ok := bytes.CutPrefix(key, l.prefix)
	if !ok {
		return 0, 0, false
	}
	w, s, ok := bytes.Cut(rest, []byte{'.'})
	if !ok {
		return 0, 0, false
	}
	wi, err := strconv.ParseUint(string(w), 10, 32)
	if err != nil || wi >= uint64(len(l.workers)) {
		return 0, 0, false
	}
	n, err = strconv.ParseUint(string(s), 10, 64)
	if err != nil || n >= maxSeq {
		return 0, 0, false
	}
	return int(wi), n, true
}

func (w *workerLog) grow(n uint64) {
	if n >= uint64(len(w.state)) {
		w.state = append(w.state, make([]uint8, n+1-uint64(len(w.state))+uint64(len(w.state))/2)...)
	}
}

// Produced records that the system acknowledged worker's messages
// first..first+count-1.
func (l *Ledger) Produced(worker int, first uint64, count int) {
	w := &l.workers[worker]
	w.mu.Lock()
	defer w.mu.Unlock()
	w.grow(first + uint64(count) - 1)
	for n := first; n < first+uint64(count); n++ {
		s := w.state[n]
		if s&ackedBit != 0 {
			continue
		}
		w.state[n] = s | ackedBit
		l.produced.Add(1)
		if s&countMask > 0 {
			// Delivered before its producer saw the acknowledgement: a
			// normal race, now settled.
			l.distinct.Add(1)
		}
	}
}

// Consumed records one delivery of the message whose body starts with key
// and reports whether it had been delivered before.
func (l *Ledger) Consumed(key []byte) (duplicate bool) {
	wi, n, ok := l.parse(key)
	if !ok {
		l.foreign.Add(1)
		return false
	}
	w := &l.workers[wi]
	w.mu.Lock()
	defer w.mu.Unlock()
	w.grow(n)
	s := w.state[n]
	if c := s & countMask; c < countMask {
		w.state[n] = s&ackedBit | (c + 1)
	}
	if s&countMask > 0 {
		l.dups.Add(1)
		return true
	}
	if s&ackedBit != 0 {
		l.distinct.Add(1)
	}
	return false
}

// ProducedCount is how many messages were acknowledged so far.
func (l *Ledger) ProducedCount() int64 { return l.produced.Load() }

// Complete reports whether every acknowledged message has been consumed.
func (l *Ledger) Complete() bool { return l.distinct.Load() >= l.produced.Load() }

// Counts is a measurement's delivery account.
type Counts struct {
	Produced   int64 `json:"produced"`   // acknowledged as durable to a producer
	Consumed   int64 `json:"consumed"`   // of those, consumed at least once
	Duplicates int64 `json:"duplicates"` // deliveries of a message already delivered
	Unacked    int64 `json:"unacked"`    // delivered, but their producer never got the acknowledgement (a send that failed yet stored)
	Foreign    int64 `json:"foreign"`    // delivered bodies that are not of this measurement
	Remaining  int64 `json:"remaining"`  // what the queue still held at the end
	Drained    bool  `json:"drained"`    // consumers emptied the queue, so Lost is exact
	Lost       int64 `json:"lost"`       // acknowledged, never consumed, queue drained
}

// Account totals the ledger. remaining is the queue's depth at the end;
// drained says the consumers ran until the queue was empty.
func (l *Ledger) Account(remaining int64, drained bool) Counts {
	c := Counts{Duplicates: l.dups.Load(), Foreign: l.foreign.Load(), Remaining: remaining, Drained: drained}
	for i := range l.workers {
		w := &l.workers[i]
		w.mu.Lock()
		for _, s := range w.state {
			switch {
			case s&ackedBit != 0:
				c.Produced++
				if s&countMask > 0 {
					c.Consumed++
				}
			case s&countMask > 0:
				c.Unacked++
			}
		}
		w.mu.Unlock()
	}
	if drained {
		c.Lost = c.Produced - c.Consumed
	}
	return c
}
