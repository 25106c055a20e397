package httpapi

import (
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"github.com/zaqar-go/zaqar/engine"
	"github.com/zaqar-go/zaqar/internal/testenv"
	"github.com/zaqar-go/zaqar/storage"
	"github.com/zaqar-go/zaqar/wal"
)

// openEngine is an engine for long-poll tests (clock nil = real time).
func openEngine(t testing.TB, clock storage.Clock) *engine.Engine {
	t.Helper()
	eo := engine.DefaultOptions(t.TempDir())
	eo.Fsync, eo.Partitions, eo.Clock = wal.SyncNever, 2, clock
	eo.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	e, err := engine.Open(eo)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// newWaitServer serves the API over store on an in-memory listener; its
// client allows conns concurrent requests that may each wait 30 s.
func newWaitServer(t testing.TB, store storage.Store, conns int, mut func(*Options)) (*server, *API) {
	t.Helper()
	opts := DefaultOptions()
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	if mut != nil {
		mut(&opts)
	}
	api, err := New(store, opts)
	if err != nil {
		t.Fatal(err)
	}
	c := testenv.ServeInMemory(t, api.Handler())
	c.ReadTimeout, c.MaxConnsPerHost = 30*time.Second, conns
	tt, _ := t.(*testing.T)
	return &server{t: tt, client: c}, api
}

type answer struct {
	reply
	err error
	at  time.Time
}

// async sends a request from a goroutine of its own (as the default
// client and project); the answer arrives on the channel.
func async(c *fasthttp.Client, method, path, body string, headers ...string) <-chan answer {
	out := make(chan answer, 1)
	go func() {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI("http://zaqar" + path)
		req.Header.SetMethod(method)
		for _, h := range append(append([]string(nil), defaultHeaders...), headers...) {
			k, v, _ := strings.Cut(h, ":")
			req.Header.Set(k, strings.TrimSpace(v))
		}
		if body != "" {
			req.SetBodyString(body)
		}
		err := c.Do(req, resp)
		out <- answer{reply: reply{status: resp.StatusCode(), body: string(resp.Body())}, err: err, at: time.Now()}
	}()
	return out
}

// eventually polls cond (the test's own observation, not the server's
// mechanism) until it holds or 10 s pass.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 10 s", what)
		}
	}
}

func waiting(api *API, n int64) func() bool {
	return func() bool { return api.metrics.waiting.Load() == n }
}

func receive(t testing.TB, ch <-chan answer, within time.Duration) answer {
	t.Helper()
	select {
	case a := <-ch:
		if a.err != nil {
			t.Fatalf("request failed: %v", a.err)
		}
		return a
	case <-time.After(within):
		t.Fatalf("no answer within %v", within)
	}
	return answer{}
}

// TestWaitParameter: errors in Zaqar's shape, the bounds, the default,
// and Zaqar's own validation before any waiting.
func TestWaitParameter(t *testing.T) {
	s, _ := newWaitServer(t, openEngine(t, nil), 4, func(o *Options) { o.MaxWait = 20 })
	for _, tc := range []struct{ method, path, body, want string }{
		{"POST", "/v2/queues/q/claims?wait=soon", "", `"Invalid parameter"`},
		{"POST", "/v2/queues/q/claims?wait=1.5", "", `The \"wait\" parameter is invalid.`},
		{"POST", "/v2/queues/q/claims?wait=-1", "", "Wait must be at least 0 and may not be greater than 20 seconds."},
		{"POST", "/v2/queues/q/claims?wait=21", "", "may not be greater than 20 seconds"},
		{"GET", "/v2/queues/q/messages?wait=x", "", `"Invalid parameter"`},
		{"GET", "/v2/queues/q/messages?wait=21", "", "may not be greater than 20 seconds"},
		// Zaqar's checks come first, and answer at once.
		{"POST", "/v2/queues/q/claims?wait=20&limit=0", "", "Limit must be at least 1"},
		{"POST", "/v2/queues/q/claims?wait=20", `{"ttl":10}`, "The TTL for a claim"},
		{"POST", "/v2/queues/q/claims?wait=20", `{"grace":100000}`, "The grace for a claim"},
		{"GET", "/v2/queues/q/messages?wait=20&limit=100", "", "Limit must be at least 1"},
	} {
		start := time.Now()
		s.expect(tc.method+" "+tc.path+" "+tc.body, s.do(tc.method, tc.path, tc.body), 400, tc.want)
		if d := time.Since(start); d > time.Second {
			t.Fatalf("%s %s: an invalid request waited %v", tc.method, tc.path, d)
		}
	}
	// Blank is absent (Falcon's rule): the default, 0 here.
	s.expect("blank wait", s.do("POST", "/v2/queues/q/claims?wait=", ""), 204)
	// A get by ids never waits.
	s.expect("ids with wait", s.do("GET", "/v2/queues/q/messages?ids=x&wait=20", ""), 404)

	for _, bad := range []func(*Options){
		func(o *Options) { o.MaxWait = -1 },
		func(o *Options) { o.MaxWait = MaxWaitCeiling + 1 },
		func(o *Options) { o.MaxWait, o.DefaultWait = 5, 6 },
		func(o *Options) { o.DefaultWait = -1 },
	} {
		o := DefaultOptions()
		bad(&o)
		if o.Validate() == nil {
			t.Fatalf("options accepted: default_wait %d, max_wait %d", o.DefaultWait, o.MaxWait)
		}
	}
}

// TestWaitZeroIsUnchanged: wait=0 (and no wait, default_wait 0) answers
// at once exactly as before.
func TestWaitZeroIsUnchanged(t *testing.T) {
	s, _ := newWaitServer(t, openEngine(t, nil), 4, nil)
	for _, path := range []string{"/v2/queues/q/claims", "/v2/queues/q/claims?wait=0"} {
		start := time.Now()
		r := s.expect(path, s.do("POST", path, ""), 204)
		if r.body != "" || time.Since(start) > 500*time.Millisecond {
			t.Fatalf("%s: %q after %v", path, r.body, time.Since(start))
		}
	}
	plain := s.expect("list", s.do("GET", "/v2/queues/q/messages", ""), 200)
	zero := s.expect("list wait=0", s.do("GET", "/v2/queues/q/messages?wait=0", ""), 200)
	if plain.body != zero.body || plain.body != `{"messages":[],"links":[]}` {
		t.Fatalf("empty listings differ: %s / %s", plain.body, zero.body)
	}
	s.expect("post", s.do("POST", "/v2/queues/q/messages", `{"messages":[{"body":1}]}`), 201)
	s.expect("claim wait=0", s.do("POST", "/v2/queues/q/claims?wait=0&limit=5", ""), 201, `"body":1`)
}

// TestWaitingClaimWokenByPost: a claim waiting 20 s is answered within
// milliseconds of a post, with the posted message; a listing likewise
// (including claimed messages: the claim may take the message first),
// and not by its own client's post (echo off).
func TestWaitingClaimWokenByPost(t *testing.T) {
	s, api := newWaitServer(t, openEngine(t, nil), 8, nil)
	claim := async(s.client, "POST", "/v2/queues/q/claims?wait=20&limit=5", `{"ttl":60}`)
	list := async(s.client, "GET", "/v2/queues/q/messages?wait=20&include_claimed=true", "", otherClient)
	eventually(t, "two waiters", waiting(api, 2))
	posted := time.Now()
	s.expect("post", s.do("POST", "/v2/queues/q/messages", `{"messages":[{"body":{"n":42}}]}`), 201)
	for name, ch := range map[string]<-chan answer{"claim": claim, "listing": list} {
		a := receive(t, ch, 5*time.Second)
		if d := a.at.Sub(posted); d > 2*time.Second {
			t.Fatalf("%s answered %v after the post", name, d)
		}
		if want := map[string]int{"claim": 201, "listing": 200}[name]; a.status != want || !strings.Contains(a.body, `"body":{"n":42}`) {
			t.Fatalf("%s: %d %s", name, a.status, a.body)
		}
		t.Logf("%s answered %v after the post", name, a.at.Sub(posted))
	}

	// Echo off: the lister's own post wakes it but does not answer it.
	mine := async(s.client, "GET", "/v2/queues/q2/messages?wait=20", "")
	eventually(t, "one waiter", waiting(api, 1))
	s.expect("own post", s.do("POST", "/v2/queues/q2/messages", `{"messages":[{"body":"mine"}]}`), 201)
	select {
	case a := <-mine:
		t.Fatalf("answered by its own post: %d %s", a.status, a.body)
	case <-time.After(200 * time.Millisecond):
	}
	s.expect("other's post", s.do("POST", "/v2/queues/q2/messages", `{"messages":[{"body":"theirs"}]}`, otherClient), 201)
	if a := receive(t, mine, 2*time.Second); a.status != 200 || !strings.Contains(a.body, `"theirs"`) || strings.Contains(a.body, `"mine"`) {
		t.Fatalf("listing: %d %s", a.status, a.body)
	}
}

// TestWaitingClaimWokenByRelease: a released claim's messages go to a
// waiter at once.
func TestWaitingClaimWokenByRelease(t *testing.T) {
	s, api := newWaitServer(t, openEngine(t, nil), 4, nil)
	s.expect("post", s.do("POST", "/v2/queues/q/messages", `{"messages":[{"body":"job"}]}`), 201)
	first := s.expect("claim", s.do("POST", "/v2/queues/q/claims", ""), 201)
	claimURL := "/v2/queues/q/claims/" + strings.TrimPrefix(first.headers["Location"], "/v2/queues/q/claims/")
	waiter := async(s.client, "POST", "/v2/queues/q/claims?wait=20", "")
	eventually(t, "a waiter", waiting(api, 1))
	released := time.Now()
	s.expect("release", s.do("DELETE", claimURL, ""), 204)
	a := receive(t, waiter, 5*time.Second)
	if a.status != 201 || !strings.Contains(a.body, `"job"`) || a.at.Sub(released) > 2*time.Second {
		t.Fatalf("after the release: %d %s, %v later", a.status, a.body, a.at.Sub(released))
	}
}

// TestWaitWokenByExpiryAndDelay: a claim that runs out and a delay that
// ends wake waiters at the engine's reaper pass (about a second), long
// before their deadline.
func TestWaitWokenByExpiryAndDelay(t *testing.T) {
	clock := testenv.NewClock(time.Now())
	s, api := newWaitServer(t, openEngine(t, clock.Now), 4, nil)
	s.expect("post", s.do("POST", "/v2/queues/q/messages", `{"messages":[{"body":"job"}]}`), 201)
	s.expect("claim", s.do("POST", "/v2/queues/q/claims", `{"ttl":60}`), 201)
	waiter := async(s.client, "POST", "/v2/queues/q/claims?wait=20", "")
	eventually(t, "a waiter", waiting(api, 1))
	clock.Add(61 * time.Second)
	if a := receive(t, waiter, 5*time.Second); a.status != 201 || !strings.Contains(a.body, `"job"`) {
		t.Fatalf("after the claim ran out: %d %s", a.status, a.body)
	}

	s.expect("queue", s.do("PUT", "/v2/queues/d", `{"_default_message_delay":30}`), 201)
	s.expect("post delayed", s.do("POST", "/v2/queues/d/messages", `{"messages":[{"body":"later"}]}`), 201)
	waiter = async(s.client, "POST", "/v2/queues/d/claims?wait=20", "")
	eventually(t, "a waiter", waiting(api, 1))
	clock.Add(31 * time.Second)
	if a := receive(t, waiter, 5*time.Second); a.status != 201 || !strings.Contains(a.body, `"later"`) {
		t.Fatalf("after the delay: %d %s", a.status, a.body)
	}
}

// TestWaitTimesOut: nothing comes: 204 / an empty page at about N s.
func TestWaitTimesOut(t *testing.T) {
	s, _ := newWaitServer(t, openEngine(t, nil), 4, nil)
	for _, tc := range []struct {
		method, path string
		status       int
		body         string
	}{
		{"POST", "/v2/queues/q/claims?wait=1", 204, ""},
		{"GET", "/v2/queues/q/messages?wait=1", 200, `{"messages":[],"links":[]}`},
	} {
		start := time.Now()
		r := s.do(tc.method, tc.path, "")
		d := time.Since(start)
		if r.status != tc.status || r.body != tc.body || d < time.Second || d > 2*time.Second {
			t.Fatalf("%s %s: %d %q after %v", tc.method, tc.path, r.status, r.body, d)
		}
	}
}

// TestDefaultWait: default_wait applies when a request gives no wait.
func TestDefaultWait(t *testing.T) {
	s, _ := newWaitServer(t, openEngine(t, nil), 4, func(o *Options) { o.DefaultWait = 1 })
	start := time.Now()
	s.expect("claim", s.do("POST", "/v2/queues/q/claims", ""), 204)
	if d := time.Since(start); d < time.Second {
		t.Fatalf("answered after %v, want default_wait's 1 s", d)
	}
}

// blind hides the engine's Changes: a store that cannot wake.
type blind struct{ storage.Store }

// TestWaitOnAStoreThatCannotWake: waiters answer at their deadline, with
// what one final attempt finds.
func TestWaitOnAStoreThatCannotWake(t *testing.T) {
	s, api := newWaitServer(t, blind{openEngine(t, nil)}, 4, nil)
	start := time.Now()
	waiter := async(s.client, "POST", "/v2/queues/q/claims?wait=1", "")
	eventually(t, "a waiter", waiting(api, 1))
	s.expect("post", s.do("POST", "/v2/queues/q/messages", `{"messages":[{"body":"late"}]}`), 201)
	a := receive(t, waiter, 5*time.Second)
	if d := a.at.Sub(start); a.status != 201 || !strings.Contains(a.body, `"late"`) || d < time.Second {
		t.Fatalf("%d %s after %v, want the message at the 1 s deadline", a.status, a.body, d)
	}
}

// TestShutdownAnswersWaiters: API.Close, and the server's own graceful
// shutdown, answer every waiter at once with nothing found.
func TestShutdownAnswersWaiters(t *testing.T) {
	s, api := newWaitServer(t, openEngine(t, nil), 16, nil)
	var answers []<-chan answer
	for range 5 {
		answers = append(answers, async(s.client, "POST", "/v2/queues/q/claims?wait=20", ""),
			async(s.client, "GET", "/v2/queues/q/messages?wait=20", ""))
	}
	eventually(t, "ten waiters", waiting(api, 10))
	api.Close()
	for i, ch := range answers {
		if a := receive(t, ch, 2*time.Second); a.status != []int{204, 200}[i%2] {
			t.Fatalf("waiter %d: %d %s", i, a.status, a.body)
		}
	}
	start := time.Now()
	s.expect("after Close", s.do("POST", "/v2/queues/q/claims?wait=20", ""), 204)
	if d := time.Since(start); d > time.Second {
		t.Fatalf("a wait after Close took %v", d)
	}

	// Without Close: fasthttp's shutdown signal (RequestCtx.Done).
	api2, err := New(openEngine(t, nil), DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	ln := fasthttputil.NewInmemoryListener()
	srv := &fasthttp.Server{Handler: api2.Handler()}
	go srv.Serve(ln)
	c := &fasthttp.Client{Dial: func(string) (net.Conn, error) { return ln.Dial() }, ReadTimeout: 30 * time.Second}
	waiter := async(c, "POST", "/v2/queues/q/claims?wait=20", "")
	eventually(t, "a waiter", waiting(api2, 1))
	start = time.Now()
	if err := srv.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("shutdown took %v with a waiter", d)
	}
	if a := receive(t, waiter, 2*time.Second); a.status != 204 {
		t.Fatalf("waiter at shutdown: %d %s", a.status, a.body)
	}
}
