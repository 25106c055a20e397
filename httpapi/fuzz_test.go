package httpapi

import (
	"encoding/json"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/zaqar-go/zaqar/catalog"
	"github.com/zaqar-go/zaqar/engine"
	"github.com/zaqar-go/zaqar/wal"
)

var (
	fuzzOnce sync.Once
	fuzzAPI  fasthttp.RequestHandler
)

// fuzzHandler is one API over an engine shared by all fuzz iterations of
// the process (opening an engine per input would dominate the run).
func fuzzHandler(t testing.TB) fasthttp.RequestHandler {
	fuzzOnce.Do(func() {
		dir, err := makeTempDir()
		if err != nil {
			t.Fatal(err)
		}
		eo := engine.DefaultOptions(dir)
		eo.Fsync, eo.Partitions = wal.SyncNever, 1
		// Parsers are what is fuzzed: keep background work out of the way.
		eo.ReapInterval, eo.CheckpointInterval = time.Hour, time.Hour
		eo.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		store, err := engine.Open(eo)
		if err != nil {
			t.Fatal(err)
		}
		opts := DefaultOptions()
		opts.Logger = eo.Logger
		api, err := New(store, opts)
		if err != nil {
			t.Fatal(err)
		}
		fuzzAPI = api.Handler()
	})
	return fuzzAPI
}

// serveFuzz runs one request through the handler and checks the answer:
// never a 5xx, and every error in Zaqar's JSON shape.
func serveFuzz(t *testing.T, method, uri, contentType string, body []byte) {
	var ctx fasthttp.RequestCtx
	var req fasthttp.Request
	req.Header.SetMethod(method)
	req.SetRequestURI(uri)
	req.Header.Set("Client-ID", testClient)
	req.Header.Set("X-Project-ID", "fuzz")
	req.Header.SetContentType(contentType)
	req.SetBody(body)
	ctx.Init(&req, nil, nil)
	fuzzHandler(t)(&ctx)
	status := ctx.Response.StatusCode()
	if status >= 500 {
		t.Fatalf("%s %s %q: status %d body %s", method, uri, body, status, ctx.Response.Body())
	}
	if status >= 400 {
		var e struct{ Title string }
		if json.Unmarshal(ctx.Response.Body(), &e) != nil || e.Title == "" {
			t.Fatalf("%s %s: error body not in Zaqar's shape: %q", method, uri, ctx.Response.Body())
		}
	}
}

func FuzzPostMessages(f *testing.F) {
	for _, s := range []string{postBody(2, 300), `{"messages":[{"body":null,"ttl":60,"delay":0}]}`, `{"messages":[]}`,
		`{"messages":{}}`, `[1,2]`, `{"messages":[{"body":{"a":[1,{"b":"\u00e9"}]},"ttl":true}]}`, `{"messages":[{"ttl":1e400,"body":1}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		serveFuzz(t, "POST", "/v2/queues/fz/messages", "application/json", body)
	})
}

func FuzzQueuePatch(f *testing.F) {
	for _, s := range []string{`[{"op":"add","path":"/metadata/a","value":1}]`, `[{"op":"remove","path":"/metadata/_default_message_ttl"}]`,
		`[{"op":"replace","path":"/metadata/a~1b~0","value":{"x":[1]}}]`, `{}`, `[{"op":"add","path":"/metadata/_max_claim_count","value":"x"}]`} {
		f.Add([]byte(s))
	}
	serveOnce := sync.OnceFunc(func() {})
	f.Fuzz(func(t *testing.T, body []byte) {
		serveOnce()
		serveFuzz(t, "PUT", "/v2/queues/fzp", "application/json", nil)
		serveFuzz(t, "PATCH", "/v2/queues/fzp", patchContentType, body)
	})
}

func FuzzQueueMetadata(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `{"_default_message_ttl":60,"_dead_letter_queue":"d","_max_claim_count":2}`, `{"_default_message_delay":-1}`, `null`, `"x"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		serveFuzz(t, "PUT", "/v2/queues/fzm", "application/json", body)
		serveFuzz(t, "GET", "/v2/queues/fzm", "", nil)
		serveFuzz(t, "DELETE", "/v2/queues/fzm", "", nil)
	})
}

func FuzzQueryStrings(f *testing.F) {
	for _, s := range []string{"limit=5&echo=true", "marker=abc&include_claimed=yes", "ids=a,b,,c", "pop=3", "limit=-1", "detailed=on&with_count=1&name=q", "ids=&pop="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		serveFuzz(t, "GET", "/v2/queues?"+q, "", nil)
		serveFuzz(t, "GET", "/v2/queues/fzq/messages?"+q, "", nil)
		serveFuzz(t, "DELETE", "/v2/queues/fzq/messages?"+q, "", nil)
		serveFuzz(t, "GET", "/v2/queues/fzq/subscriptions?"+q, "", nil)
	})
}

func FuzzClaimBody(f *testing.F) {
	for _, s := range []string{`{"ttl":60,"grace":60}`, `{}`, `{"ttl":"x"}`, `{"grace":1e9}`, `[]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		serveFuzz(t, "POST", "/v2/queues/fzc/claims?limit=2", "application/json", body)
		serveFuzz(t, "PATCH", "/v2/queues/fzc/claims/x", "application/json", body)
	})
}

func FuzzSubscriptionBody(f *testing.F) {
	for _, s := range []string{`{"subscriber":"http://a/b","ttl":60,"options":{}}`, `{"subscriber":"mailto:a@b"}`, `{"subscriber":5}`, `{"ttl":1e30,"subscriber":"https://x"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		serveFuzz(t, "POST", "/v2/queues/fzs/subscriptions", "application/json", body)
		serveFuzz(t, "PUT", "/v2/queues/fzs/subscriptions/x/confirm", "application/json", body)
	})
}

// FuzzPoolBodies: pool and flavor documents never panic the validators,
// and what they accept is within Zaqar's schema.
func FuzzPoolBodies(f *testing.F) {
	for _, s := range []string{`{"weight": 100, "uri": "badger:///x", "flavor": "f", "options": {}}`, `{"weight": -1}`,
		`{"weight": 1e40, "uri": 5}`, `{"pool_list": ["a", 1]}`, `{"pool_list": []}`, `{"group": "g"}`, `{"flavor": null}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var doc map[string]any
		if numberAPI.Unmarshal(body, &doc) != nil || doc == nil {
			return
		}
		var ctx fasthttp.RequestCtx
		var u catalog.PoolUpdate
		if poolFields(&ctx, doc, &u) {
			if u.Weight != nil && (*u.Weight < 0 || *u.Weight > 1<<32-1) {
				t.Fatalf("weight %d accepted", *u.Weight)
			}
			if u.URI != nil && (len(*u.URI) > 255 || *u.URI == "") {
				t.Fatalf("uri %q accepted", *u.URI)
			}
		} else if ctx.Response.StatusCode() != fasthttp.StatusBadRequest {
			t.Fatalf("rejected with status %d", ctx.Response.StatusCode())
		}
		var ctx2 fasthttp.RequestCtx
		if names, ok := poolList(&ctx2, doc); ok {
			for _, n := range names {
				if n == "" || len(n) > maxPoolNameLength {
					t.Fatalf("pool name %q accepted", n)
				}
			}
		}
	})
}
