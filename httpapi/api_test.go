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
	s.expect("no client id", s.do("GET", "/v2/queues", "", "Client-ID: -"), 400, `The \"Client-ID\" header is required.`)
	s.expect("bad client id", s.do("GET", "/v2/queues", "", "Client-ID: not-a-uuid"), 400, "Malformed hexadecimal UUID.")
	s.expect("hex client id", s.do("GET", "/v2/queues", "", "Client-ID: 3a1d6a3e000040008000000000000001"), 200)
	s.expect("no project", s.do("GET", "/v2/queues", "", "X-Project-ID: -"), 400, "Project-Id Missing")
	s.expect("empty project", s.do("GET", "/v2/queues", "", "X-Project-ID: "), 400, "Empty project header not allowed")
	s.expect("long project", s.do("PUT", "/v2/queues/q", "", "X-Project-ID: "+strings.Repeat("p", 257)), 400, "Invalid queue identification")
	s.expect("bad queue name", s.do("PUT", "/v2/queues/bad$name", ""), 400, "Invalid queue identification")
	s.expect("long queue name", s.do("PUT", "/v2/queues/"+strings.Repeat("q", 65), ""), 400, "Invalid queue identification")
	s.expect("form body", s.do("PUT", "/v2/queues/q", "a=b", "Content-Type: application/x-www-form-urlencoded"), 400, "Invalid Content-Type")
	s.expect("accept xml", s.do("GET", "/v2/queues", "", "Accept: application/xml"), 406)
	s.expect("accept any", s.do("GET", "/v2/queues", "", "Accept: text/html, */*;q=0.1"), 200)

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
	s.expect("create not object", s.do("PUT", "/v2/queues/q2", `[1]`), 400, "Document type not supported.")
	s.expect("create bad json", s.do("PUT", "/v2/queues/q2", `{`), 400, "Request body could not be parsed.")
	s.expect("bad reserved ttl", s.do("PUT", "/v2/queues/q2", `{"_default_message_ttl":5}`), 400, "TTL for a message")
	s.expect("reserved wrong type", s.do("PUT", "/v2/queues/q2", `{"_max_messages_post_size":"big"}`), 400, "must be a int")
	s.expect("metadata too large", s.do("PUT", "/v2/queues/q2", `{"x":"`+strings.Repeat("a", 65536)+`"}`), 400, "too large")
	for _, n := range []string{"q2", "q3", "q4"} {
		s.expect("create "+n, s.do("PUT", "/v2/queues/"+n, `{"kind":"`+n+`"}`), 201)
	}
	s.expect("list", s.do("GET", "/v2/queues?limit=2", ""), 200, `{"href":"/v2/queues/q1","name":"q1"}`,
		`"href":"/v2/queues?limit=2&marker=q2"`)
	s.expect("list next", s.do("GET", "/v2/queues?limit=2&marker=q2", ""), 200, `"q3"`, `"q4"`)
	s.expect("list end", s.do("GET", "/v2/queues?marker=q4", ""), 200, `"queues":[]`, `"links":[]`)
	s.expect("list detailed", s.do("GET", "/v2/queues?detailed=true&limit=1", ""), 200, `"metadata":{`, `"description":"first"`)
	s.expect("list count", s.do("GET", "/v2/queues?with_count=true", ""), 200, `"count":4`)
	s.expect("list name filter", s.do("GET", "/v2/queues?name=3", ""), 200, `"q3"`)
	s.expect("list metadata filter", s.do("GET", "/v2/queues?kind=q4", ""), 200, `"q4"`)
	s.expect("list limit 0", s.do("GET", "/v2/queues?limit=0", ""), 400, "Limit must be at least 1 and no greater than 20.")
	s.expect("list limit 21", s.do("GET", "/v2/queues?limit=21", ""), 400, "no greater than 20")
	s.expect("list limit text", s.do("GET", "/v2/queues?limit=ten", ""), 400, "Invalid parameter")
	s.expect("list bad bool", s.do("GET", "/v2/queues?detailed=maybe", ""), 400, "Invalid parameter")
	s.expect("other project", s.do("GET", "/v2/queues", "", "X-Project-ID: other"), 200, `"queues":[]`)

	const jp = "Content-Type: application/openstack-messaging-v2.0-json-patch"
	s.expect("patch wrong type", s.do("PATCH", "/v2/queues/q1", `[]`), 415, "Accept-Patch")
	s.expect("patch add", s.do("PATCH", "/v2/queues/q1", `[{"op":"add","path":"/metadata/color","value":"blue"},{"op":"replace","path":"/metadata/description","value":"second"}]`, jp),
		200, `"color":"blue"`, `"description":"second"`, `"_default_message_ttl":3600`)
	s.expect("patch bad op", s.do("PATCH", "/v2/queues/q1", `[{"op":"frobnicate","path":"/metadata/x"}]`, jp), 400,
		"Invalid operation: `frobnicate`. It must be one of the following: add, remove, replace.")
	s.expect("patch bad path", s.do("PATCH", "/v2/queues/q1", `[{"op":"add","path":"/x/y","value":1}]`, jp), 400, "Invalid JSON pointer")
	s.expect("patch missing value", s.do("PATCH", "/v2/queues/q1", `[{"op":"add","path":"/metadata/x"}]`, jp), 400, "Missing value")
	s.expect("patch not array", s.do("PATCH", "/v2/queues/q1", `{}`, jp), 400)
	s.expect("patch empty", s.do("PATCH", "/v2/queues/q1", ``, jp), 400, "can not be empty")
	s.expect("patch replace missing", s.do("PATCH", "/v2/queues/q1", `[{"op":"replace","path":"/metadata/ghost","value":1}]`, jp), 409, "Can't replace non-existent object ghost.")
	s.expect("patch remove missing", s.do("PATCH", "/v2/queues/q1", `[{"op":"remove","path":"/metadata/ghost"}]`, jp), 409)
	s.expect("patch remove reserved absent", s.do("PATCH", "/v2/queues/q1", `[{"op":"remove","path":"/metadata/_default_message_ttl"}]`, jp), 200)
	s.expect("patch invalid result", s.do("PATCH", "/v2/queues/q1", `[{"op":"add","path":"/metadata/_default_message_ttl","value":1}]`, jp), 400, "TTL for a message")
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
