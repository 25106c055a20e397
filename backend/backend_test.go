package backend

import (
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zaqar-go/zaqar/engine"
	"github.com/zaqar-go/zaqar/internal/testenv"
	"github.com/zaqar-go/zaqar/redisstore"
	"github.com/zaqar-go/zaqar/wal"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestDefaultSpecIsTheEngines(t *testing.T) {
	d, e := DefaultSpec(), engine.DefaultOptions("")
	if d.Driver != Badger || d.Partitions != e.Partitions || d.Fsync != e.Fsync || d.FsyncInterval != e.FsyncInterval ||
		d.SegmentSize != e.SegmentSize || d.Compression != e.Compression || d.ReapInterval != e.ReapInterval ||
		d.CheckpointInterval != e.CheckpointInterval {
		t.Fatalf("DefaultSpec %+v differs from engine.DefaultOptions %+v", d, e)
	}
	if err := engine.DefaultOptions("x").Validate(); err != nil || e.SegmentSize < MinSegmentSize {
		t.Fatal("engine defaults below MinSegmentSize")
	}
}

func TestParseURI(t *testing.T) {
	want := DefaultSpec()
	want.Dir, want.Partitions, want.Fsync, want.SegmentSize, want.Compression = "/data/a", 8, wal.SyncNever, 1<<20, true
	got, err := ParseURI("badger:///data/a?partitions=8&fsync=interval&segment_size=1048576&compression=true",
		map[string]any{"fsync": "never"})
	if err != nil || got != want {
		t.Fatalf("badger: %+v %v, want %+v", got, err, want)
	}
	if got, err := ParseURI("BADGER://rel/dir", nil); err != nil || got.Dir != "rel/dir" || got.Partitions != DefaultSpec().Partitions {
		t.Fatalf("relative badger: %+v %v", got, err)
	}
	got, err = ParseURI("rediss://h:1/2?dbid=3", map[string]any{"prefix": "p1", "wait_replicas": 1.0, "wait_timeout": 0.5})
	if err != nil || got != (Spec{Driver: Redis, RedisURI: "rediss://h:1/2?dbid=3", Prefix: "p1", WaitReplicas: 1, WaitTimeout: 500 * time.Millisecond}) {
		t.Fatalf("redis: %+v %v", got, err)
	}
	for uri, settings := range map[string]map[string]any{
		"badger://":                       nil,
		"badger:///d?partitions=0":        nil,
		"badger:///d?fsync=sometimes":     nil,
		"badger:///d?segment_size=65535":  nil,
		"badger:///d?compression=perhaps": nil,
		"badger:///d?color=blue":          nil,
		"badger:///d":                     {"partitions": "x"},
		"redis://h":                       {"db": 1},
		"mongodb://h":                     nil,
		"unix:///run/redis.sock":          {"prefix": 1, "x": 2},
		"redis://h?x=1":                   {"wait_replicas": -1},
		"redis://h?y=1":                   {"wait_timeout": "soon"},
	} {
		if _, err := ParseURI(uri, settings); err == nil {
			t.Errorf("%s %v: no error", uri, settings)
		}
	}
	if _, err := ParseURI("sqlite://x", nil); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("unknown scheme: %v", err)
	}
	if _, err := ParseURI("badger:///d?segment_size=1", nil); err == nil || !strings.Contains(err.Error(), "at least 65536") {
		t.Fatalf("segment_size error: %v", err)
	}
}

func TestOpenSpecBadger(t *testing.T) {
	s := DefaultSpec()
	s.Dir, s.Partitions, s.Fsync = filepath.Join(t.TempDir(), "d"), 2, wal.SyncNever
	st, err := OpenSpec(s, Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, ok := st.(*engine.Engine); !ok {
		t.Fatalf("badger opened %T", st)
	}
	s.Dir, s.ReapInterval = filepath.Join(t.TempDir(), "e"), 0
	if _, err := OpenSpec(s, Options{Logger: quiet}); err == nil {
		t.Fatal("a zero reap interval must be refused, not defaulted")
	}
	if _, err := OpenSpec(Spec{Driver: "mongodb"}, Options{}); err == nil {
		t.Fatal("unknown driver opened")
	}
}

func TestOpenRedisPool(t *testing.T) {
	uri := testenv.RedisURI(t)
	st, err := Open(uri, Options{Logger: quiet, Settings: map[string]any{"prefix": "zqbackend-" + time.Now().Format("150405.000")}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, ok := st.(*redisstore.Store); !ok {
		t.Fatalf("redis opened %T", st)
	}
	if _, err := OpenSpec(Spec{Driver: Redis, RedisURI: "redis://h?dbid=x"}, Options{Logger: quiet}); err == nil {
		t.Fatal("a bad Redis URI opened")
	}
}

func TestCapabilities(t *testing.T) {
	for uri, n := range map[string]int{"badger:///d": 5, "redis://h": 4, "rediss://h": 4, "unix:///s": 4} {
		if c, err := Capabilities(uri); err != nil || len(c) != n {
			t.Fatalf("%s: %v %v", uri, c, err)
		}
	}
	if _, err := Capabilities("mongodb://h"); !errors.Is(err, ErrUnsupported) {
		t.Fatal("mongodb has capabilities")
	}
}

func TestSpecMemory(t *testing.T) {
	s := DefaultSpec()
	s.IndexMemory = 32 << 20
	eo := engine.DefaultOptions("")
	eo.IndexMemory = 32 << 20
	if got, want := s.Memory(), eo.Memory(); got != want || got == 0 {
		t.Fatalf("the engine's memory %d, want its options' %d", got, want)
	}
	s.Driver = Redis
	if got := s.Memory(); got != 0 {
		t.Fatalf("Redis keeps %d bytes in the server, want 0 (its data is in Redis)", got)
	}
}
