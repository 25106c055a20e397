package collector

import (
	"math"
	"os"
	"runtime/debug"
	"testing"
)

func TestLimit(t *testing.T) {
	const mib = 1 << 20
	store := int64(331 * mib)
	for _, c := range []struct {
		name                         string
		configured, store, available int64
		want                         int64
		basis                        string
	}{
		{"the store's needs plus headroom", 0, store, 24 << 30, store + Headroom, FromStore},
		{"the store's needs, memory unknown", 0, store, 0, store + Headroom, FromStore},
		{"at most half the memory available", 0, store, 512 * mib, 256 * mib, FromAvailable},
		{"exactly half the memory available", 0, store, 2 * (store + Headroom), store + Headroom, FromStore},
		{"store needs unknown (Redis, pooling)", 0, 0, 8 << 30, 4 << 30, FromAvailable},
		{"the option wins over the store", 300 * mib, store, 24 << 30, 300 * mib, FromOption},
		{"the option wins over a small machine", 2 << 30, store, 512 * mib, 2 << 30, FromOption},
		{"nothing known", 0, 0, 0, math.MaxInt64, FromNone},
	} {
		got, basis := Limit(c.configured, c.store, c.available)
		if got != c.want || basis != c.basis {
			t.Errorf("%s: Limit(%d, %d, %d) = %d (%s), want %d (%s)", c.name, c.configured, c.store, c.available,
				got, basis, c.want, c.basis)
		}
	}
}

// unsetEnv removes an environment variable for the test's duration.
func unsetEnv(t *testing.T, name string) {
	t.Helper()
	t.Setenv(name, "") // restores the old value at cleanup
	os.Unsetenv(name)
}

// restoreRuntime puts the process's collector settings back after the test.
func restoreRuntime(t *testing.T) {
	percent := debug.SetGCPercent(100)
	debug.SetGCPercent(percent)
	limit := debug.SetMemoryLimit(-1)
	t.Cleanup(func() {
		debug.SetGCPercent(percent)
		debug.SetMemoryLimit(limit)
	})
}

// cleanEnvironment: no collector settings in the environment, and the
// runtime as if it had found none at start.
func cleanEnvironment(t *testing.T) {
	restoreRuntime(t)
	for _, name := range []string{"GOGC", "GOMEMLIMIT", "AUTOMEMLIMIT"} {
		unsetEnv(t, name)
	}
	debug.SetGCPercent(100)
	debug.SetMemoryLimit(math.MaxInt64)
}

func TestTuneDefaults(t *testing.T) {
	cleanEnvironment(t)
	const store = 64 << 20
	s, err := Tune(0, store)
	if err != nil {
		t.Fatal(err)
	}
	if s.GCPercent != DefaultGCPercent || debug.SetGCPercent(DefaultGCPercent) != DefaultGCPercent {
		t.Fatalf("GOGC %d, want %d", s.GCPercent, DefaultGCPercent)
	}
	// Any test machine has more than twice 128 MiB.
	if s.MemoryLimit != store+Headroom || s.Basis != FromStore || debug.SetMemoryLimit(-1) != s.MemoryLimit {
		t.Fatalf("limit %d (%s), runtime's %d; want %d from the store", s.MemoryLimit, s.Basis,
			debug.SetMemoryLimit(-1), store+Headroom)
	}
	s, err = Tune(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if s.Basis != FromAvailable || s.MemoryLimit <= 0 || s.MemoryLimit == math.MaxInt64 || debug.SetMemoryLimit(-1) != s.MemoryLimit {
		t.Fatalf("without the store's needs: limit %d (%s), want half the memory available", s.MemoryLimit, s.Basis)
	}
}

func TestTuneOption(t *testing.T) {
	cleanEnvironment(t)
	s, err := Tune(300<<20, 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	if s.MemoryLimit != 300<<20 || s.Basis != FromOption || debug.SetMemoryLimit(-1) != 300<<20 {
		t.Fatalf("limit %d (%s), want memory_limit's 300 MiB", s.MemoryLimit, s.Basis)
	}
}

func TestTuneEnvironmentWins(t *testing.T) {
	cleanEnvironment(t)
	t.Setenv("GOGC", "150")
	t.Setenv("GOMEMLIMIT", "1GiB")
	debug.SetGCPercent(150) // what the runtime made of them at start
	debug.SetMemoryLimit(1 << 30)
	s, err := Tune(300<<20, 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	if s.GCPercent != 150 || debug.SetGCPercent(150) != 150 {
		t.Fatalf("GOGC %d, want the environment's 150", s.GCPercent)
	}
	if s.MemoryLimit != 1<<30 || s.Basis != FromGOMEMLIMIT || debug.SetMemoryLimit(-1) != 1<<30 {
		t.Fatalf("limit %d (%s), want the environment's 1 GiB over memory_limit", s.MemoryLimit, s.Basis)
	}
}

func TestTuneAutomemlimitWins(t *testing.T) {
	cleanEnvironment(t)
	t.Setenv("AUTOMEMLIMIT", "0.25")
	s, err := Tune(300<<20, 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	if s.Basis != FromAUTOMEMLIMIT || s.MemoryLimit == 300<<20 || s.MemoryLimit == 64<<20+Headroom ||
		debug.SetMemoryLimit(-1) != s.MemoryLimit {
		t.Fatalf("limit %d (%s), want a quarter of the memory available", s.MemoryLimit, s.Basis)
	}
	unsetEnv(t, "AUTOMEMLIMIT")
	whole, err := Tune(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if ratio := float64(s.MemoryLimit) / float64(whole.MemoryLimit); ratio < 0.49 || ratio > 0.51 {
		t.Fatalf("AUTOMEMLIMIT=0.25 gave %d, half the memory available is %d: ratio %.2f, want 0.5",
			s.MemoryLimit, whole.MemoryLimit, ratio)
	}
}
