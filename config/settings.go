package config

import (
	"fmt"
	"strconv"
	"time"

	"github.com/zaqar-go/zaqar/backend"
	"github.com/zaqar-go/zaqar/httpapi"
	"github.com/zaqar-go/zaqar/keystone"
	"github.com/zaqar-go/zaqar/notify"
	"github.com/zaqar-go/zaqar/queuemetrics"
	"github.com/zaqar-go/zaqar/sqldb"
	"github.com/zaqar-go/zaqar/wal"
	"github.com/zaqar-go/zaqar/wsapi"
)

// Settings are the options' values, typed, in the option structs of the
// packages they configure. Config.Settings fills them: every option's Set
// writes its value over the packages' defaults. What no option sets
// (loggers, registries, clients) is the caller's.
type Settings struct {
	Log  LogSettings // [DEFAULT] debug, log_file, use_json
	Bind string      // [drivers:transport:wsgi] bind
	Port int64       // [drivers:transport:wsgi] port
	// Store is the message store: [drivers] message_store and its
	// [drivers:message_store:*] section.
	Store backend.Spec
	// API: [transport], [cors], [DEFAULT] admin_mode, enable_checksum and
	// debug (profiling), [signed_url] secret_key.
	API httpapi.Options
	// Notify: [notification], [signed_url] secret_key.
	Notify notify.Options
	// EncryptionKey is [transport] message_encryption_key.
	EncryptionKey string
	Pooling       PoolingSettings
	Auth          AuthSettings
	// Transports: [drivers] transport, the transports served (TransportHTTP,
	// TransportWebSocket).
	Transports []string
	WebSocket  WebSocketSettings
	// Metrics: [metrics], the per-queue series on /metrics.
	Metrics queuemetrics.Options
	// MemoryLimit is [DEFAULT] memory_limit, the Go runtime's soft memory
	// limit in bytes (0 = derived from the store, internal/collector).
	MemoryLimit int64
}

// Transports, as [drivers] transport names them.
const (
	TransportHTTP      = "wsgi"
	TransportWebSocket = "websocket"
)

// WebSocketSettings: [drivers:transport:websocket]. Options carries the
// transport's own limits; its API part is Settings.API.
type WebSocketSettings struct {
	Bind    string
	Port    int64
	Options wsapi.Options
}

// LogSettings are where and how the server logs.
type LogSettings struct {
	Debug bool   // debug: log at debug level
	File  string // log_file: "" = stderr
	JSON  bool   // use_json: JSON lines
}

// PoolingSettings: [DEFAULT] pooling, [pooling:catalog] and the management
// store, [drivers:management_store:sqlalchemy].
type PoolingSettings struct {
	Enabled     bool          // [DEFAULT] pooling
	VirtualPool bool          // enable_virtual_pool
	CacheTTL    time.Duration // cache_ttl
	CatalogURI  string        // the management store's uri
	SQL         sqldb.Options // mysql_sql_mode, max_pool_size, idle_timeout
}

// AuthSettings: [DEFAULT] auth_strategy, [keystone_authtoken] and
// [oslo_policy].
type AuthSettings struct {
	Strategy string // "" (none) or AuthKeystone
	// Keystone: TokenCacheTime is already keystonemiddleware's reading of
	// token_cache_time (0 = no caching); WWWAuthenticateURI is
	// www_authenticate_uri only.
	Keystone keystone.Options
	// DeprecatedAuthURI is auth_uri, the deprecated name of
	// www_authenticate_uri: it applies when that is empty.
	DeprecatedAuthURI string
	CAFile            string // cafile: "" = the system's roots
	Insecure          bool   // insecure: skip TLS verification
	PolicyFile        string // [oslo_policy] policy_file
}

// Settings returns the options' values as Settings.
func (c *Config) Settings() Settings {
	s := Settings{Store: backend.DefaultSpec(), API: httpapi.DefaultOptions(), WebSocket: WebSocketSettings{Options: wsapi.DefaultOptions()},
		Pooling: PoolingSettings{SQL: sqldb.DefaultOptions()}, Metrics: metricsDefaults}
	for i := range Options {
		o := &Options[i]
		o.Set.set(&s, c.values[key(o.Section, o.Name)])
	}
	return s
}

// Setter applies a validated value of one Kind to Settings.
type Setter struct {
	kind  Kind
	set   func(s *Settings, v string)
	inert bool // accepted and validated, but sets nothing
}

func setString(f func(s *Settings, v string)) Setter {
	return Setter{kind: String, set: f}
}

func setInt(f func(s *Settings, v int64)) Setter {
	return Setter{kind: Int, set: func(s *Settings, v string) {
		n, _ := strconv.ParseInt(v, 10, 64)
		f(s, n)
	}}
}

func setBool(f func(s *Settings, v bool)) Setter {
	return Setter{kind: Bool, set: func(s *Settings, v string) {
		b, _ := parseBool(v)
		f(s, b)
	}}
}

func setDuration(f func(s *Settings, v time.Duration)) Setter {
	return Setter{kind: Duration, set: func(s *Settings, v string) {
		d, _ := parseDuration(v)
		f(s, d)
	}}
}

func setList(f func(s *Settings, v []string)) Setter {
	return Setter{kind: List, set: func(s *Settings, v string) { f(s, splitList(v)) }}
}

// noEffect is the Set of an option accepted for compatibility: its value is
// checked, and nothing reads it.
func noEffect(k Kind) Setter {
	return Setter{kind: k, set: func(*Settings, string) {}, inert: true}
}

// syncPolicy reads an fsync choice; the option's Choices are wal's names.
func syncPolicy(v string) wal.SyncPolicy {
	p, err := wal.ParseSyncPolicy(v)
	if err != nil {
		panic(fmt.Sprintf("config: fsync choice %q: %v", v, err))
	}
	return p
}

// tokenCacheTime reads token_cache_time (seconds) as keystone.Options
// does: 0 would mean its default there, where keystonemiddleware reads it
// as no caching.
func tokenCacheTime(secs int64) time.Duration {
	if secs == 0 {
		return -1
	}
	return time.Duration(secs) * time.Second
}
