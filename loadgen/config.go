package loadgen

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"time"
)

// Role is one kind of worker.
type Role struct {
	Workers int // goroutines
	Conns   int // connections of this role's client (0 = Workers)
}

// Config describes a run.
type Config struct {
	ServerURL string
	Duration  time.Duration // timed phase (after warm-up)
	Warmup    time.Duration // load applied but not measured
	// MaxMessages stops producers after this many messages in total (0 = no limit).
	MaxMessages int64

	Queues        int    // queues per project
	QueuePrefix   string // queue names are <prefix>-<n>
	Projects      int    // projects (X-Project-ID <ProjectPrefix>-<n>)
	ProjectPrefix string

	MessageSize    int // body padding bytes (fixed), or the minimum with MessageSizeMax
	MessageSizeMax int // > MessageSize: sizes uniform in [MessageSize, MessageSizeMax]
	BatchSize      int // messages per POST
	MessageTTL     int // seconds
	// Samples, when given, are the documents messages are drawn from
	// (the original zaqar-bench's --messages_path), each picked with the
	// probability of its weight: a message carries its sample's ttl and,
	// under "d", its body.
	Samples []Sample

	Producers Role
	Consumers Role
	Observers Role

	ClaimLimit int // messages per claim
	ClaimTTL   int
	ClaimGrace int
	Release    bool // release claims instead of deleting the messages (consumers never drain)
	PageSize   int  // observer page size
	// Wait (seconds) makes consumers' claims, while producers run, and
	// observers' listings long-poll with ?wait= (an extension beyond
	// Zaqar): a request that finds nothing waits for messages instead of
	// answering at once. Their latencies then include the waiting. 0 =
	// no wait parameter.
	Wait int

	Rate    float64           // producer requests/s in total; 0 = closed loop
	Headers map[string]string // extra headers on every request (e.g. X-Auth-Token)

	// Drain keeps consumers running after the timed phase until every
	// queue is empty (or DrainTimeout), so the ledger can prove delivery.
	Drain        bool
	DrainTimeout time.Duration
	Timeout      time.Duration // per request

	Seed uint64 // for message sizes; 0 = random

	// Transport is TransportHTTP (default) or TransportWebSocket: workers
	// then send Zaqar's WebSocket actions to WebSocketURL, one connection
	// each (observers list without markers: WebSocket listings return
	// none).
	Transport    string
	WebSocketURL string // "" = ws://<server host>:9000/
	// Subscribers are sockets per queue that subscribe themselves to it
	// (WebSocket only): each records every message pushed to it,
	// post-to-push latency as the delivered latency and OpPush.
	Subscribers int
}

func validSamples(samples []Sample) bool {
	for _, s := range samples {
		if !(s.Weight > 0) || s.TTL < 0 || !json.Valid(s.Body) {
			return false
		}
	}
	return true
}

// Sample is one message document of Samples.
type Sample struct {
	Weight float64
	TTL    int             // seconds; 0 = MessageTTL
	Body   json.RawMessage // JSON value
}

// pick returns the sample that x, uniform in [0, total weight), falls in.
func pick(samples []Sample, x float64) *Sample {
	for i := range samples {
		if x < samples[i].Weight {
			return &samples[i]
		}
		x -= samples[i].Weight
	}
	return &samples[len(samples)-1]
}

// DefaultConfig is the default profile's shape.
func DefaultConfig() Config {
	return Config{
		ServerURL: "http://127.0.0.1:8888", Duration: 10 * time.Second, Queues: 1, QueuePrefix: "ogre_bench",
		Projects: 1, ProjectPrefix: "bench", MessageSize: 1000, BatchSize: 10, MessageTTL: 3600,
		Producers: Role{Workers: 4}, Consumers: Role{Workers: 4}, Observers: Role{},
		ClaimLimit: 10, ClaimTTL: 60, ClaimGrace: 60, PageSize: 10, Drain: true,
		DrainTimeout: 60 * time.Second, Timeout: 10 * time.Second,
	}
}

// Validate checks the configuration once, before any request.
func (c *Config) Validate() error {
	u, err := url.Parse(c.ServerURL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Errorf("loadgen: server url %q is not an http(s) URL", c.ServerURL)
	}
	switch {
	case c.Duration <= 0 && c.MaxMessages <= 0:
		return errors.New("loadgen: set a duration or a message count")
	case c.Queues < 1 || c.Projects < 1:
		return errors.New("loadgen: queues and projects must be at least 1")
	case c.BatchSize < 1 || c.MessageSize < 0 || (c.MessageSizeMax != 0 && c.MessageSizeMax < c.MessageSize):
		return errors.New("loadgen: bad batch or message size")
	case !validSamples(c.Samples):
		return errors.New("loadgen: every sample needs a positive weight, a ttl of 0 or more and a JSON body")
	case c.Producers.Workers < 0 || c.Consumers.Workers < 0 || c.Observers.Workers < 0:
		return errors.New("loadgen: worker counts cannot be negative")
	case c.Producers.Workers+c.Consumers.Workers+c.Observers.Workers == 0:
		return errors.New("loadgen: no workers")
	case c.ClaimLimit < 1 || c.PageSize < 1:
		return errors.New("loadgen: claim limit and page size must be at least 1")
	case c.Rate < 0:
		return errors.New("loadgen: rate cannot be negative")
	case c.Wait < 0:
		return errors.New("loadgen: wait cannot be negative")
	}
	switch c.Transport {
	case "", TransportHTTP:
		c.Transport = TransportHTTP
		if c.Subscribers > 0 {
			return errors.New("loadgen: subscribers need the websocket transport")
		}
	case TransportWebSocket:
		if c.WebSocketURL == "" {
			u, _ := url.Parse(c.ServerURL)
			c.WebSocketURL = "ws://" + u.Hostname() + ":9000/"
		}
		if u, err := url.Parse(c.WebSocketURL); err != nil || (u.Scheme != "ws" && u.Scheme != "wss") {
			return fmt.Errorf("loadgen: websocket url %q is not a ws(s) URL", c.WebSocketURL)
		}
	default:
		return fmt.Errorf("loadgen: transport %q: http or websocket", c.Transport)
	}
	if c.Subscribers < 0 {
		return errors.New("loadgen: subscribers cannot be negative")
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.Seed == 0 {
		c.Seed = rand.Uint64()
	}
	return nil
}

// waitTimeout bounds a request that may long-poll: the wait plus Timeout.
func (c *Config) waitTimeout() time.Duration { return c.Timeout + time.Duration(c.Wait)*time.Second }

// HeadersMap returns Headers, creating it so flags can fill it in place.
func (c *Config) HeadersMap() map[string]string {
	if c.Headers == nil {
		c.Headers = map[string]string{}
	}
	return c.Headers
}

func (r Role) conns() int {
	if r.Conns > 0 {
		return r.Conns
	}
	return max(1, r.Workers)
}
