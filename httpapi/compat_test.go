package httpapi

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// These tests pin answers to what the original Zaqar 15 gives for the
// same requests (recorded from it with bench/zaqar-diff).

// rawHeaders sends a request with a client that keeps response header
// names as they came on the wire.
func (s *server) rawHeaders(method, path, body string) (int, map[string]string) {
	s.t.Helper()
	c := &fasthttp.Client{Dial: s.client.Dial, DisableHeaderNamesNormalizing: true}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://zaqar" + path)
	req.Header.SetMethod(method)
	req.Header.Set("Client-ID", testClient)
	req.Header.Set("X-Project-ID", "proj")
	req.SetBodyString(body)
	if err := c.Do(req, resp); err != nil {
		s.t.Fatal(err)
	}
	h := map[string]string{}
	resp.Header.VisitAll(func(k, v []byte) { h[string(k)] = string(v) })
	return resp.StatusCode(), h
}

func TestHeaderNamesAsTheOriginal(t *testing.T) {
	s := newServer(t, nil)
	status, h := s.rawHeaders("PUT", "/v2/queues/h", `{}`)
	if status != 201 || h["location"] != "/v2/queues/h" || h["Content-Type"] != "application/json" {
		t.Fatalf("create: %d %v; want 201, location and a JSON content type", status, h)
	}
	status, h = s.rawHeaders("GET", "/v2/queues/nope", "")
	if status != 404 || h["vary"] != "Accept" {
		t.Fatalf("error answer: %d %v; want vary: Accept", status, h)
	}
	status, h = s.rawHeaders("POST", "/v2/queues", "")
	if status != 405 || h["allow"] == "" || !strings.Contains(h["allow"], "GET") {
		t.Fatalf("method not allowed: %d %v; want allow", status, h)
	}
	status, h = s.rawHeaders("GET", "/v2/", "")
	if status != 200 || h["cache-control"] != "max-age=86400" || h["Content-Type"] != "application/json-home" {
		t.Fatalf("home: %d %v", status, h)
	}
	status, h = s.rawHeaders("GET", "/v2/queues/h", "")
	if status != 200 || h["Content-Type"] != "application/json" {
		t.Fatalf("get: %d %v; want application/json without charset", status, h)
	}
}

func TestFalconDefaultErrors(t *testing.T) {
	s := newServer(t, nil)
	if r := s.do("GET", "/v2/nothing", ""); r.status != 404 || r.body != `{"title":"404 Not Found"}` {
		t.Fatalf("unknown path: %d %s", r.status, r.body)
	}
	if r := s.do("POST", "/v2/queues", ""); r.status != 405 || r.body != `{"title":"405 Method Not Allowed"}` {
		t.Fatalf("method: %d %s", r.status, r.body)
	}
}

func TestHomeDocumentIsTheOriginals(t *testing.T) {
	for _, admin := range []bool{false, true} {
		s := newServer(t, func(o *Options) { o.AdminMode = admin })
		r := s.expect("home", s.do("GET", "/v2/", ""), 200)
		var doc struct {
			Resources map[string]struct {
				Hints map[string]any `json:"hints"`
			} `json:"resources"`
		}
		if err := json.Unmarshal([]byte(r.body), &doc); err != nil {
			t.Fatal(err)
		}
		share, ok := doc.Resources["rel/queue_share"]
		if !ok || share.Hints["accept-post"] == nil {
			t.Fatalf("admin %v: rel/queue_share with accept-post missing: %s", admin, r.body)
		}
		want := 19
		if admin {
			want = 24 // pools, pool, flavors, flavor, health
		}
		if len(doc.Resources) != want {
			t.Fatalf("admin %v: %d resources, want %d: %v", admin, len(doc.Resources), want, slices.Sorted(maps.Keys(doc.Resources)))
		}
		if !strings.HasPrefix(r.body, "{\n    \"resources\": {\n        \"rel/queues\": {") {
			t.Fatalf("admin %v: not the original's layout: %.80q", admin, r.body)
		}
	}
}

func TestStatsAsTheOriginal(t *testing.T) {
	s := newServer(t, nil)
	s.expect("post", s.do("POST", "/v2/queues/st/messages", `{"messages":[{"body":{"n":1},"ttl":300},{"body":"two","ttl":300}]}`), 201)
	s.expect("claim", s.do("POST", "/v2/queues/st/claims?limit=1", `{"ttl":300,"grace":60}`), 201)
	r := s.expect("stats", s.do("GET", "/v2/queues/st/stats", ""), 200)
	var doc map[string]map[string]any
	if err := json.Unmarshal([]byte(r.body), &doc); err != nil {
		t.Fatal(err)
	}
	if _, ok := doc["partition"]; ok || len(doc) != 1 {
		t.Fatalf("stats document has more than messages: %s", r.body)
	}
	if r.headers["X-Zaqar-Partition"] == "" {
		t.Fatalf("partition header missing: %v", r.headers)
	}
	wantKeys := []string{"age", "body", "claim_count", "claim_id", "created", "href", "ttl"}
	for _, end := range []string{"oldest", "newest"} {
		m, _ := doc["messages"][end].(map[string]any)
		if got := slices.Sorted(maps.Keys(m)); !slices.Equal(got, wantKeys) {
			t.Fatalf("%s keys %v, want %v", end, got, wantKeys)
		}
	}
	oldest := doc["messages"]["oldest"].(map[string]any)
	newest := doc["messages"]["newest"].(map[string]any)
	if id, _ := oldest["claim_id"].(string); id == "" || newest["claim_id"] != nil || newest["body"] != "two" {
		t.Fatalf("oldest %v newest %v: want the claimed one first, the second free", oldest, newest)
	}
	if oldest["body"].(map[string]any)["n"] != 1.0 {
		t.Fatalf("oldest body %v", oldest["body"])
	}
}

func TestPopAnswersAClaimID(t *testing.T) {
	s := newServer(t, nil)
	s.expect("post", s.do("POST", "/v2/queues/p/messages", `{"messages":[{"body":1},{"body":2}]}`), 201)
	r := s.expect("pop", s.do("DELETE", "/v2/queues/p/messages?pop=2", ""), 200)
	var doc struct {
		Messages []struct {
			ClaimID    *string `json:"claim_id"`
			ClaimCount *int    `json:"claim_count"`
		}
	}
	if err := json.Unmarshal([]byte(r.body), &doc); err != nil || len(doc.Messages) != 2 {
		t.Fatalf("pop: %v %s", err, r.body)
	}
	for _, m := range doc.Messages {
		if m.ClaimID == nil || *m.ClaimID == "" || *m.ClaimID != *doc.Messages[0].ClaimID || m.ClaimCount == nil || *m.ClaimCount != 0 {
			t.Fatalf("pop: want one claim id string on every message and claim_count 0: %s", r.body)
		}
	}
}

func TestSubscriptionValidationTexts(t *testing.T) {
	s := newServer(t, nil)
	sid := subscriptionID(t, s.expect("create", s.do("POST", "/v2/queues/s/subscriptions", `{"subscriber":"http://127.0.0.1:9/x","ttl":3600}`), 201))
	path := "/v2/queues/s/subscriptions/" + sid
	s.expect("subscriber null", s.do("PATCH", path, `{"subscriber":null,"ttl":7200}`), 204)
	s.expect("ttl changed", s.do("GET", path, ""), 200, `"ttl":7200`, `"subscriber":"http://127.0.0.1:9/x"`)
	s.expect("only nulls", s.do("PATCH", path, `{"subscriber":null}`), 204)
	s.expect("only nulls, missing", s.do("PATCH", "/v2/queues/s/subscriptions/nope", `{"subscriber":null}`), 404, `"Subscription nope does not exist"`)
	for _, c := range []struct{ name, body, want string }{
		{"not a dict", `[1]`, `"Subscriptions must be a dict."`},
		{"string", `"x"`, `"Subscriptions must be a dict."`},
		{"empty", `{}`, `"No subscription to create."`},
		{"empty list", `[]`, `"No subscription to create."`},
		{"ttl string", `{"ttl":"x"}`, `"TTL must be an integer."`},
		{"ttl float", `{"ttl":100.5}`, `"TTL must be an integer."`},
		{"ttl short", `{"ttl":10}`, `"The TTL for a subscription must be at least 60 seconds long."`},
		{"ttl past python", `{"ttl":999999999999}`, `"The TTL seconds for a subscription plus current time must be less than 9999-12-31 23:59:59.999999."`},
		{"options list", `{"options":[1]}`, `"Options must be a dict."`},
	} {
		s.expect(c.name, s.do("PATCH", path, c.body), 400, c.want)
	}
	r := s.expect("again", s.do("POST", "/v2/queues/s/subscriptions", `{"subscriber":"http://127.0.0.1:9/x"}`), 201)
	if subscriptionID(t, r) != sid {
		t.Fatalf("an unconfirmed duplicate gives the same id: %s", r.body)
	}
	s.expect("confirm", s.do("PUT", path+"/confirm", `{"confirmed":true}`), 204)
	r = s.expect("confirmed duplicate", s.do("POST", "/v2/queues/s/subscriptions", `{"subscriber":"http://127.0.0.1:9/x"}`), 409,
		`"Such subscription already exists.Subscriptions are unique by project + queue + subscriber URI."`)
	if r.headers["Location"] != "/v2/queues/s/subscriptions" {
		t.Fatalf("409 location %q", r.headers["Location"])
	}
}

func subscriptionID(t *testing.T, r reply) string {
	t.Helper()
	var doc struct {
		ID string `json:"subscription_id"`
	}
	if err := json.Unmarshal([]byte(r.body), &doc); err != nil || doc.ID == "" {
		t.Fatalf("no subscription id in %s", r.body)
	}
	return doc.ID
}

func TestClientIDLengthText(t *testing.T) {
	s := newServer(t, func(o *Options) { o.ClientIDUUIDSafe = "off" })
	if r := s.do("GET", "/v2/queues", "", "Client-ID: short"); r.status != 400 ||
		r.body != `{"title":"Length of client id must be at least 10 and no greater than 36."}` {
		t.Fatalf("short client id: %d %s", r.status, r.body)
	}
}

func TestRequestHookTexts(t *testing.T) {
	s := newServer(t, nil)
	for _, c := range []struct {
		name, method, path, body, header, want string
	}{
		{"empty project", "GET", "/v2/queues", "", "X-Project-ID: ",
			`{"title":"Empty project header not allowed","description":"X-PROJECT-ID cannot be an empty string. Specify the right header X-PROJECT-ID and retry."}`},
		{"form body", "PUT", "/v2/queues/q", "a=b", "Content-Type: application/x-www-form-urlencoded",
			`{"title":"Invalid Content-Type","description":"Endpoint does not accept ` + "`application/x-www-form-urlencoded`" +
				` content; currently supported media type is ` + "`application/json`" + `; specify proper client-side media type with the \"Content-Type\" header."}`},
		{"too many ids", "DELETE", "/v2/queues/q/messages?ids=" + strings.Repeat("a,", 21) + "a", "", "X-Project-ID: proj",
			`{"title":"Invalid API request","description":"ids parameter should have at least 1 and not greater than 20 values."}`},
		{"ids not found", "GET", "/v2/queues/q/messages?ids=a,b", "", "X-Project-ID: proj",
			`{"title":"Not found","description":"No messages with IDs: ['a', 'b'] found in the queue q for project proj."}`},
	} {
		if r := s.do(c.method, c.path, c.body, c.header); r.status/100 != 4 || r.body != c.want {
			t.Errorf("%s: %d %s\nwant %s", c.name, r.status, r.body, c.want)
		}
	}
}
