// Package redisstore is a storage.Store on Redis, so that several
// stateless zaqar-server nodes can share one message store, as with
// Zaqar's Redis driver. Every multi-key change of a queue is one Lua
// script (one round trip, atomic); all keys of a queue carry one hash tag,
// so the store works on Redis Cluster as well as on a single server or
// behind Sentinel. Time comes from the store's clock, passed to the
// scripts. Expired data is removed by a bounded background sweeper.
package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/zaqar-go/zaqar/storage"
)

// Defaults of Options, applied by Open to zero fields.
const (
	// DefaultPrefix namespaces the keys of a store given no Prefix.
	DefaultPrefix = "zaqar"
	// DefaultSweepInterval is how often the sweeper runs.
	DefaultSweepInterval = time.Second
	// DefaultSweepQueues is how many queues one sweep visits.
	DefaultSweepQueues = 200
	// DefaultSweepBatch is how many expired messages, claims and
	// subscriptions one sweep removes from a queue.
	DefaultSweepBatch = 1000
)

// Options configure a store.
type Options struct {
	Clock  storage.Clock // nil = time.Now
	Logger *slog.Logger
	// Prefix namespaces every key ("" = DefaultPrefix), so several
	// deployments or test runs can share one Redis.
	Prefix string
	// SweepInterval is how often expired data is removed (0 =
	// DefaultSweepInterval; <0 disables the sweeper).
	SweepInterval time.Duration
	// SweepQueues bounds the queues visited per sweep (<=0 =
	// DefaultSweepQueues).
	SweepQueues int
	// SweepBatch bounds the expired messages, claims and subscriptions
	// removed from one queue per sweep (<=0 = DefaultSweepBatch), so one
	// script never blocks Redis for long; the rest goes on the next sweeps.
	SweepBatch int
	// WaitReplicas > 0 acknowledges a change only after that many
	// replicas confirmed it (WAIT; replicate.go), so that a failover
	// cannot lose it; 0 = Redis's asynchronous replication.
	WaitReplicas int
	// WaitTimeout bounds each WAIT (0 = DefaultWaitTimeout); a change not
	// confirmed in time fails with storage.ErrUnavailable.
	WaitTimeout time.Duration
}

// Store is the Redis message store.
type Store struct {
	rdb    redis.UniversalClient
	o      Options
	log    *slog.Logger
	stop   chan struct{}
	done   sync.WaitGroup
	cursor int64
	wake   waker // long-poll waiters (wake.go)
}

var _ storage.Store = (*Store)(nil)

// Open connects to the Redis named by uri (see ParseURI) and starts the
// sweeper. It does not fail when Redis is down: requests then answer
// storage.ErrUnavailable until it is back.
func Open(uri string, o Options) (*Store, error) {
	uo, err := ParseURI(uri)
	if err != nil {
		return nil, err
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.SweepInterval == 0 {
		o.SweepInterval = DefaultSweepInterval
	}
	if o.SweepQueues <= 0 {
		o.SweepQueues = DefaultSweepQueues
	}
	if o.SweepBatch <= 0 {
		o.SweepBatch = DefaultSweepBatch
	}
	if o.WaitTimeout <= 0 {
		o.WaitTimeout = DefaultWaitTimeout
	}
	if o.WaitReplicas > 0 && uo.ReadTimeout < o.WaitTimeout+time.Second {
		// A pipeline reads its WAIT's answer under the socket timeout.
		uo.ReadTimeout = o.WaitTimeout + time.Second
	}
	logOnce.Do(func() { redis.SetLogger(driverLogger{o.Logger}) })
	s := &Store{rdb: redis.NewUniversalClient(uo), o: o, log: o.Logger, stop: make(chan struct{})}
	s.wake.init(s)
	if o.SweepInterval > 0 {
		s.done.Add(1)
		go s.sweeper()
	}
	return s, nil
}

var logOnce sync.Once

// driverLogger sends go-redis's own messages (reconnect attempts while
// Redis is down) to the server log at debug level instead of stderr.
type driverLogger struct{ l *slog.Logger }

func (d driverLogger) Printf(_ context.Context, format string, v ...any) {
	d.l.Debug("redis driver: " + fmt.Sprintf(format, v...))
}

// Client exposes the Redis client (tests, health).
func (s *Store) Client() redis.UniversalClient { return s.rdb }

// Close stops the sweeper and the long-poll wake-ups and closes the
// connections.
func (s *Store) Close() error {
	close(s.stop)
	s.done.Wait()
	s.wake.close()
	return s.rdb.Close()
}

// Ping reports whether Redis answers.
func (s *Store) Ping(ctx context.Context) error { return s.fail(s.rdb.Ping(ctx).Err()) }

// fail maps every Redis failure to storage.ErrUnavailable: connection
// refused or reset, timeouts, a closed client, LOADING, READONLY, ...
func (s *Store) fail(err error) error {
	if err == nil || errors.Is(err, redis.Nil) {
		return nil
	}
	if cc, ok := s.rdb.(*redis.ClusterClient); ok && !isReply(err) {
		// go-redis refreshes its slot map on MOVED, not when a master
		// stops answering: ask for a refresh (asynchronous, coalesced),
		// so requests find the replica the Cluster promotes in its place.
		cc.ReloadState(context.Background())
	}
	if errors.Is(err, storage.ErrUnavailable) {
		return err
	}
	return fmt.Errorf("%w: redis: %v", storage.ErrUnavailable, err)
}

// isReply reports whether err is an answer of Redis (e.g. a script
// error) rather than a failure to reach it.
func isReply(err error) bool {
	var re redis.Error
	return errors.As(err, &re) && !redis.HasErrorPrefix(err, "CLUSTERDOWN") && !redis.HasErrorPrefix(err, "MOVED") &&
		!redis.HasErrorPrefix(err, "TRYAGAIN") && !redis.HasErrorPrefix(err, "READONLY") && !redis.HasErrorPrefix(err, "LOADING")
}

func (s *Store) now() int64 { return s.o.Clock().UnixMilli() }

// keys

type queueKeys struct{ q, m, ids, c, x, cx, d, wake string }

func (s *Store) tag(project, queue string) string {
	return "{" + s.o.Prefix + ":" + strconv.Itoa(len(project)) + ":" + project + "/" + queue + "}"
}

func (s *Store) qk(project, queue string) queueKeys {
	t := s.tag(project, queue)
	return queueKeys{q: t + ":q", m: t + ":m", ids: t + ":ids", c: t + ":c", x: t + ":x", cx: t + ":cx", d: t + ":d",
		wake: t + ":wake"}
}

// list is the KEYS order of the queue scripts (scripts.go). The delay
// zset d is passed only to the scripts that use it; wake is a Pub/Sub
// channel, not a key.
func (k queueKeys) list() []string { return []string{k.q, k.m, k.ids, k.c, k.x, k.cx} }

func (s *Store) subKeys(project, queue string) []string {
	t := s.tag(project, queue)
	return []string{t + ":s", t + ":so", t + ":sx", t + ":se"}
}

// projectIndex lists a project's queues (lexicographic zset); allIndex
// lists every queue and subscription holder for the sweeper.
func (s *Store) projectIndex(project string) string {
	return "{" + s.o.Prefix + ":" + strconv.Itoa(len(project)) + ":" + project + "}:queues"
}
func (s *Store) allIndex() string { return "{" + s.o.Prefix + "}:all" }

func member(project, queue string) string {
	return strconv.Itoa(len(project)) + ":" + project + "/" + queue
}

func splitMember(m string) (project, queue string, ok bool) {
	i := 0
	for i < len(m) && m[i] != ':' {
		i++
	}
	n, err := strconv.Atoi(m[:i])
	if err != nil || i+1+n+1 > len(m) {
		return "", "", false
	}
	return m[i+1 : i+1+n], m[i+2+n:], true
}

// records

type msgRecord struct {
	S  int64  `json:"s"`
	B  string `json:"b"`
	T  int64  `json:"t"`
	C  int64  `json:"c"`
	E  int64  `json:"e"`
	D  int64  `json:"d"`
	CL string `json:"cl"`
	CK string `json:"ck"`
	CC int    `json:"cc"`
	CI string `json:"ci"`
	CE int64  `json:"ce"`
}

func decodeMessage(id, raw string, now int64) (storage.Message, msgRecord, error) {
	var r msgRecord
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		return storage.Message{}, r, fmt.Errorf("redisstore: bad message record %s: %w", id, err)
	}
	m := storage.Message{ID: id, Body: []byte(r.B), TTL: r.T, Created: time.UnixMilli(r.C), Expires: time.UnixMilli(r.E),
		ClientID: r.CL, ClaimCount: r.CC, Checksum: r.CK}
	if r.D > 0 {
		m.DelayUntil = time.UnixMilli(r.D)
	}
	if r.CI != "" && r.CE > now {
		m.ClaimID = r.CI
	}
	return m, r, nil
}

// pairs decodes a script's flat id, record list.
func pairs(v any, now int64) ([]storage.Message, []msgRecord, error) {
	flat, _ := v.([]any)
	var out []storage.Message
	var recs []msgRecord
	for i := 0; i+1 < len(flat); i += 2 {
		id, _ := flat[i].(string)
		raw, _ := flat[i+1].(string)
		m, r, err := decodeMessage(id, raw, now)
		if err != nil {
			return nil, nil, err
		}
		out, recs = append(out, m), append(recs, r)
	}
	return out, recs, nil
}

func nonce() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func encodeMeta(m storage.Metadata) string { return m.Text() }

// metaArgs are the ARGV of createQueue and setMeta: the metadata and the
// dead letter policy it sets, with the engine's reading of it (a policy
// needs both a positive max claim count and a queue name).
func metaArgs(m storage.Metadata) []any {
	var maxc, ttl int64
	var dlq string
	if d, ok := storage.DeadLetterOf(m); ok {
		maxc, dlq, ttl = d.MaxClaims, d.Queue, d.TTL
	}
	return []any{encodeMeta(m), maxc, dlq, ttl}
}

func decodeMeta(raw string) storage.Metadata { return storage.ParseMetadata(raw) }
