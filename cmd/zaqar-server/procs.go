package main

import (
	"runtime"
	"strconv"
)

// startProcs is the runtime's own GOMAXPROCS, before the server changes it.
var startProcs = runtime.GOMAXPROCS(0)

// schedulerProcs is the GOMAXPROCS the server runs with: twice the Go
// default (the CPUs it may use), unless the operator set GOMAXPROCS.
//
// Badger writes its memtable log, value log and tables through mmap. A
// page fault on a fresh page of those files can block its thread for
// milliseconds, and unlike a system call the scheduler does not notice:
// the thread keeps its P, and the goroutines queued on that P (often the
// requests an fdatasync has just completed) wait with it while the CPU is
// free. Spare Ps keep the rest of the server running: the latency tail
// shortens and throughput does not suffer (docs/performance.md).
func schedulerProcs(env string, current int) int {
	if n, err := strconv.Atoi(env); err == nil && n > 0 {
		return current // the runtime already applied it
	}
	return 2 * current
}
