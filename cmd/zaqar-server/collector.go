package main

import (
	"os"
	"runtime/debug"

	"github.com/KimMachineGun/automemlimit/memlimit"
)

// defaultGCPercent is the server's GOGC unless the environment sets one.
//
// Most of the heap under load is the message index: small objects that
// live as long as their messages, and that every collection marks again.
// At Go's default of 100 a busy server collects each time it has
// allocated as much as the live heap, and each mark phase takes a CPU for
// milliseconds: on 2 CPUs the requests it delays are the latency tail
// (docs/performance.md has the measurements). The price is memory: a heap
// up to five times the live one, bounded by the memory limit below.
const defaultGCPercent = 400

// memoryLimitRatio is the share of the memory available (the cgroup's
// limit, else the machine's) that the server's Go heap may use before
// the collector runs whatever GOGC says. The rest is left to the page
// cache, which serves message bodies from the log.
const memoryLimitRatio = 0.5

// tuneCollector applies defaultGCPercent unless GOGC is set, and a soft
// memory limit of memoryLimitRatio unless GOMEMLIMIT (or AUTOMEMLIMIT,
// see memlimit.Set) is set. It returns the settings in force; GOGC=off
// reads as -1.
func tuneCollector() (gcPercent int, memoryLimit int64, err error) {
	_, set := os.LookupEnv("GOGC")
	gcPercent = debug.SetGCPercent(defaultGCPercent) // the runtime's, from GOGC
	if set {
		debug.SetGCPercent(gcPercent)
	} else {
		gcPercent = defaultGCPercent
	}
	memoryLimit, err = memlimit.Set(memlimit.WithRatio(memoryLimitRatio),
		memlimit.WithProvider(memlimit.ApplyFallback(memlimit.FromCgroup, memlimit.FromSystem)))
	return gcPercent, memoryLimit, err
}
