package main

import (
	"math"
	"os"
	"runtime/debug"
	"testing"

	"github.com/pbnjay/memory"
)

// unsetEnv removes an environment variable for the test's duration.
func unsetEnv(t *testing.T, name string) {
	t.Helper()
	if old, ok := os.LookupEnv(name); ok {
		t.Cleanup(func() { os.Setenv(name, old) })
	} else {
		t.Cleanup(func() { os.Unsetenv(name) })
	}
	os.Unsetenv(name)
}

// restoreCollector puts the process's collector settings back.
func restoreCollector(t *testing.T) {
	percent := debug.SetGCPercent(100)
	debug.SetGCPercent(percent)
	limit := debug.SetMemoryLimit(-1)
	t.Cleanup(func() {
		debug.SetGCPercent(percent)
		debug.SetMemoryLimit(limit)
	})
}

func TestCollectorDefaults(t *testing.T) {
	restoreCollector(t)
	unsetEnv(t, "GOGC")
	unsetEnv(t, "GOMEMLIMIT")
	unsetEnv(t, "AUTOMEMLIMIT")
	debug.SetMemoryLimit(math.MaxInt64)
	percent, limit, err := tuneCollector()
	if err != nil {
		t.Fatal(err)
	}
	if percent != defaultGCPercent || debug.SetGCPercent(defaultGCPercent) != defaultGCPercent {
		t.Fatalf("GOGC %d, want %d", percent, defaultGCPercent)
	}
	total := memory.TotalMemory()
	if limit <= 0 || uint64(limit) > total || debug.SetMemoryLimit(-1) != limit {
		t.Fatalf("memory limit %d (machine %d, runtime %d)", limit, total, debug.SetMemoryLimit(-1))
	}
}

func TestCollectorEnvironmentWins(t *testing.T) {
	restoreCollector(t)
	t.Setenv("GOGC", "150")
	t.Setenv("GOMEMLIMIT", "1GiB")
	debug.SetGCPercent(150) // what the runtime made of GOGC at start
	debug.SetMemoryLimit(1 << 30)
	percent, limit, err := tuneCollector()
	if err != nil {
		t.Fatal(err)
	}
	if percent != 150 || debug.SetGCPercent(150) != 150 {
		t.Fatalf("GOGC %d, want the environment's 150", percent)
	}
	if limit != 1<<30 || debug.SetMemoryLimit(-1) != 1<<30 {
		t.Fatalf("memory limit %d, want the environment's 1 GiB", limit)
	}
}
