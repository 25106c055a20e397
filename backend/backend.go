// Package backend opens a message store from a pool URI, so that pooling
// can spread queues over stores of any kind: badger:///path for the
// embedded engine (several on one node, e.g. one per disk), redis://...
// for a shared Redis.
package backend

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"

	"github.com/zaqar-go/zaqar/engine"
	"github.com/zaqar-go/zaqar/redisstore"
	"github.com/zaqar-go/zaqar/storage"
	"github.com/zaqar-go/zaqar/wal"
)

// Options are what every store gets besides its URI.
type Options struct {
	Clock  storage.Clock
	Logger *slog.Logger
	// Settings are the pool's "options" object; they override the URI's
	// query parameters (Zaqar merges them into the driver's config).
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

// Capabilities are the features a store offers, as Zaqar names them; a
// flavor's pools must all offer the same set.
func Capabilities(uri string) ([]string, error) {
	switch Scheme(uri) {
	case "badger":
		return []string{"FIFO", "CLAIMS", "DURABILITY", "AOD", "HIGH_THROUGHPUT"}, nil
	case "redis", "rediss", "unix":
		return []string{"FIFO", "CLAIMS", "AOD", "HIGH_THROUGHPUT"}, nil
	}
	return nil, fmt.Errorf("%w: %q", ErrUnsupported, uri)
}

// Open opens the store named by uri.
func Open(uri string, o Options) (storage.Store, error) {
	switch Scheme(uri) {
	case "badger":
		return openBadger(uri, o)
	case "redis", "rediss", "unix":
		return openRedis(uri, o)
	}
	return nil, fmt.Errorf("%w: %q (want badger:///path or redis://host:port)", ErrUnsupported, uri)
}

// openBadger: badger:///abs/path or badger://rel/path, with optional
// partitions, fsync, segment_size and compression settings.
func openBadger(uri string, o Options) (storage.Store, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return nil, fmt.Errorf("backend: %w", err)
	}
	dir := u.Host + u.Path
	if dir == "" {
		return nil, fmt.Errorf("backend: %q names no directory", uri)
	}
	eo := engine.DefaultOptions(dir)
	eo.Clock, eo.Logger = o.Clock, o.Logger
	settings := map[string]string{}
	for k, v := range u.Query() {
		settings[k] = v[len(v)-1]
	}
	for k, v := range o.Settings {
		settings[k] = fmt.Sprint(v)
	}
	for k, v := range settings {
		switch k {
		case "partitions":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return nil, fmt.Errorf("backend: partitions=%q must be a positive integer", v)
			}
			eo.Partitions = n
		case "fsync":
			p, err := wal.ParseSyncPolicy(v)
			if err != nil {
				return nil, fmt.Errorf("backend: %w", err)
			}
			eo.Fsync = p
		case "segment_size":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 64<<10 {
				return nil, fmt.Errorf("backend: segment_size=%q must be at least 65536", v)
			}
			eo.SegmentSize = n
		case "compression":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, fmt.Errorf("backend: compression=%q is not a boolean", v)
			}
			eo.Compression = b
		default:
			return nil, fmt.Errorf("backend: unknown badger setting %q", k)
		}
	}
	e, err := engine.Open(eo)
	if err != nil {
		return nil, err
	}
	return e, nil
}

// openRedis: a Redis pool; the pool's "prefix" setting namespaces its
// keys (several pools may share one Redis).
func openRedis(uri string, o Options) (storage.Store, error) {
	ro := redisstore.Options{Clock: o.Clock, Logger: o.Logger}
	for k, v := range o.Settings {
		switch k {
		case "prefix":
			ro.Prefix = fmt.Sprint(v)
		default:
			return nil, fmt.Errorf("backend: unknown redis setting %q", k)
		}
	}
	s, err := redisstore.Open(uri, ro)
	if err != nil {
		return nil, err
	}
	return s, nil
}
