package httpapi

import (
	"fmt"
	"strings"
	"testing"

	"github.com/bytedance/sonic"
)

func TestSonicIsNative(t *testing.T) {
	if sonic.APIKind != sonic.UseSonicJSON {
		t.Fatalf("sonic fell back to encoding/json on this platform (APIKind=%v)", sonic.APIKind)
	}
}

func TestVersionsHomePingHealth(t *testing.T) {
	s := newServer(t, nil)
	s.expect("versions", s.do("GET", "/", "", "Client-ID: -", "X-Project-ID: -"), 300, `"id":"2","status":"CURRENT"`)
	r := s.expect("home", s.do("GET", "/v2/", ""), 200, `"rel/queues"`, `"rel/health"`)
	if r.headers["Content-Type"] != "application/json-home" {
		t.Fatalf("home content type %q", r.headers["Content-Type"])
	}
	s.expect("ping", s.do("GET", "/v2/ping", ""), 204)
	s.expect("ping head", s.do("HEAD", "/v2/ping", ""), 204)
	s.expect("health needs admin", s.do("GET", "/v2/health", ""), 403, "Not authorized")
	s.expect("health", s.do("GET", "/v2/health", "", "X-Roles: member,admin"), 200, `"storage_reachable":true`, `"post_messages":{"succeeded":true`)
	s.expect("unknown path", s.do("GET", "/v2/nothing", ""), 404)
	s.expect("wrong method", s.do("POST", "/v2/queues/q/stats", ""), 405)
	s.expect("metrics", s.do("GET", "/metrics", ""), 200, "zaqar_http_requests_total")
}

func TestHealthNotRoutedWithoutAdminMode(t *testing.T) {
	s := newServer(t, func(o *Options) { o.AdminMode = false })
	s.expect("health", s.do("GET", "/v2/health", "", "X-Roles: admin"), 404)
}

func TestRequestHeaders(t *testing.T) {
	s := newServer(t, nil)
	for _, c := range []struct {
		name, method, path, body, header string
		status                           int
		want                             string
	}{
		{"no client id", "GET", "/v2/queues", "", "Client-ID: -", 400, `The \"Client-ID\" header is required.`},
		{"bad client id", "GET", "/v2/queues", "", "Client-ID: not-a-uuid", 400, "Malformed hexadecimal UUID."},
		{"hex client id", "GET", "/v2/queues", "", "Client-ID: 3a1d6a3e000040008000000000000001", 200, ""},
		{"no project", "GET", "/v2/queues", "", "X-Project-ID: -", 400, "Project-Id Missing"},
		{"empty project", "GET", "/v2/queues", "", "X-Project-ID: ", 400, "Empty project header not allowed"},
		{"long project", "PUT", "/v2/queues/q", "", "X-Project-ID: " + strings.Repeat("p", 257), 400, "Invalid queue identification"},
		{"bad queue name", "PUT", "/v2/queues/bad$name", "", "", 400, "Invalid queue identification"},
		{"long queue name", "PUT", "/v2/queues/" + strings.Repeat("q", 65), "", "", 400, "Invalid queue identification"},
		{"form body", "PUT", "/v2/queues/q", "a=b", "Content-Type: application/x-www-form-urlencoded", 400, "Invalid Content-Type"},
		{"accept xml", "GET", "/v2/queues", "", "Accept: application/xml", 406, ""},
		{"accept any", "GET", "/v2/queues", "", "Accept: text/html, */*;q=0.1", 200, ""},
	} {
		s.expect(c.name, s.do(c.method, c.path, c.body, optional(c.header)...), c.status, optional(c.want)...)
	}

	off := newServer(t, func(o *Options) { o.ClientIDUUIDSafe = "off" })
	off.expect("free-form client id", off.do("GET", "/v2/queues", "", "Client-ID: my-client-12345"), 200)
	off.expect("short client id", off.do("GET", "/v2/queues", "", "Client-ID: abc"), 400)
}

func TestQueues(t *testing.T) {
	s := newServer(t, nil)
	r := s.expect("create", s.do("PUT", "/v2/queues/q1", `{"description":"first","n":1}`), 201)
	if r.headers["Location"] != "/v2/queues/q1" {
		t.Fatalf("location %q", r.headers["Location"])
	}
	s.expect("create again", s.do("PUT", "/v2/queues/q1", `{"description":"changed"}`), 204)
	s.expect("get", s.do("GET", "/v2/queues/q1", ""), 200, `"description":"first"`, `"_default_message_ttl":3600`,
		`"_max_messages_post_size":262144`, `"_dead_letter_queue":null`)
	s.expect("get missing", s.do("GET", "/v2/queues/nope", ""), 404, "Queue nope does not exist for project proj")
	for _, c := range []struct{ name, body, want string }{
		{"create not object", `[1]`, "Document type not supported."},
		{"create bad json", `{`, "Request body could not be parsed."},
		{"bad reserved ttl", `{"_default_message_ttl":5}`, "_default_message_ttl can not exceed 1209600 seconds, and must be at least 60 seconds long."},
		{"reserved wrong type", `{"_max_messages_post_size":"big"}`, "_max_messages_post_size must be integer."},
		{"encryption wrong type", `{"_enable_encrypt_messages":"yes"}`, "_enable_encrypt_messages must be boolean."},
		{"metadata too large", `{"x":"` + strings.Repeat("a", 65536) + `"}`, "too large"},
	} {
		s.expect(c.name, s.do("PUT", "/v2/queues/q2", c.body), 400, c.want)
	}
	for _, n := range []string{"q2", "q3", "q4"} {
		s.expect("create "+n, s.do("PUT", "/v2/queues/"+n, `{"kind":"`+n+`"}`), 201)
	}
	for _, c := range []struct {
		name, query string
		status      int
		want        []string
	}{
		{"list", "limit=2", 200, []string{`{"href":"/v2/queues/q1","name":"q1"}`, `"href":"/v2/queues?limit=2&marker=q2"`}},
		{"list next", "limit=2&marker=q2", 200, []string{`"q3"`, `"q4"`}},
		{"list end", "marker=q4", 200, []string{`"queues":[]`, `"links":[]`}},
		{"list detailed", "detailed=true&limit=1", 200, []string{`"metadata":{`, `"description":"first"`}},
		{"list count", "with_count=true", 200, []string{`"count":4`}},
		{"list name filter", "name=3", 200, []string{`"q3"`}},
		{"list metadata filter", "kind=q4", 200, []string{`"q4"`}},
		{"list limit 0", "limit=0", 400, []string{"Limit must be at least 1 and no greater than 20."}},
		{"list limit 21", "limit=21", 400, []string{"no greater than 20"}},
		{"list limit text", "limit=ten", 400, []string{"Invalid parameter"}},
		{"list bad bool", "detailed=maybe", 400, []string{"Invalid parameter"}},
	} {
		s.expect(c.name, s.do("GET", "/v2/queues?"+c.query, ""), c.status, c.want...)
	}
	s.expect("other project", s.do("GET", "/v2/queues", "", "X-Project-ID: other"), 200, `"queues":[]`)

	const jp = "Content-Type: application/openstack-messaging-v2.0-json-patch"
	s.expect("patch wrong type", s.do("PATCH", "/v2/queues/q1", `[]`), 415, "Accept-Patch")
	s.expect("patch add", s.do("PATCH", "/v2/queues/q1", `[{"op":"add","path":"/metadata/color","value":"blue"},{"op":"replace","path":"/metadata/description","value":"second"}]`, jp),
		200, `"color":"blue"`, `"description":"second"`, `"_default_message_ttl":3600`)
	for _, c := range []struct {
		name, body string
		status     int
		want       string
	}{
		{"patch bad op", `[{"op":"frobnicate","path":"/metadata/x"}]`, 400,
			"Invalid operation: `frobnicate`. It must be one of the following: add, remove, replace."},
		{"patch bad root", `[{"op":"add","path":"/x/y","value":1}]`, 400, "The root of path must be metadata, e.g /metadata/key."},
		{"patch short path", `[{"op":"add","path":"/a","value":1}]`, 400, "Invalid JSON pointer for this resource: '/a, e.g /metadata/key'"},
		{"patch adjacent slashes", `[{"op":"add","path":"/metadata//a","value":1}]`, 400, "Pointer `/metadata//a` contains adjacent \\\"/\\\"."},
		{"patch no op", `[{"path":"/metadata/a","value":1}]`, 400, "Unable to find `op` in JSON Schema change. It must be one of the following: add, remove, replace."},
		{"patch no path", `[{"op":"add","value":1}]`, 400, "Unable to find 'path' in JSON Schema change"},
		{"patch missing value", `[{"op":"add","path":"/metadata/x"}]`, 400, `Operation \"add\" requires a member named \"value\".`},
		{"patch not array", `{}`, 400, ""},
		{"patch empty", ``, 400, "can not be empty"},
		{"patch replace missing", `[{"op":"replace","path":"/metadata/ghost","value":1}]`, 409, "Can't replace non-existent object ghost."},
		{"patch remove missing", `[{"op":"remove","path":"/metadata/ghost"}]`, 409, ""},
		{"patch remove reserved absent", `[{"op":"remove","path":"/metadata/_default_message_ttl"}]`, 200, ""},
		{"patch invalid result", `[{"op":"add","path":"/metadata/_default_message_ttl","value":1}]`, 400, "_default_message_ttl can not exceed"},
	} {
		s.expect(c.name, s.do("PATCH", "/v2/queues/q1", c.body, jp), c.status, optional(c.want)...)
	}
	s.expect("patch all or nothing", s.do("GET", "/v2/queues/q1", ""), 200, `"color":"blue"`, `"_default_message_ttl":3600`)
	s.expect("patch missing queue", s.do("PATCH", "/v2/queues/nope", `[{"op":"add","path":"/metadata/x","value":1}]`, jp), 404)
	s.expect("patch escaped key", s.do("PATCH", "/v2/queues/q1", `[{"op":"add","path":"/metadata/a~1b","value":1}]`, jp), 200, `"a/b":1`)

	s.expect("stats missing queue", s.do("GET", "/v2/queues/nope/stats", ""), 200, `"claimed":0`, `"free":0`, `"total":0`)
	s.expect("delete", s.do("DELETE", "/v2/queues/q4", ""), 204)
	s.expect("delete missing", s.do("DELETE", "/v2/queues/q4", ""), 204)
	s.expect("gone", s.do("GET", "/v2/queues/q4", ""), 404)
}

func postBody(n int, ttl int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf(`{"ttl":%d,"body":{"n":%d}}`, ttl, i)
	}
	return `{"messages":[` + strings.Join(parts, ",") + `]}`
}
