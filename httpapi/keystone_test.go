package httpapi

import (
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/zaqar-go/zaqar/internal/testenv"
	"github.com/zaqar-go/zaqar/keystone"
)

const (
	ksServicePassword = "zaqar-service-secret"
	ksUserPassword    = "user-secret"
)

// keystoneEnv is a real Keystone with a service user, members of two
// projects and the bootstrap admin, and a validator whose clock the test
// moves.
type keystoneEnv struct {
	ks    *testenv.Keystone
	clock *testenv.Clock
}

func newKeystoneEnv(t *testing.T) *keystoneEnv {
	ks := testenv.StartKeystone(t)
	ks.User("zaqar", ksServicePassword, "service", "service")
	ks.User("alice", ksUserPassword, "project-a", "member")
	ks.User("bob", ksUserPassword, "project-b", "member")
	return &keystoneEnv{ks: ks, clock: testenv.NewClock(time.Now())}
}

func (e *keystoneEnv) validator(t *testing.T) *keystone.Validator {
	v, err := keystone.New(keystone.Options{AuthURL: e.ks.URL(), Username: "zaqar", Password: ksServicePassword,
		ProjectName: "service", TokenCacheTime: time.Minute, HTTPConnectTimeout: slowKeystone, Now: e.clock.Now,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// slowKeystone bounds each request to the test's Keystone. It is far above
// the default because a loaded machine can starve Keystone's single uwsgi
// worker for seconds, and an outage here is a refused connection anyway.
const slowKeystone = 20 * time.Second

func token(tok string) string { return "X-Auth-Token: " + tok }

// claimOf returns the claim id and the claimed message ids of a claim answer.
func claimOf(t *testing.T, r reply) (string, []string) {
	t.Helper()
	loc := r.headers["Location"]
	var doc struct{ Messages []struct{ ID string } }
	if err := json.Unmarshal([]byte(r.body), &doc); err != nil || loc == "" || len(doc.Messages) == 0 {
		t.Fatalf("claim answer %q %s", loc, r.body)
	}
	ids := make([]string, len(doc.Messages))
	for i, m := range doc.Messages {
		ids[i] = m.ID
	}
	return loc[strings.LastIndex(loc, "/")+1:], ids
}

// TestKeystoneTenantIsolation proves through the HTTP API that a token of
// project B can never reach project A's queues, even knowing A's queue
// names, message ids and claim ids, and that identity headers change
// nothing once Keystone is on.
func TestKeystoneTenantIsolation(t *testing.T) {
	e := newKeystoneEnv(t)
	s := newServer(t, func(o *Options) { o.Auth = e.validator(t); o.SignedURLKey = "share-secret" })
	alice := token(e.ks.Token("alice", ksUserPassword, "project-a"))
	bobToken := e.ks.Token("bob", ksUserPassword, "project-b")
	bob := token(bobToken)
	projectA := e.ks.Project("project-a")
	// Bob also claims to be Alice's project, an admin, and Alice.
	spoof := []string{bob, "X-Project-ID: " + projectA, "X-Roles: admin", "X-User-ID: alice", "X-Tenant-ID: " + projectA}

	s.expect("alice creates", s.do("PUT", "/v2/queues/orders", `{"owner":"alice"}`, alice), 201)
	ids := resources(t, s.expect("alice posts", s.do("POST", "/v2/queues/orders/messages", postBody(4, 300), alice), 201))
	claimID, claimed := claimOf(t, s.expect("alice claims", s.do("POST", "/v2/queues/orders/claims?limit=2", `{"ttl":300,"grace":60}`, alice), 201))
	sub := s.expect("alice subscribes", s.do("POST", "/v2/queues/orders/subscriptions", `{"subscriber":"http://127.0.0.1:9/hook","ttl":3600}`, alice), 201)
	var subDoc struct {
		SubscriptionID string `json:"subscription_id"`
	}
	json.Unmarshal([]byte(sub.body), &subDoc)

	// aliceIntact checks, as Alice, that nothing of hers changed.
	aliceIntact := func(after string) {
		t.Helper()
		s.expect(after+": alice's queue", s.do("GET", "/v2/queues/orders", "", alice), 200, `"owner":"alice"`)
		s.expect(after+": alice's stats", s.do("GET", "/v2/queues/orders/stats", "", alice), 200, `"total":4`, `"claimed":2`)
		s.expect(after+": alice's claim", s.do("GET", "/v2/queues/orders/claims/"+claimID, "", alice), 200, claimed[0])
		s.expect(after+": alice's subscription", s.do("GET", "/v2/queues/orders/subscriptions/"+subDoc.SubscriptionID, "", alice), 200, "127.0.0.1:9")
	}
	aliceIntact("set-up")

	hdr := func(extra ...string) []string { return append(append([]string{}, spoof...), extra...) }
	for _, c := range []struct {
		name, method, path, body string
		status                   int
		mustNotContain           []string
	}{
		{"list queues", "GET", "/v2/queues", "", 200, []string{"orders"}},
		{"get queue", "GET", "/v2/queues/orders", "", 404, []string{"alice"}},
		{"patch queue", "PATCH", "/v2/queues/orders", `[{"op":"add","path":"/metadata/owner","value":"bob"}]`, 404, nil},
		{"stats", "GET", "/v2/queues/orders/stats", "", 200, []string{`"total":4`, ids[0]}},
		{"list messages", "GET", "/v2/queues/orders/messages?echo=true&include_claimed=true", "", 200, ids},
		{"get message", "GET", "/v2/queues/orders/messages/" + ids[0], "", 404, []string{`"body"`}},
		{"get messages by ids", "GET", "/v2/queues/orders/messages?ids=" + strings.Join(ids, ","), "", 404, []string{`"body"`}},
		{"claim", "POST", "/v2/queues/orders/claims", `{"ttl":300,"grace":60}`, 204, ids},
		{"get claim", "GET", "/v2/queues/orders/claims/" + claimID, "", 404, claimed},
		{"renew claim", "PATCH", "/v2/queues/orders/claims/" + claimID, `{"ttl":600}`, 404, nil},
		{"release claim", "DELETE", "/v2/queues/orders/claims/" + claimID, "", 204, nil},
		{"delete claimed message", "DELETE", "/v2/queues/orders/messages/" + claimed[0] + "?claim_id=" + claimID, "", 204, nil},
		{"delete message", "DELETE", "/v2/queues/orders/messages/" + ids[3], "", 204, nil},
		{"bulk delete", "DELETE", "/v2/queues/orders/messages?ids=" + strings.Join(ids, ","), "", 204, nil},
		{"pop", "DELETE", "/v2/queues/orders/messages?pop=5", "", 200, ids},
		{"purge", "POST", "/v2/queues/orders/purge", `{"resource_types":["messages","subscriptions"]}`, 204, nil},
		{"list subscriptions", "GET", "/v2/queues/orders/subscriptions", "", 200, []string{subDoc.SubscriptionID}},
		{"get subscription", "GET", "/v2/queues/orders/subscriptions/" + subDoc.SubscriptionID, "", 404, []string{"127.0.0.1:9"}},
		{"update subscription", "PATCH", "/v2/queues/orders/subscriptions/" + subDoc.SubscriptionID, `{"ttl":7200}`, 404, nil},
		{"delete subscription", "DELETE", "/v2/queues/orders/subscriptions/" + subDoc.SubscriptionID, "", 204, nil},
		{"delete queue", "DELETE", "/v2/queues/orders", "", 204, nil},
	} {
		h := hdr()
		if c.method == "PATCH" && c.path == "/v2/queues/orders" {
			h = append(h, "Content-Type: application/openstack-messaging-v2.0-json-patch")
		}
		r := s.expect("bob: "+c.name, s.do(c.method, c.path, c.body, h...), c.status)
		for _, bad := range c.mustNotContain {
			if strings.Contains(r.body, bad) {
				t.Fatalf("bob: %s: answer reveals %q: %s", c.name, bad, r.body)
			}
		}
	}
	aliceIntact("after bob's attempts")

	// What Bob creates under the same names is his own.
	s.expect("bob subscribes to his orders", s.do("POST", "/v2/queues/orders/subscriptions", `{"subscriber":"http://127.0.0.1:9/bob"}`, hdr()...), 201)
	s.expect("bob posts to his orders", s.do("POST", "/v2/queues/orders/messages", postBody(1, 300), hdr()...), 201)
	s.expect("alice's list has no bob subscription", s.do("GET", "/v2/queues/orders/subscriptions", "", alice), 200)
	if r := s.do("GET", "/v2/queues/orders/subscriptions", "", alice); strings.Contains(r.body, "/bob") {
		t.Fatalf("bob's subscription in alice's queue: %s", r.body)
	}
	aliceIntact("after bob used the same names")

	// A share Bob signs is for his project: it opens nothing of Alice's,
	// and changing the project it names breaks the signature.
	r := s.expect("bob shares", s.do("POST", "/v2/queues/orders/share", `{"methods":["GET"]}`, hdr()...), 200)
	var signed struct {
		Paths, Methods              []string
		Project, Expires, Signature string
	}
	json.Unmarshal([]byte(r.body), &signed)
	if signed.Project != e.ks.Project("project-b") {
		t.Fatalf("bob's share names project %q", signed.Project)
	}
	urlHeaders := func(project string) []string {
		return []string{"URL-Signature: " + signed.Signature, "URL-Expires: " + signed.Expires, "URL-Methods: GET",
			"URL-Paths: " + strings.Join(signed.Paths, ","), "X-Project-ID: " + project, "X-Auth-Token: -"}
	}
	s.expect("bob's share reads his queue", s.do("GET", "/v2/queues/orders/messages?echo=true", "", urlHeaders(signed.Project)...), 200)
	s.expect("bob's share pointed at alice's project", s.do("GET", "/v2/queues/orders/messages?echo=true", "", urlHeaders(projectA)...), 404)

	// No token, only identity headers: refused.
	s.expect("headers without a token", s.do("GET", "/v2/queues/orders/messages", "", "X-Auth-Token: -",
		"X-Project-ID: "+projectA, "X-Roles: admin"), 401)
	s.expect("health needs admin, X-Roles is not read", s.do("GET", "/v2/health", "", hdr()...), 403, "Not authorized")
	admin := token(e.ks.Token("admin", testenv.KeystoneAdminPassword, "admin"))
	s.expect("health as admin", s.do("GET", "/v2/health", "", admin), 200, "storage_reachable")

	// A revoked token works until the cache period passes, then never.
	e.ks.Revoke(bobToken)
	s.expect("revoked, within the cache period", s.do("GET", "/v2/queues", "", bob), 200)
	e.clock.Add(61 * time.Second)
	s.expect("revoked, after the cache period", s.do("GET", "/v2/queues", "", bob), 401)
}

// TestKeystoneAdminRoutes: pools and flavors follow Zaqar's rules with
// roles from the token only.
func TestKeystoneAdminRoutes(t *testing.T) {
	e := newKeystoneEnv(t)
	ps := newPooledServer(t, func(o *Options) { o.Auth = e.validator(t); o.Profiling = true })
	member := []string{token(e.ks.Token("alice", ksUserPassword, "project-a")), "X-Roles: admin"}
	admin := token(e.ks.Token("admin", testenv.KeystoneAdminPassword, "admin"))
	pool := `{"weight":10,"uri":"` + ps.uri("p1") + `"}`
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/v2/pools", ""}, {"PUT", "/v2/pools/p1", pool}, {"GET", "/v2/pools/p1", ""},
		{"PATCH", "/v2/pools/p1", `{"weight":5}`}, {"DELETE", "/v2/pools/p1", ""},
		{"PUT", "/v2/flavors/f1", `{"pool_list":["p1"]}`}, {"PATCH", "/v2/flavors/f1", `{"pool_list":["p1"]}`},
		{"DELETE", "/v2/flavors/f1", ""}, {"GET", "/v2/health", ""},
	} {
		ps.expect("member "+c.method+" "+c.path, ps.do(c.method, c.path, c.body, member...), 403, "Not authorized")
	}
	ps.expect("member profiles", ps.do("GET", "/debug/pprof/cmdline", "", member...), 403)
	if r := ps.do("GET", "/debug/pprof/cmdline", "", admin); r.status != 200 {
		t.Fatalf("admin profiles: %d %s", r.status, r.body)
	}
	ps.expect("admin creates a pool", ps.do("PUT", "/v2/pools/p1", pool, admin), 201)
	ps.expect("admin creates a flavor", ps.do("PUT", "/v2/flavors/f1", `{"pool_list":["p1"]}`, admin), 201)
	ps.expect("admin lists pools", ps.do("GET", "/v2/pools", "", admin), 200, "p1")
	// Reading flavors is open to members, as in Zaqar; flavors are per
	// project, so the member of another project sees none of admin's.
	ps.expect("member lists flavors", ps.do("GET", "/v2/flavors", "", member...), 200, `"flavors":[]`)
}

// TestKeystoneOutage: Keystone stopped means 503 for tokens not yet
// validated (never "allowed"), cached ones keep working; once Keystone is
// back the server serves again by itself.
func TestKeystoneOutage(t *testing.T) {
	e := newKeystoneEnv(t)
	s := newServer(t, func(o *Options) { o.Auth = e.validator(t) })
	seen := token(e.ks.Token("alice", ksUserPassword, "project-a"))
	fresh := token(e.ks.Token("bob", ksUserPassword, "project-b"))
	s.expect("before the outage", s.do("GET", "/v2/queues", "", seen), 200)
	e.ks.Stop()
	s.expect("keystone stopped", s.do("GET", "/v2/queues", "", fresh), 503, "Please try again in a few seconds.")
	s.expect("keystone stopped, garbage token", s.do("GET", "/v2/queues", "", "X-Auth-Token: nonsense"), 503)
	s.expect("keystone stopped, cached token", s.do("GET", "/v2/queues", "", seen), 200)
	e.ks.Start()
	s.expect("keystone restarted", s.do("PUT", "/v2/queues/back", "", fresh), 201)
}
