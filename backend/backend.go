// Package backend opens message stores. A store is described by a Spec,
// which both ways of naming one produce: the configuration's [drivers]
// message_store with its [drivers:message_store:*] section (package
// config), and a pool's URI with its options (ParseURI), so that pooling
// can spread queues over stores of any kind: badger:///path for the
// embedded engine (several on one node, e.g. one per disk), redis://...
// for a shared Redis. OpenSpec is the one place a Spec becomes the
// engine's or the Redis store's options.
package backend

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/zaqar-go/zaqar/engine"
	"github.com/zaqar-go/zaqar/redisstore"
	"github.com/zaqar-go/zaqar/storage"
	"github.com/zaqar-go/zaqar/wal"
)

// Drivers, as [drivers] message_store names them.
const (
	Badger = "badger" // the embedded engine
	Redis  = "redis"  // a Redis server, Sentinel or Cluster
)

// MinSegmentSize is the smallest log segment the engine accepts (bytes).
const MinSegmentSize = engine.MinSegmentSize

// Spec describes a message store. Start from DefaultSpec (or ParseURI):
// every field is used as given.
type Spec struct {
	// Driver is Badger or Redis.
	Driver string

	// Badger: the embedded engine (see engine.Options).
	Dir                string         // data directory
	Partitions         int            // fixed when the directory is created
	Fsync              wal.SyncPolicy // when the log is forced to disk
	FsyncInterval      time.Duration  // sync period with wal.SyncInterval
	SegmentSize        int64          // log segment size in bytes (at least MinSegmentSize)
	Compression        bool           // S2-compress log frames
	ReapInterval       time.Duration  // how often expired messages and claims go
	CheckpointInterval time.Duration  // how often the index is synced and covered segments deleted
	MinFreeBytes       int64          // free space kept on the filesystem: below it, posts are refused
	MaxBytes           int64          // the data directory's budget: over it, posts are refused (0 = none)
	IndexWindow        int            // messages of each queue's head kept in memory; the rest is paged in from disk
	IndexMemory        int64          // memory the resident index of all queues may use (windows shrink as queues multiply)

	// Redis.
	RedisURI     string        // redis://, rediss:// or unix:// (see redisstore.ParseURI)
	Prefix       string        // key namespace; "" = redisstore.DefaultPrefix
	WaitReplicas int           // replicas that confirm a change before it is acknowledged (0 = none)
	WaitTimeout  time.Duration // bound of that confirmation
}

// DefaultSpec is the embedded engine with its defaults, in no directory.
func DefaultSpec() Spec {
	return Spec{Driver: Badger, Partitions: engine.DefaultPartitions, Fsync: engine.DefaultFsync,
		FsyncInterval: engine.DefaultFsyncInterval, SegmentSize: engine.DefaultSegmentSize,
		ReapInterval: engine.DefaultReapInterval, CheckpointInterval: engine.DefaultCheckpointInterval,
		MinFreeBytes: engine.DefaultMinFreeBytes, IndexWindow: engine.DefaultIndexWindow,
		IndexMemory: engine.DefaultIndexMemory,
		WaitTimeout: redisstore.DefaultWaitTimeout}
}

// Options are what every store gets besides its description.
type Options struct {
	Clock  storage.Clock
	Logger *slog.Logger
	// Settings are the pool's "options" object, read by Open with the URI;
	// they override the URI's query parameters (Zaqar merges them into the
	// driver's config).
	Settings map[string]any
}

// ErrUnsupported: no store is known for the URI's scheme.
var ErrUnsupported = errors.New("backend: unsupported store URI")

// Scheme returns the lower-cased scheme of a store URI.
func Scheme(uri string) string {
	s, _, ok := strings.Cut(uri, "://")
	if !ok {
		s, _, _ = strings.Cut(uri, ":")
	}
	return strings.ToLower(s)
}

// driver is the driver of a pool URI's scheme, "" when none serves it.
func driver(uri string) string {
	switch Scheme(uri) {
	case "badger":
		return Badger
	case "redis", "rediss", "unix":
		return Redis
	}
	return ""
}

// Capabilities are the features a store offers, as Zaqar names them; a
// flavor's pools must all offer the same set.
func Capabilities(uri string) ([]string, error) {
	switch driver(uri) {
	case Badger:
		return []string{"FIFO", "CLAIMS", "DURABILITY", "AOD", "HIGH_THROUGHPUT"}, nil
	case Redis:
		return []string{"FIFO", "CLAIMS", "AOD", "HIGH_THROUGHPUT"}, nil
	}
	return nil, fmt.Errorf("%w: %q", ErrUnsupported, uri)
}

// Open opens the store named by a pool's uri and o.Settings.
func Open(uri string, o Options) (storage.Store, error) {
	s, err := ParseURI(uri, o.Settings)
	if err != nil {
		return nil, err
	}
	return OpenSpec(s, o)
}

// OpenSpec opens the store s describes.
func OpenSpec(s Spec, o Options) (storage.Store, error) {
	switch s.Driver {
	case Badger:
		eo := s.engineOptions()
		eo.Clock, eo.Logger = o.Clock, o.Logger
		e, err := engine.Open(eo)
		if err != nil {
			return nil, err
		}
		return e, nil
	case Redis:
		st, err := redisstore.Open(s.RedisURI, redisstore.Options{Clock: o.Clock, Logger: o.Logger, Prefix: s.Prefix,
			WaitReplicas: s.WaitReplicas, WaitTimeout: s.WaitTimeout})
		if err != nil {
			return nil, err
		}
		return st, nil
	}
	return nil, fmt.Errorf("backend: message store %q is not available in this build", s.Driver)
}

// engineOptions are the embedded engine's options s describes.
func (s Spec) engineOptions() engine.Options {
	eo := engine.DefaultOptions(s.Dir)
	eo.Partitions, eo.Fsync, eo.FsyncInterval = s.Partitions, s.Fsync, s.FsyncInterval
	eo.SegmentSize, eo.Compression = s.SegmentSize, s.Compression
	eo.ReapInterval, eo.CheckpointInterval = s.ReapInterval, s.CheckpointInterval
	eo.MinFreeBytes, eo.MaxBytes = s.MinFreeBytes, s.MaxBytes
	eo.IndexWindow, eo.IndexMemory = s.IndexWindow, s.IndexMemory
	return eo
}

// Memory is the most the store keeps in the server's memory whatever the
// data it holds (engine.Options.Memory), or 0 when nothing bounds it or
// the store keeps its data elsewhere (Redis).
func (s Spec) Memory() int64 {
	if s.Driver != Badger {
		return 0
	}
	return s.engineOptions().Memory()
}

// ParseURI describes the store of a pool: its uri, and its settings (the
// pool's "options" object), which override the URI's query parameters.
//
//	badger:///abs/path or badger://rel/path, with optional partitions,
//	fsync, segment_size and compression settings;
//	redis://..., rediss://..., unix://... (see redisstore.ParseURI), with
//	an optional prefix setting that namespaces the pool's keys (several
//	pools may share one Redis), and wait_replicas and wait_timeout
//	(seconds) as in [drivers:message_store:redis].
func ParseURI(uri string, settings map[string]any) (Spec, error) {
	switch driver(uri) {
	case Badger:
		return parseBadger(uri, settings)
	case Redis:
		s := Spec{Driver: Redis, RedisURI: uri}
		for k, v := range settings {
			switch k {
			case "prefix":
				s.Prefix = fmt.Sprint(v)
			case "wait_replicas":
				n, err := strconv.Atoi(fmt.Sprint(v))
				if err != nil || n < 0 {
					return Spec{}, fmt.Errorf("backend: wait_replicas=%v must be a whole number, 0 or more", v)
				}
				s.WaitReplicas = n
			case "wait_timeout":
				secs, err := strconv.ParseFloat(fmt.Sprint(v), 64)
				if err != nil || secs <= 0 {
					return Spec{}, fmt.Errorf("backend: wait_timeout=%v must be a positive number of seconds", v)
				}
				s.WaitTimeout = time.Duration(secs * float64(time.Second))
			default:
				return Spec{}, fmt.Errorf("backend: unknown redis setting %q", k)
			}
		}
		return s, nil
	}
	return Spec{}, fmt.Errorf("%w: %q (want badger:///path or redis://host:port)", ErrUnsupported, uri)
}

func parseBadger(uri string, more map[string]any) (Spec, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return Spec{}, fmt.Errorf("backend: %w", err)
	}
	s := DefaultSpec()
	if s.Dir = u.Host + u.Path; s.Dir == "" {
		return Spec{}, fmt.Errorf("backend: %q names no directory", uri)
	}
	settings := map[string]string{}
	for k, v := range u.Query() {
		settings[k] = v[len(v)-1]
	}
	for k, v := range more {
		settings[k] = fmt.Sprint(v)
	}
	for k, v := range settings {
		switch k {
		case "partitions":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return Spec{}, fmt.Errorf("backend: partitions=%q must be a positive integer", v)
			}
			s.Partitions = n
		case "fsync":
			p, err := wal.ParseSyncPolicy(v)
			if err != nil {
				return Spec{}, fmt.Errorf("backend: %w", err)
			}
			s.Fsync = p
		case "segment_size":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < MinSegmentSize {
				return Spec{}, fmt.Errorf("backend: segment_size=%q must be at least %d", v, MinSegmentSize)
			}
			s.SegmentSize = n
		case "compression":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return Spec{}, fmt.Errorf("backend: compression=%q is not a boolean", v)
			}
			s.Compression = b
		default:
			return Spec{}, fmt.Errorf("backend: unknown badger setting %q", k)
		}
	}
	return s, nil
}
