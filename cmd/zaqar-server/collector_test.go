package main

import (
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"

	"github.com/zaqar-go/zaqar/config"
	"github.com/zaqar-go/zaqar/engine"
	"github.com/zaqar-go/zaqar/internal/collector"
)

// collectorSettings loads a zaqar.conf holding conf, with env as the
// process's OS_* variables, and tunes the collector as the server does.
func collectorSettings(t *testing.T, conf string, env ...string) collector.Settings {
	t.Helper()
	path := filepath.Join(t.TempDir(), "zaqar.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load([]string{path}, "", env, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := tuneCollector(cfg.Settings())
	if err != nil {
		t.Fatal(err)
	}
	if got := debug.SetMemoryLimit(-1); got != s.MemoryLimit {
		t.Fatalf("runtime's memory limit %d, reported %d", got, s.MemoryLimit)
	}
	return s
}

// cleanCollector: no collector settings in the environment, the runtime's
// restored after the test.
func cleanCollector(t *testing.T) {
	percent := debug.SetGCPercent(100)
	debug.SetGCPercent(percent)
	limit := debug.SetMemoryLimit(math.MaxInt64)
	t.Cleanup(func() {
		debug.SetGCPercent(percent)
		debug.SetMemoryLimit(limit)
	})
	for _, name := range []string{"GOGC", "GOMEMLIMIT", "AUTOMEMLIMIT"} {
		t.Setenv(name, "")
		os.Unsetenv(name)
	}
}

func TestMemoryLimitFromEngine(t *testing.T) {
	cleanCollector(t)
	s := collectorSettings(t, "[DEFAULT]\n")
	want := engine.DefaultOptions("").Memory() + collector.Headroom
	if s.MemoryLimit != want || s.Basis != collector.FromStore || s.GCPercent != collector.DefaultGCPercent {
		t.Fatalf("defaults: limit %d (%s), GOGC %d; want %d from the engine's options, GOGC %d",
			s.MemoryLimit, s.Basis, s.GCPercent, want, collector.DefaultGCPercent)
	}
	if want>>20 > 448 {
		t.Fatalf("default limit %d MiB leaves too little of 512 MiB to the rest of the process", want>>20)
	}
	// A larger index budget raises the limit by twice as much (head and
	// tail may both hold a window).
	s = collectorSettings(t, "[drivers:message_store:badger]\nindex_memory = 134217728\n")
	if s.MemoryLimit != want+2*64<<20 {
		t.Fatalf("index_memory 128 MiB: limit %d, want %d", s.MemoryLimit, want+2*64<<20)
	}
	// Without a budget the index grows with the queues: half the memory
	// available, as with the stores below.
	s = collectorSettings(t, "[drivers:message_store:badger]\nindex_memory = 0\n")
	if s.Basis != collector.FromAvailable {
		t.Fatalf("index_memory 0: limit %d from %s, want half the memory available", s.MemoryLimit, s.Basis)
	}
}

func TestMemoryLimitWithoutEngine(t *testing.T) {
	cleanCollector(t)
	for _, conf := range []string{
		"[drivers]\nmessage_store = redis\n",
		"[DEFAULT]\npooling = true\n",
	} {
		if s := collectorSettings(t, conf); s.Basis != collector.FromAvailable {
			t.Errorf("%q: limit %d from %s, want half the memory available", conf, s.MemoryLimit, s.Basis)
		}
	}
}

func TestMemoryLimitPrecedence(t *testing.T) {
	cleanCollector(t)
	s := collectorSettings(t, "[DEFAULT]\nmemory_limit = 314572800\n")
	if s.MemoryLimit != 300<<20 || s.Basis != collector.FromOption {
		t.Fatalf("memory_limit in zaqar.conf: limit %d (%s), want 300 MiB", s.MemoryLimit, s.Basis)
	}
	s = collectorSettings(t, "[DEFAULT]\nmemory_limit = 314572800\n", "OS_DEFAULT__MEMORY_LIMIT=209715200")
	if s.MemoryLimit != 200<<20 || s.Basis != collector.FromOption {
		t.Fatalf("OS_DEFAULT__MEMORY_LIMIT over zaqar.conf: limit %d (%s), want 200 MiB", s.MemoryLimit, s.Basis)
	}
	t.Setenv("GOGC", "150")
	t.Setenv("GOMEMLIMIT", "1GiB")
	debug.SetGCPercent(150) // what the runtime made of them at start
	debug.SetMemoryLimit(1 << 30)
	s = collectorSettings(t, "[DEFAULT]\nmemory_limit = 314572800\n", "OS_DEFAULT__MEMORY_LIMIT=209715200")
	if s.MemoryLimit != 1<<30 || s.Basis != collector.FromGOMEMLIMIT || s.GCPercent != 150 {
		t.Fatalf("GOMEMLIMIT and GOGC: limit %d (%s), GOGC %d; want the environment's 1 GiB and 150",
			s.MemoryLimit, s.Basis, s.GCPercent)
	}
}
