package httpapi

import (
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/zaqar-go/zaqar/internal/testenv"
	"github.com/zaqar-go/zaqar/keystone"
	"github.com/zaqar-go/zaqar/policy"
)

// routeRules is every /v2 route with the policy rule Zaqar enforces on it
// ("" = authentication only, as Zaqar's home document). A route missing
// here fails TestEveryRouteIsAuthenticated, so no route goes unchecked.
var routeRules = map[string]string{
	"GET /v2/":                                 "",
	"GET /v2/ping":                             "ping:get",
	"HEAD /v2/ping":                            "ping:get",
	"GET /v2/health":                           "health:get",
	"GET /v2/queues":                           "queues:get_all",
	"PUT /v2/queues/q":                         "queues:create",
	"GET /v2/queues/q":                         "queues:get",
	"PATCH /v2/queues/q":                       "queues:update",
	"DELETE /v2/queues/q":                      "queues:delete",
	"GET /v2/queues/q/stats":                   "queues:stats",
	"POST /v2/queues/q/share":                  "queues:share",
	"POST /v2/queues/q/purge":                  "queues:purge",
	"POST /v2/queues/q/messages":               "messages:create",
	"GET /v2/queues/q/messages":                "messages:get_all",
	"DELETE /v2/queues/q/messages":             "messages:delete_all",
	"GET /v2/queues/q/messages/m":              "messages:get",
	"DELETE /v2/queues/q/messages/m":           "messages:delete",
	"POST /v2/queues/q/claims":                 "claims:create",
	"GET /v2/queues/q/claims/c":                "claims:get",
	"PATCH /v2/queues/q/claims/c":              "claims:update",
	"DELETE /v2/queues/q/claims/c":             "claims:delete",
	"POST /v2/queues/q/subscriptions":          "subscription:create",
	"GET /v2/queues/q/subscriptions":           "subscription:get_all",
	"GET /v2/queues/q/subscriptions/s":         "subscription:get",
	"PATCH /v2/queues/q/subscriptions/s":       "subscription:update",
	"DELETE /v2/queues/q/subscriptions/s":      "subscription:delete",
	"PUT /v2/queues/q/subscriptions/s/confirm": "subscription:confirm",
	"GET /v2/topics":                           "topics:get_all",
	"PUT /v2/topics/t":                         "topics:create",
	"GET /v2/topics/t":                         "topics:get",
	"PATCH /v2/topics/t":                       "topics:update",
	"DELETE /v2/topics/t":                      "topics:delete",
	"GET /v2/topics/t/stats":                   "topics:stats",
	"POST /v2/topics/t/purge":                  "topics:purge",
	"POST /v2/topics/t/messages":               "messages:create",
	"GET /v2/topics/t/messages":                "messages:get_all",
	"DELETE /v2/topics/t/messages":             "messages:delete_all",
	"GET /v2/topics/t/messages/m":              "messages:get",
	"DELETE /v2/topics/t/messages/m":           "messages:delete",
	"POST /v2/topics/t/subscriptions":          "subscription:create",
	"GET /v2/topics/t/subscriptions":           "subscription:get_all",
	"GET /v2/topics/t/subscriptions/s":         "subscription:get",
	"PATCH /v2/topics/t/subscriptions/s":       "subscription:update",
	"DELETE /v2/topics/t/subscriptions/s":      "subscription:delete",
	"PUT /v2/topics/t/subscriptions/s/confirm": "subscription:confirm",
	"GET /v2/pools":                            "pools:get_all",
	"PUT /v2/pools/p":                          "pools:create",
	"GET /v2/pools/p":                          "pools:get",
	"PATCH /v2/pools/p":                        "pools:update",
	"DELETE /v2/pools/p":                       "pools:delete",
	"GET /v2/flavors":                          "flavors:get_all",
	"PUT /v2/flavors/f":                        "flavors:create",
	"GET /v2/flavors/f":                        "flavors:get",
	"PATCH /v2/flavors/f":                      "flavors:update",
	"DELETE /v2/flavors/f":                     "flavors:delete",
}

// Paths outside the Messaging API, open by design: the version document
// (Zaqar's), and the operator's metrics (no tenant data).
var openPaths = map[string]bool{"/": true, "/metrics": true}

// concretePath fills a route's parameters with the names routeRules uses.
func concretePath(route string) string {
	r := strings.NewReplacer("{queue}", "q", "{topic}", "t", "{message}", "m", "{claim}", "c", "{subscription}", "s", "{pool}", "p", "{flavor}", "f")
	return r.Replace(route)
}

// listRoutes returns "METHOD path" of every route the API serves (the
// router answers OPTIONS itself; CORS preflights are tested apart).
func listRoutes(t *testing.T, api *API) []string {
	var out []string
	for method, paths := range api.Router().List() {
		for _, p := range paths {
			if !openPaths[p] && !strings.HasPrefix(p, "/debug/") {
				out = append(out, method+" "+concretePath(p))
			}
		}
	}
	sort.Strings(out)
	if len(out) < len(routeRules) {
		t.Fatalf("the API serves %d routes, the table has %d: the server was not built with every route", len(out), len(routeRules))
	}
	return out
}

// TestEveryRouteIsAuthenticated: with auth_strategy = keystone, no route
// of the API answers anything but 401 without a token, whatever identity
// headers come with it, and a token is never taken on trust when Keystone
// cannot be asked (503).
func TestEveryRouteIsAuthenticated(t *testing.T) {
	closed := testenv.FreePort(t) // nothing listens: Keystone is unreachable
	v, err := keystone.New(keystone.Options{AuthURL: "http://127.0.0.1:" + strconv.Itoa(closed) + "/v3",
		Username: "zaqar", Password: "x", ProjectName: "service", HTTPConnectTimeout: time.Second,
		WWWAuthenticateURI: "http://keystone.example:5000", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ps := newPooledServer(t, func(o *Options) { o.Auth = v; o.Profiling = true })
	api, err := New(ps.pooled, ps.opts)
	if err != nil {
		t.Fatal(err)
	}
	routes := listRoutes(t, api)
	for _, route := range routes {
		if _, ok := routeRules[route]; !ok {
			t.Errorf("route %s has no entry in routeRules: add the rule Zaqar enforces on it", route)
		}
		method, path, _ := strings.Cut(route, " ")
		for _, hdrs := range [][]string{
			nil,
			{"X-Project-ID: victim", "X-Roles: admin", "X-User-ID: someone", "X-Identity-Status: Confirmed"},
			// Zaqar lets any request with EXTRA-SPEC skip Keystone; not here.
			{"EXTRA-SPEC: messagecode:1", "X-Project-ID: victim"},
			{"X-Auth-Token: "},
		} {
			r := ps.do(method, path, `{}`, hdrs...)
			if method == "HEAD" { // no body to check
				r.body = `{"title":"Unauthorized"}`
			}
			ps.expect(route+" without a token", r, fasthttp.StatusUnauthorized)
			if r.headers["Www-Authenticate"] != `Keystone uri="http://keystone.example:5000"` {
				t.Fatalf("%s: WWW-Authenticate %q", route, r.headers["Www-Authenticate"])
			}
		}
		r := ps.do(method, path, `{}`, "X-Auth-Token: gAAAAABtoken")
		if method == "HEAD" {
			r.body = `{"title":"Please try again in a few seconds."}`
		}
		ps.expect(route+" with a token Keystone cannot check", r, fasthttp.StatusServiceUnavailable, "Please try again in a few seconds.")
	}
	ps.expect("profiler without a token", ps.do("GET", "/debug/pprof/cmdline", "", "X-Roles: admin"), fasthttp.StatusUnauthorized)
	// Beyond the routes: unknown paths, unknown methods and OPTIONS
	// (without Origin, so not a CORS preflight) reveal nothing either.
	for _, c := range [][2]string{{"GET", "/v2/nothing"}, {"POST", "/v2/ping"}, {"OPTIONS", "/v2/queues/q"}, {"GET", "/v1.1/queues"}} {
		r := ps.do(c[0], c[1], "")
		ps.expect(c[0]+" "+c[1]+" without a token", r, fasthttp.StatusUnauthorized)
		if r.headers["Allow"] != "" {
			t.Fatalf("%s %s: Allow %q revealed without a token", c[0], c[1], r.headers["Allow"])
		}
	}
	ps.expect("the version document stays open", ps.do("GET", "/", "", "Client-ID: -", "X-Project-ID: -"), fasthttp.StatusMultipleChoices)
}

// TestEveryRouteChecksItsRule: for each of Zaqar's rules, a policy that
// denies that rule alone makes exactly its routes answer 403, so every
// route is checked, and with the right rule.
func TestEveryRouteChecksItsRule(t *testing.T) {
	ps := newPooledServer(t)
	routes := listRoutes(t, mustAPI(t, ps, nil))
	rules := map[string]bool{}
	for _, rule := range routeRules {
		if rule != "" {
			rules[rule] = true
		}
	}
	for rule := range rules {
		e, err := policy.LoadBytes("deny.yaml", []byte(fmt.Sprintf("%q: \"!\"\n", rule)))
		if err != nil {
			t.Fatal(err)
		}
		client := testenv.ServeInMemory(t, mustAPI(t, ps, e).Handler())
		s := &server{t: t, client: client}
		for _, route := range routes {
			method, path, _ := strings.Cut(route, " ")
			r := s.do(method, path, "", admin)
			denied := r.status == fasthttp.StatusForbidden && (method == "HEAD" || strings.Contains(r.body, "Not authorized"))
			if want := routeRules[route] == rule; denied != want {
				t.Errorf("policy denying %s: %s answered %d %s", rule, route, r.status, r.body)
			}
		}
	}
}

func mustAPI(t *testing.T, ps *pooledServer, e *policy.Enforcer) *API {
	t.Helper()
	opts := ps.opts
	opts.Policy = e
	api, err := New(ps.pooled, opts)
	if err != nil {
		t.Fatal(err)
	}
	return api
}
