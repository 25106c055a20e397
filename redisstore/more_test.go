package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/zaqar-go/zaqar/httpapi"
	"github.com/zaqar-go/zaqar/internal/testenv"
	"github.com/zaqar-go/zaqar/storage"
)

func TestParseURI(t *testing.T) {
	type opts = redis.UniversalOptions
	for _, c := range []struct {
		name, uri string
		ok        func(o *opts) bool
	}{
		{"single", "redis://u:pw@10.0.0.1:6380/3?socket_timeout=0.5", func(o *opts) bool {
			return o.Addrs[0] == "10.0.0.1:6380" && o.DB == 3 && o.Username == "u" && o.Password == "pw" && o.ReadTimeout == 500*time.Millisecond
		}},
		{"sentinel", "redis://h1:26379,h2?master=mymaster&dbid=2", func(o *opts) bool {
			return o.MasterName == "mymaster" && len(o.Addrs) == 2 && o.Addrs[1] == "h2:26379" && o.DB == 2
		}},
		{"cluster", "redis://h1:7000,h2:7001?cluster=true", func(o *opts) bool { return o.IsClusterMode && len(o.Addrs) == 2 }},
		{"socket", "unix:///run/redis.sock", func(o *opts) bool { return o.Addrs[0] == "/run/redis.sock" && o.Dialer != nil }},
		{"tls", "rediss://h:6380", func(o *opts) bool { return o.TLSConfig != nil && o.TLSConfig.ServerName == "h" }},
		{"ipv6 without port", "redis://[::1]", func(o *opts) bool { return o.Addrs[0] == "[::1]:6379" }},
		{"ipv6 in a host list", "redis://[::1]:6380,h2", func(o *opts) bool { return o.Addrs[0] == "[::1]:6380" && o.Addrs[1] == "h2:6379" }},
	} {
		if o, err := ParseURI(c.uri); err != nil || !c.ok(o) {
			t.Errorf("%s: %+v %v", c.name, o, err)
		}
	}
	for _, bad := range []string{"mongodb://x", "redis://h/notanumber", "redis://h?socket_timeout=-1", "redis://h?master=m&cluster=true", "redis://"} {
		if _, err := ParseURI(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestKeysShareAHashTag: every key of one queue hashes to one Cluster
// slot, so each script touches a single slot.
func TestKeysShareAHashTag(t *testing.T) {
	s := &Store{o: Options{Prefix: "zaqar"}}
	keys := append(append(s.qk("proj{x}", "q").list(), s.qk("proj{x}", "q").d), s.subKeys("proj{x}", "q")...)
	tag := func(k string) string { return k[1:strings.Index(k, "}")] }
	for _, k := range keys {
		if !strings.HasPrefix(k, "{") || tag(k) != tag(keys[0]) {
			t.Fatalf("key %q does not share the tag of %q", k, keys[0])
		}
	}
}

func TestSweeperRemovesExpiredData(t *testing.T) {
	clock := testenv.NewClock(time.Unix(1_800_000_000, 0))
	s := open(t, clock.Now)
	ctx := context.Background()
	if _, err := s.PostMessages(ctx, "p", "q", "c", []storage.NewMessage{{Body: []byte(`1`), TTL: 60}, {Body: []byte(`2`), TTL: 600}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateClaim(ctx, "p", "q", storage.ClaimOptions{TTL: 60, Grace: 60, Limit: 1}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreateSubscription(ctx, "p", "q2", storage.NewSubscription{Subscriber: "http://x", TTL: 60}); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Sweep(ctx); n != 0 {
		t.Fatalf("swept %d live messages", n)
	}
	clock.Add(200 * time.Second)
	n, err := s.Sweep(ctx)
	if err != nil || n != 1 {
		t.Fatalf("sweep removed %d (%v), want the one expired message", n, err)
	}
	k := s.qk("p", "q")
	if c, _ := s.rdb.HLen(ctx, k.m).Result(); c != 1 {
		t.Fatalf("%d message records left, want 1", c)
	}
	if c, _ := s.rdb.HLen(ctx, k.c).Result(); c != 0 {
		t.Fatalf("%d expired claims left", c)
	}
	if c, _ := s.rdb.HLen(ctx, s.subKeys("p", "q2")[0]).Result(); c != 0 {
		t.Fatalf("%d expired subscriptions left", c)
	}
}

// TestScriptCacheLoss: after SCRIPT FLUSH (what a Redis restart does)
// posting and claiming still work.
func TestScriptCacheLoss(t *testing.T) {
	s := open(t, nil)
	ctx := context.Background()
	if _, err := s.PostMessages(ctx, "p", "q", "c", []storage.NewMessage{{Body: []byte(`1`), TTL: 60}}); err != nil {
		t.Fatal(err)
	}
	if err := s.rdb.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PostMessages(ctx, "p", "q", "c", []storage.NewMessage{{Body: []byte(`2`), TTL: 60}}); err != nil {
		t.Fatalf("post after script flush: %v", err)
	}
	if c, err := s.CreateClaim(ctx, "p", "q", storage.ClaimOptions{TTL: 60, Grace: 60, Limit: 5}); err != nil || len(c.Messages) != 2 {
		t.Fatalf("claim after script flush: %d messages, %v", len(c.Messages), err)
	}
}

// TestOutageAnswers503AndRecovers serves the real HTTP API over a store on
// a Redis the test owns, stops that Redis, and expects Zaqar's 503 error
// document (never a crash or a hang); when Redis is back the same server
// answers again by itself, with the data.
func TestOutageAnswers503AndRecovers(t *testing.T) {
	r := testenv.StartRedis(t)
	s, err := Open(r.URI()+"?socket_timeout=0.5", Options{Logger: quiet, SweepInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() }) // after the server's shutdown
	opts := httpapi.DefaultOptions()
	opts.Logger = quiet
	api, err := httpapi.New(s, opts)
	if err != nil {
		t.Fatal(err)
	}
	client := testenv.ServeInMemory(t, api.Handler())
	do := func(method, path, body string) (int, string) {
		r := testenv.Do(t, client, method, path, body, "Client-ID: 3a1d6a3e-0000-4000-8000-000000000001", "X-Project-ID: outage")
		return r.Status, r.Body
	}
	if code, body := do("POST", "/v2/queues/q/messages", `{"messages":[{"body":"before"}]}`); code != 201 {
		t.Fatalf("post before the outage: %d %s", code, body)
	}

	r.Stop()
	for _, rq := range [][3]string{
		{"POST", "/v2/queues/q/messages", `{"messages":[{"body":"during"}]}`},
		{"GET", "/v2/queues/q/messages?echo=true", ""},
		{"POST", "/v2/queues/q/claims", `{"ttl": 60, "grace": 60}`},
		{"GET", "/v2/queues/q/stats", ""},
		{"PUT", "/v2/queues/other", ""},
	} {
		code, body := do(rq[0], rq[1], rq[2])
		var doc struct{ Title, Description string }
		if code != 503 || json.Unmarshal([]byte(body), &doc) != nil ||
			doc.Title != "Service temporarily unavailable" || doc.Description == "" {
			t.Fatalf("%s %s during the outage: %d %s", rq[0], rq[1], code, body)
		}
	}
	if err := s.Ping(context.Background()); !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("ping during the outage: %v", err)
	}

	r.Start()
	deadline := time.Now().Add(15 * time.Second)
	for {
		code, body := do("GET", "/v2/queues/q/messages?echo=true", "")
		if code == 200 && strings.Contains(body, `"before"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no recovery after Redis came back: %d %s", code, body)
		}
		time.Sleep(50 * time.Millisecond) // reconnecting to an external process
	}
	if code, body := do("POST", "/v2/queues/q/messages", `{"messages":[{"body":"after"}]}`); code != 201 {
		t.Fatalf("post after recovery: %d %s", code, body)
	}
}

// FuzzParseURI: no URI makes parsing panic.
func FuzzParseURI(f *testing.F) {
	for _, s := range []string{"redis://h:1/2?dbid=3", "redis://a,b?master=m", "unix:///s", "rediss://u:p@h", "redis://[::1]:6379", "redis://%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		o, err := ParseURI(uri)
		if err == nil && len(o.Addrs) == 0 {
			t.Fatalf("%q parsed without an address", uri)
		}
	})
}
