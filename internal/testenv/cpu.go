package testenv

import (
	"syscall"
	"testing"
	"time"
)

// ProcessCPU is the process's user and system CPU time so far: every
// goroutine's, the store's background work included.
func ProcessCPU(tb testing.TB) time.Duration {
	tb.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// ReportCPUPerOp starts counting the process's CPU time; the function it
// returns reports it per operation as "cpu-µs/op". Unlike the time per
// operation it hardly moves with what else the machine runs, so builds
// compare on a busy machine.
func ReportCPUPerOp(b *testing.B) func() {
	start := ProcessCPU(b)
	return func() {
		b.ReportMetric(float64(ProcessCPU(b)-start)/float64(b.N)/float64(time.Microsecond), "cpu-µs/op")
	}
}
