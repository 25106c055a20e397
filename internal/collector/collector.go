// Package collector sets the Go collector as zaqar-server runs it, so that
// the benchmarks which run the engine in-process run it the same way.
package collector

import (
	"errors"
	"math"
	"os"
	"runtime/debug"

	"github.com/KimMachineGun/automemlimit/memlimit"
)

// DefaultGCPercent is the server's GOGC unless the environment sets one.
//
// Most of the heap under load is the message index: small objects that
// live as long as their messages, and that every collection marks again.
// At Go's default of 100 a busy server collects each time it has
// allocated as much as the live heap, and each mark phase takes a CPU for
// milliseconds: on 2 CPUs the requests it delays are the latency tail
// (docs/performance.md has the measurements). The price is memory: a heap
// up to five times the live one, which the memory limit bounds.
const DefaultGCPercent = 400

// Headroom is the memory the server needs besides what its store keeps:
// connections (a 16 KiB read buffer and a write buffer each while busy),
// requests in flight and their answers, and the bodies of posts the
// engine has not yet written to Badger.
const Headroom = 64 << 20

// availableRatio is the share of the memory available (the cgroup's
// limit, else the machine's) the limit never exceeds by default, and
// the limit when the store's needs are unknown: the rest is left to the
// page cache, which serves message bodies from the log.
const availableRatio = 0.5

// Where a memory limit comes from (Settings.Basis).
const (
	FromGOMEMLIMIT   = "GOMEMLIMIT"
	FromAUTOMEMLIMIT = "AUTOMEMLIMIT"
	FromOption       = "memory_limit"
	FromStore        = "store"     // the store's needs plus Headroom
	FromAvailable    = "available" // availableRatio of the memory available
	FromNone         = "none"
)

// Settings are the collector's settings in force.
type Settings struct {
	GCPercent   int   // -1 = GOGC=off
	MemoryLimit int64 // math.MaxInt64 = no limit
	Basis       string
}

// Limit is the soft memory limit when the environment sets none:
// configured (the memory_limit option) unless 0; else what the store
// keeps at most (storeMemory, 0 = unknown or unbounded) plus Headroom,
// capped at availableRatio of the memory available; else that share of
// it. available is 0 when unknown; FromNone when nothing is known.
func Limit(configured, storeMemory, available int64) (int64, string) {
	half := int64(float64(available) * availableRatio)
	switch {
	case configured > 0:
		return configured, FromOption
	case storeMemory > 0 && (available <= 0 || storeMemory+Headroom <= half):
		return storeMemory + Headroom, FromStore
	case available > 0:
		return half, FromAvailable
	}
	return math.MaxInt64, FromNone
}

// Tune applies DefaultGCPercent unless GOGC is set, and a soft memory
// limit unless GOMEMLIMIT (the runtime's) or AUTOMEMLIMIT (a ratio of the
// memory available, see memlimit.Set) is set: Limit(configured,
// storeMemory, the memory available). It returns the settings in force;
// an error says that the memory available could not be read, when it was
// needed.
func Tune(configured, storeMemory int64) (Settings, error) {
	var s Settings
	_, set := os.LookupEnv("GOGC")
	s.GCPercent = debug.SetGCPercent(DefaultGCPercent) // the runtime's, from GOGC
	if set {
		debug.SetGCPercent(s.GCPercent)
	} else {
		s.GCPercent = DefaultGCPercent
	}
	provider := memlimit.ApplyFallback(memlimit.FromCgroup, memlimit.FromSystem)
	if _, set := os.LookupEnv("GOMEMLIMIT"); set {
		s.MemoryLimit, s.Basis = debug.SetMemoryLimit(-1), FromGOMEMLIMIT
		return s, nil
	}
	if _, set := os.LookupEnv("AUTOMEMLIMIT"); set {
		_, err := memlimit.Set(memlimit.WithRatio(availableRatio), memlimit.WithProvider(provider))
		s.MemoryLimit, s.Basis = debug.SetMemoryLimit(-1), FromAUTOMEMLIMIT
		return s, err
	}
	var available int64
	total, err := provider()
	if err == nil && total > 0 && total < math.MaxInt64 {
		available = int64(total)
	}
	s.MemoryLimit, s.Basis = Limit(configured, storeMemory, available)
	if s.Basis == FromNone {
		return s, errors.Join(errors.New("the memory available is unknown"), err)
	}
	debug.SetMemoryLimit(s.MemoryLimit)
	return s, nil
}
