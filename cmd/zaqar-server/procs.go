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
// free. Spare Ps keep the rest of the server running. Measured with
// fsync=always, 16 connections, 2 CPUs shared with the load generator:
// at 10,000 POST 10x1KiB/s (open loop) p99 18.7 -> 8.2 ms, better in each
// of 6 interleaved pairs; at saturation (wrk) p99 9.3 -> 8.5 ms and 21.5k
// -> 22.4k req/s; fsync=never throughput unchanged.
func schedulerProcs(env string, current int) int {
	if n, err := strconv.Atoi(env); err == nil && n > 0 {
		return current // the runtime already applied it
	}
	return 2 * current
}
