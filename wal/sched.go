package wal

import (
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// syncerSlice is the scheduler time slice the syncer asks for.
//
// An fdatasync is mostly waiting: for the data write, then for the cache
// flush. Each time the disk answers, the syncer's thread must get a CPU
// back, and on a busy machine the kernel's default slice (0.7 ms and more)
// lets whatever runs finish first. A thread that asks for a short slice
// is served sooner when it wakes (Linux 6.12 and later, for any user),
// and the syncer uses little CPU anyway. With fsync=always on a busy
// machine this shortened the mean fdatasync and raised the posts served;
// a short slice for every thread of the server gained nothing, hence one
// thread of its own.
const syncerSlice = 300 * time.Microsecond

// shortenSlice gives the calling goroutine an OS thread of its own with a
// short scheduler slice, and reports the slice it got. Where the kernel
// does not support custom slices the thread is released and 0 returned.
// The thread ends with the goroutine, so the slice never passes to other
// goroutines.
func shortenSlice(slice time.Duration) time.Duration {
	runtime.LockOSThread()
	attr := unix.SchedAttr{Policy: unix.SCHED_NORMAL, Runtime: uint64(slice)}
	if err := unix.SchedSetAttr(0, &attr, 0); err == nil {
		// Kernels without custom slices accept the call but ignore
		// the runtime of a normal task, and report 0.
		if got, err := unix.SchedGetAttr(0, 0); err == nil && got.Runtime == uint64(slice) {
			return slice
		}
	}
	runtime.UnlockOSThread()
	return 0
}
