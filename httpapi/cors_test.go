package httpapi

import (
	"maps"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/valyala/fasthttp"
)

const horizon = "https://horizon.example.com"

// corsNext is the application behind CORS in these tests.
type corsNext int

const (
	next204  corsNext = iota // 204, no body
	next401                  // Zaqar's JSON error, as authentication would answer
	nextVary                 // 200 with its own Vary
	nextACAO                 // 200 having done CORS itself
)

func (n corsNext) handler(calls *int) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		*calls++
		switch n {
		case next204:
			ctx.SetStatusCode(fasthttp.StatusNoContent)
		case next401:
			writeError(ctx, fasthttp.StatusUnauthorized, "Unauthorized", "Authentication required.")
		case nextVary:
			ctx.Response.Header.Set("Vary", "Accept-Encoding")
			ctx.SetBodyString("[]")
		case nextACAO:
			ctx.Response.Header.Set("Access-Control-Allow-Origin", "https://other.example")
		}
	}
}

// corsRequest runs h on a request with the given method and "Name: value"
// headers.
func corsRequest(h fasthttp.RequestHandler, method string, headers ...string) *fasthttp.RequestCtx {
	var req fasthttp.Request
	req.Header.SetMethod(method)
	req.SetRequestURI("/v2/queues/q/messages")
	for _, kv := range headers {
		k, v, _ := strings.Cut(kv, ":")
		req.Header.Add(k, strings.TrimSpace(v))
	}
	ctx := new(fasthttp.RequestCtx)
	ctx.Init(&req, nil, nil)
	h(ctx)
	return ctx
}

// corsHeaders are the response's Vary and Access-Control-* headers.
func corsHeaders(ctx *fasthttp.RequestCtx) map[string]string {
	got := map[string]string{}
	for k, v := range ctx.Response.Header.All() {
		if s := string(k); s == "Vary" || strings.HasPrefix(s, "Access-Control-") {
			if _, dup := got[s]; dup {
				got[s] += " | " // duplicates would show as a bad value
			}
			got[s] += string(v)
		}
	}
	return got
}

func TestCORS(t *testing.T) {
	deflt := DefaultCORSOptions()
	deflt.AllowedOrigin = []string{horizon}
	with := func(f func(*CORSOptions)) CORSOptions {
		o := DefaultCORSOptions()
		o.AllowedOrigin = []string{horizon}
		f(&o)
		return o
	}
	wildcard := with(func(o *CORSOptions) { o.AllowedOrigin = []string{"*"} })
	wildcardNoCreds := with(func(o *CORSOptions) { o.AllowedOrigin, o.AllowCredentials = []string{"*"}, false })

	preflightOK := map[string]string{
		"Vary":                             "Origin",
		"Access-Control-Allow-Origin":      horizon,
		"Access-Control-Allow-Credentials": "true",
		"Access-Control-Max-Age":           "3600",
		"Access-Control-Allow-Methods":     "PUT",
	}
	plus := func(m map[string]string, kv ...string) map[string]string {
		m = maps.Clone(m)
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == "" {
				delete(m, kv[i])
			} else {
				m[kv[i]] = kv[i+1]
			}
		}
		return m
	}
	actualOK := map[string]string{
		"Vary":                             "Origin",
		"Access-Control-Allow-Origin":      horizon,
		"Access-Control-Allow-Credentials": "true",
		"Access-Control-Expose-Headers":    "X-Auth-Token,X-Subject-Token,X-Service-Token,X-OpenStack-Request-ID",
	}
	none := map[string]string{}

	cases := []struct {
		name     string
		opts     CORSOptions
		next     corsNext
		method   string
		headers  []string
		status   int
		want     map[string]string
		wantNext bool
	}{
		// Preflights: answered here with an empty 200, CORS headers or not.
		{"preflight allowed", deflt, next401, "OPTIONS",
			[]string{"Origin: " + horizon, "Access-Control-Request-Method: PUT"},
			200, preflightOK, false},
		{"preflight allowed headers echoed as sent, case-insensitive match", deflt, next401, "OPTIONS",
			[]string{"Origin: " + horizon, "Access-Control-Request-Method: PUT",
				"Access-Control-Request-Headers: x-auth-token, CLIENT-ID ,content-type,, Accept"},
			200, plus(preflightOK, "Access-Control-Allow-Headers", "x-auth-token,CLIENT-ID,content-type,Accept"), false},
		{"preflight repeated request-headers lines are joined", deflt, next401, "OPTIONS",
			[]string{"Origin: " + horizon, "Access-Control-Request-Method: PUT",
				"Access-Control-Request-Headers: X-Auth-Token", "Access-Control-Request-Headers: Client-ID"},
			200, plus(preflightOK, "Access-Control-Allow-Headers", "X-Auth-Token,Client-ID"), false},
		{"preflight blank request-headers", deflt, next401, "OPTIONS",
			[]string{"Origin: " + horizon, "Access-Control-Request-Method: PUT", "Access-Control-Request-Headers: , "},
			200, preflightOK, false},
		{"preflight disallowed header", deflt, next401, "OPTIONS",
			[]string{"Origin: " + horizon, "Access-Control-Request-Method: PUT",
				"Access-Control-Request-Headers: X-Auth-Token, X-Evil"},
			200, none, false},
		// Zaqar's allow_headers lacks X-Project-ID, which its API needs.
		{"preflight X-Project-ID not in Zaqar defaults", deflt, next401, "OPTIONS",
			[]string{"Origin: " + horizon, "Access-Control-Request-Method: GET",
				"Access-Control-Request-Headers: X-Project-ID"},
			200, none, false},
		{"preflight disallowed method", deflt, next401, "OPTIONS",
			[]string{"Origin: " + horizon, "Access-Control-Request-Method: OPTIONS"},
			200, none, false},
		{"preflight method compared case-sensitively", deflt, next401, "OPTIONS",
			[]string{"Origin: " + horizon, "Access-Control-Request-Method: put"},
			200, none, false},
		{"preflight repeated methods are one unknown method", deflt, next401, "OPTIONS",
			[]string{"Origin: " + horizon, "Access-Control-Request-Method: PUT",
				"Access-Control-Request-Method: GET"},
			200, none, false},
		{"preflight without request method", deflt, next401, "OPTIONS",
			[]string{"Origin: " + horizon},
			200, none, false},
		{"preflight from other origin", deflt, next401, "OPTIONS",
			[]string{"Origin: https://evil.example", "Access-Control-Request-Method: PUT"},
			200, none, false},
		{"preflight origin compared exactly", deflt, next401, "OPTIONS",
			[]string{"Origin: " + horizon + "/", "Access-Control-Request-Method: PUT"},
			200, none, false},
		{"preflight wildcard answers * with credentials", wildcard, next401, "OPTIONS",
			[]string{"Origin: https://any.example", "Access-Control-Request-Method: DELETE"},
			200, plus(preflightOK, "Access-Control-Allow-Origin", "*", "Access-Control-Allow-Methods", "DELETE"), false},
		{"preflight wildcard without credentials", wildcardNoCreds, next401, "OPTIONS",
			[]string{"Origin: https://any.example", "Access-Control-Request-Method: GET"},
			200, plus(preflightOK, "Access-Control-Allow-Origin", "*", "Access-Control-Allow-Methods", "GET",
				"Access-Control-Allow-Credentials", ""), false},
		{"preflight listed origin beats wildcard",
			with(func(o *CORSOptions) { o.AllowedOrigin = []string{"*", horizon} }), next401, "OPTIONS",
			[]string{"Origin: " + horizon, "Access-Control-Request-Method: PUT"},
			200, preflightOK, false},
		{"preflight max_age 0 omitted", with(func(o *CORSOptions) { o.MaxAge = 0 }), next401, "OPTIONS",
			[]string{"Origin: " + horizon, "Access-Control-Request-Method: PUT"},
			200, plus(preflightOK, "Access-Control-Max-Age", ""), false},
		{"preflight without credentials", with(func(o *CORSOptions) { o.AllowCredentials = false }), next401, "OPTIONS",
			[]string{"Origin: " + horizon, "Access-Control-Request-Method: PUT"},
			200, plus(preflightOK, "Access-Control-Allow-Credentials", ""), false},

		// Actual requests: next answers, the headers are added afterwards.
		{"actual request", deflt, next204, "GET",
			[]string{"Origin: " + horizon},
			204, actualOK, true},
		{"actual request error response", deflt, next401, "POST",
			[]string{"Origin: " + horizon},
			401, actualOK, true},
		{"actual request appends to Vary", deflt, nextVary, "GET",
			[]string{"Origin: " + horizon},
			200, plus(actualOK, "Vary", "Accept-Encoding,Origin"), true},
		{"actual request already handled by next", deflt, nextACAO, "GET",
			[]string{"Origin: " + horizon},
			200, map[string]string{"Access-Control-Allow-Origin": "https://other.example"}, true},
		{"actual request wildcard", wildcard, next204, "DELETE",
			[]string{"Origin: https://any.example"},
			204, plus(actualOK, "Access-Control-Allow-Origin", "*"), true},
		{"actual request wildcard without credentials", wildcardNoCreds, next204, "GET",
			[]string{"Origin: https://any.example"},
			204, plus(actualOK, "Access-Control-Allow-Origin", "*", "Access-Control-Allow-Credentials", ""), true},
		{"actual request no expose headers", with(func(o *CORSOptions) { o.ExposeHeaders = nil }), next204, "GET",
			[]string{"Origin: " + horizon},
			204, plus(actualOK, "Access-Control-Expose-Headers", ""), true},
		{"actual request method not in allow_methods is not checked", deflt, next204, "TRACE",
			[]string{"Origin: " + horizon},
			204, actualOK, true},
		{"actual request from other origin", deflt, next401, "GET",
			[]string{"Origin: https://evil.example"},
			401, none, true},

		// No Origin: as if CORS were not there, OPTIONS included.
		{"no origin", deflt, next204, "GET", nil, 204, none, true},
		{"no origin error", deflt, next401, "GET", nil, 401, none, true},
		{"no origin keeps next's Vary", deflt, nextVary, "GET", nil, 200,
			map[string]string{"Vary": "Accept-Encoding"}, true},
		{"options without origin", deflt, next401, "OPTIONS",
			[]string{"Access-Control-Request-Method: PUT"}, 401, none, true},
		{"empty origin", deflt, next204, "OPTIONS",
			[]string{"Origin: ", "Access-Control-Request-Method: PUT"}, 204, none, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			ctx := corsRequest(CORS(tc.opts, tc.next.handler(&calls)), tc.method, tc.headers...)
			if got := ctx.Response.StatusCode(); got != tc.status {
				t.Errorf("status %d, want %d", got, tc.status)
			}
			if got := corsHeaders(ctx); !maps.Equal(got, tc.want) {
				t.Errorf("headers\n got %v\nwant %v", got, tc.want)
			}
			if (calls > 0) != tc.wantNext || calls > 1 {
				t.Errorf("next called %d times, want called: %v", calls, tc.wantNext)
			}
			if !tc.wantNext {
				wire := ctx.Response.String()
				// oslo's preflight answer: empty, no Content-Type.
				if len(ctx.Response.Body()) != 0 || strings.Contains(wire, "Content-Type") ||
					!strings.Contains(wire, "Content-Length: 0\r\n") {
					t.Errorf("preflight response not bare:\n%s", wire)
				}
			}
			if tc.next == next401 && tc.wantNext && !strings.HasPrefix(string(ctx.Response.Body()), `{"title":"Unauthorized"`) {
				t.Errorf("next's body lost: %q", ctx.Response.Body())
			}
		})
	}
}

// The exact wire form of a preflight answer.
func TestCORSPreflightWire(t *testing.T) {
	o := DefaultCORSOptions()
	o.AllowedOrigin = []string{horizon}
	calls := 0
	ctx := corsRequest(CORS(o, next401.handler(&calls)), "OPTIONS", "Origin: "+horizon,
		"Access-Control-Request-Method: POST", "Access-Control-Request-Headers: X-Auth-Token,Client-ID")
	for _, line := range []string{
		"HTTP/1.1 200 OK\r\n",
		"Vary: Origin\r\n",
		"Access-Control-Allow-Origin: https://horizon.example.com\r\n",
		"Access-Control-Allow-Credentials: true\r\n",
		"Access-Control-Max-Age: 3600\r\n",
		"Access-Control-Allow-Methods: POST\r\n",
		"Access-Control-Allow-Headers: X-Auth-Token,Client-ID\r\n",
	} {
		if s := ctx.Response.String(); !strings.Contains(s, line) {
			t.Errorf("missing %q in\n%s", line, s)
		}
	}
}

func TestCORSDefaults(t *testing.T) {
	o := DefaultCORSOptions()
	if len(o.AllowedOrigin) != 0 || !o.AllowCredentials || o.MaxAge != 3600 {
		t.Errorf("defaults %+v", o)
	}
	for _, c := range []struct{ got, want []string }{
		{o.AllowHeaders, []string{"X-Auth-Token", "X-Identity-Status", "X-Roles", "X-Service-Catalog",
			"X-User-Id", "X-Tenant-Id", "X-OpenStack-Request-ID", "X-Trace-Info", "X-Trace-HMAC", "Client-id"}},
		{o.ExposeHeaders, []string{"X-Auth-Token", "X-Subject-Token", "X-Service-Token", "X-OpenStack-Request-ID"}},
		{o.AllowMethods, []string{"GET", "PUT", "POST", "DELETE", "PATCH", "HEAD"}},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

func TestCORSDisabledReturnsNext(t *testing.T) {
	calls := 0
	next := next204.handler(&calls)
	for _, origins := range [][]string{nil, {}, {""}} {
		o := DefaultCORSOptions()
		o.AllowedOrigin = origins
		if h := CORS(o, next); reflect.ValueOf(h).Pointer() != reflect.ValueOf(next).Pointer() {
			t.Errorf("AllowedOrigin %q: CORS did not return next itself", origins)
		}
	}
}

// Requests without Origin, the common case, cost CORS nothing.
func TestCORSNoOriginNoAllocs(t *testing.T) {
	o := DefaultCORSOptions()
	o.AllowedOrigin = []string{horizon, "*"}
	calls := 0
	h := CORS(o, next204.handler(&calls))
	for _, method := range []string{"GET", "OPTIONS"} {
		var req fasthttp.Request
		req.Header.SetMethod(method)
		req.SetRequestURI("/v2/queues")
		req.Header.Set("X-Auth-Token", "t")
		ctx := new(fasthttp.RequestCtx)
		ctx.Init(&req, nil, nil)
		if n := testing.AllocsPerRun(1000, func() { h(ctx) }); n != 0 {
			t.Errorf("%s without Origin: %v allocations per request", method, n)
		}
	}
}

// The compiled options are shared, read-only, by concurrent requests.
func TestCORSConcurrent(t *testing.T) {
	o := DefaultCORSOptions()
	o.AllowedOrigin = []string{horizon}
	h := CORS(o, func(ctx *fasthttp.RequestCtx) { ctx.SetStatusCode(fasthttp.StatusNoContent) })
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				ctx := corsRequest(h, "OPTIONS", "Origin: "+horizon, "Access-Control-Request-Method: GET",
					"Access-Control-Request-Headers: x-auth-token")
				if string(ctx.Response.Header.Peek("Access-Control-Allow-Headers")) != "x-auth-token" {
					t.Error("concurrent preflight lost its headers")
					return
				}
				ctx = corsRequest(h, "GET", "Origin: "+horizon)
				if string(ctx.Response.Header.Peek("Access-Control-Allow-Origin")) != horizon {
					t.Error("concurrent request lost its headers")
					return
				}
			}
		})
	}
	wg.Wait()
}
