package httpapi

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/zaqar-go/zaqar/internal/testenv"
	"github.com/zaqar-go/zaqar/keystone"
	"github.com/zaqar-go/zaqar/policy"
	"github.com/zaqar-go/zaqar/signedurl"
)

const shareKey = "share-test-secret"

// shareDoc is the answer of POST .../share, and what a holder sends back
// in URL-* headers.
type shareDoc struct {
	Paths     []string `json:"paths"`
	Methods   []string `json:"methods"`
	Project   string   `json:"project"`
	Expires   string   `json:"expires"`
	Signature string   `json:"signature"`
}

// fromSigned is the share signedurl.Sign produced, as Zaqar's notifier
// hands it out.
func fromSigned(s signedurl.Signed) shareDoc {
	return shareDoc{Paths: s.Paths, Methods: s.Methods, Project: s.Project,
		Expires: s.Expires.Format(signedurl.ExpiresFormat), Signature: s.Signature}
}

// headers are the URL-* headers (and X-Project-ID) of the share, without
// a token; later entries given to server.do override them.
func (d shareDoc) headers(more ...string) []string {
	return append([]string{"URL-Signature: " + d.Signature, "URL-Expires: " + d.Expires,
		"URL-Methods: " + strings.Join(d.Methods, ","), "URL-Paths: " + strings.Join(d.Paths, ","),
		"X-Project-ID: " + d.Project, "X-Auth-Token: -"}, more...)
}

// decodeShare checks the answer's shape (exactly Zaqar's five keys) and
// its signature, and returns it.
func decodeShare(t *testing.T, name string, r reply, key string) shareDoc {
	t.Helper()
	if r.status != fasthttp.StatusOK {
		t.Fatalf("%s: status %d, want 200; body %s", name, r.status, r.body)
	}
	if ct := r.headers["Content-Type"]; !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s: Content-Type %q", name, ct)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(r.body), &raw); err != nil {
		t.Fatalf("%s: %v in %s", name, err, r.body)
	}
	if keys := slices.Sorted(maps.Keys(raw)); !slices.Equal(keys, []string{"expires", "methods", "paths", "project", "signature"}) {
		t.Fatalf("%s: keys %v in %s", name, keys, r.body)
	}
	var d shareDoc
	if err := json.Unmarshal([]byte(r.body), &d); err != nil {
		t.Fatalf("%s: %v in %s", name, err, r.body)
	}
	exp, err := time.Parse(signedurl.ExpiresFormat, d.Expires)
	if err != nil {
		t.Fatalf("%s: expires %q is not %s", name, d.Expires, signedurl.ExpiresFormat)
	}
	if want := signedurl.Signature(key, d.Paths, d.Methods, d.Project, exp); d.Signature != want {
		t.Fatalf("%s: signature %s, want %s", name, d.Signature, want)
	}
	return d
}

// errorDoc decodes Zaqar's error document.
func errorDoc(t *testing.T, name string, r reply) (title, description string) {
	t.Helper()
	var e struct{ Title, Description string }
	if err := json.Unmarshal([]byte(r.body), &e); err != nil {
		t.Fatalf("%s: error body %q: %v", name, r.body, err)
	}
	return e.Title, e.Description
}

// closedKeystone is a keystone validator whose Keystone never answers:
// any token gets 503, no token 401, so a 2xx proves no token was needed.
func closedKeystone(t *testing.T) *keystone.Validator {
	t.Helper()
	port := testenv.FreePort(t)
	v, err := keystone.New(keystone.Options{AuthURL: "http://127.0.0.1:" + strconv.Itoa(port) + "/v3",
		Username: "zaqar", Password: "x", ProjectName: "service", HTTPConnectTimeout: time.Second,
		WWWAuthenticateURI: "http://keystone.example:5000", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func withKey(key string) func(*Options) { return func(o *Options) { o.SignedURLKey = key } }

// TestShareEndpoint: POST /v2/queues/{q}/share answers as Zaqar's
// urls.py, with create_signed_url's defaults, formats and error texts.
func TestShareEndpoint(t *testing.T) {
	s := newServer(t, withKey(shareKey))
	day := 24 * time.Hour
	soon := time.Now().UTC().Add(90 * time.Minute)
	soonWant := soon.Format(signedurl.ExpiresFormat)
	ist := time.FixedZone("IST", 5*3600+1800)

	ok := []struct {
		name, queue, body string
		paths, methods    []string
		expires           string // "" = a day from the request
	}{
		{"defaults", "q", `{}`, []string{"/v2/queues/q/messages"}, []string{"GET"}, ""},
		{"nulls are defaults", "q", `{"paths":null,"methods":null,"expires":null}`, []string{"/v2/queues/q/messages"}, []string{"GET"}, ""},
		{"empty lists are defaults", "q", `{"paths":[],"methods":[]}`, []string{"/v2/queues/q/messages"}, []string{"GET"}, ""},
		{"explicit, sorted", "orders-1", `{"paths":["subscriptions","messages","claims"],"methods":["POST","GET","DELETE"],"expires":"2099-01-02T03:04:05"}`,
			[]string{"/v2/queues/orders-1/claims", "/v2/queues/orders-1/messages", "/v2/queues/orders-1/subscriptions"},
			[]string{"DELETE", "GET", "POST"}, "2099-01-02T03:04:05"},
		{"queue name with a dot", "a.b", `{"paths":["claims"],"methods":["PATCH","HEAD","PUT"]}`,
			[]string{"/v2/queues/a.b/claims"}, []string{"HEAD", "PATCH", "PUT"}, ""},
		{"expires Z", "q", `{"expires":"2099-01-02T03:04:05Z"}`, []string{"/v2/queues/q/messages"}, []string{"GET"}, "2099-01-02T03:04:05"},
		{"expires +02:00 is normalised to UTC", "q", `{"expires":"2099-01-02T05:04:05+02:00"}`, []string{"/v2/queues/q/messages"}, []string{"GET"}, "2099-01-02T03:04:05"},
		{"expires -05:00 crosses midnight", "q", `{"expires":"2099-01-01T22:04:05-05:00"}`, []string{"/v2/queues/q/messages"}, []string{"GET"}, "2099-01-02T03:04:05"},
		{"expires +0200", "q", `{"expires":"2099-01-02T05:04:05+0200"}`, []string{"/v2/queues/q/messages"}, []string{"GET"}, "2099-01-02T03:04:05"},
		{"expires microseconds, no zone (isoformat)", "q", `{"expires":"2099-01-02T03:04:05.123456"}`, []string{"/v2/queues/q/messages"}, []string{"GET"}, "2099-01-02T03:04:05"},
		{"expires microseconds, zone (isoformat)", "q", `{"expires":"2099-01-02T03:04:05.999999+00:00"}`, []string{"/v2/queues/q/messages"}, []string{"GET"}, "2099-01-02T03:04:05"},
		{"expires with a space", "q", `{"expires":"2099-01-02 03:04:05"}`, []string{"/v2/queues/q/messages"}, []string{"GET"}, "2099-01-02T03:04:05"},
		{"expires date only", "q", `{"expires":"2099-01-02"}`, []string{"/v2/queues/q/messages"}, []string{"GET"}, "2099-01-02T00:00:00"},
		{"expires soon, as python-zaqarclient sends it", "q", `{"expires":"` + soon.Format("2006-01-02T15:04:05.000000") + `"}`,
			[]string{"/v2/queues/q/messages"}, []string{"GET"}, soonWant},
		{"expires soon, aware isoformat", "q", `{"expires":"` + soon.In(ist).Format("2006-01-02T15:04:05.000000-07:00") + `"}`,
			[]string{"/v2/queues/q/messages"}, []string{"GET"}, soonWant},
	}
	for _, c := range ok {
		before := time.Now().UTC()
		r := s.do("POST", "/v2/queues/"+c.queue+"/share", c.body)
		after := time.Now().UTC()
		d := decodeShare(t, c.name, r, shareKey)
		if !slices.Equal(d.Paths, c.paths) || !slices.Equal(d.Methods, c.methods) || d.Project != "proj" {
			t.Errorf("%s: paths %v methods %v project %q; want %v %v proj", c.name, d.Paths, d.Methods, d.Project, c.paths, c.methods)
		}
		if c.expires != "" {
			if d.Expires != c.expires {
				t.Errorf("%s: expires %s, want %s", c.name, d.Expires, c.expires)
			}
			continue
		}
		exp, _ := time.Parse(signedurl.ExpiresFormat, d.Expires)
		if lo, hi := before.Add(day).Truncate(time.Second), after.Add(day); exp.Before(lo) || exp.After(hi) {
			t.Errorf("%s: expires %s, want within [%s, %s]", c.name, d.Expires, lo, hi)
		}
	}

	// Zaqar's test vector (../shared/spec §1.12), through the endpoint.
	if exp := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC); time.Now().Before(exp) {
		v := newServer(t, withKey("secret"))
		d := decodeShare(t, "spec vector", v.do("POST", "/v2/queues/shared/share",
			`{"paths":["messages","claims"],"methods":["POST","GET"],"expires":"2030-01-01T00:00:00"}`, "X-Project-ID: 7e7e7e"), "secret")
		if d.Signature != "338f62926a96e22c597a0dbde23cbca09c56e91d4e8432e6a1b70752250635d4" {
			t.Errorf("spec vector: signature %s", d.Signature)
		}
	}

	const (
		api  = "Invalid API request"
		body = "Invalid request body"
	)
	intText := "`expires` should be date format, for example 2016-01-01T00:00:00, not integer value: "
	bad := []struct {
		name, body         string
		title, description string
	}{
		{"empty body", ``, body, "Request body can not be empty"},
		{"not JSON", `paths=messages`, body, "Request body could not be parsed."},
		{"truncated JSON", `{"paths":["messages"]`, body, "Request body could not be parsed."},
		{"JSON array", `[{"paths":["messages"]}]`, body, "Document type not supported."},
		{"empty JSON array", `[]`, body, "Document type not supported."},
		{"JSON string", `"messages"`, body, "Request body could not be parsed."},
		{"JSON number", `5`, body, "Request body could not be parsed."},
		{"JSON null", `null`, body, "Request body could not be parsed."},
		{"unknown key", `{"paths":["messages"],"ttl":60}`, api, "Unknown keys: {'ttl'}"},
		{"unknown keys", `{"project":"other","foo":1,"paths":["messages"]}`, api, "Unknown keys: {'foo', 'project'}"},
		{"invalid path", `{"paths":["messages","queues"]}`, api, "Invalid paths: {'queues'}"},
		{"invalid paths, each once", `{"paths":["stats","x","stats","claims"]}`, api, "Invalid paths: {'stats', 'x'}"},
		{"full path is not a resource name", `{"paths":["/v2/queues/q/messages"]}`, api, "Invalid paths: {'/v2/queues/q/messages'}"},
		{"paths a string", `{"paths":"messages"}`, api, "`paths` must be a non-empty list"},
		{"paths an object", `{"paths":{"messages":true}}`, api, "`paths` must be a non-empty list"},
		{"paths with a number", `{"paths":["messages",1]}`, api, "`paths` must be a non-empty list"},
		{"methods a string", `{"methods":"GET"}`, api, "`methods` should be a list"},
		{"methods an object", `{"methods":{"GET":1}}`, api, "`methods` should be a list"},
		{"methods with a number", `{"methods":["GET",7]}`, api, "`methods` should be a list"},
		{"unknown method", `{"methods":["GET","FETCH"]}`, api, "Invalid methods: {'FETCH'}"},
		{"integer expires", `{"expires":1893456000}`, api, intText + "1893456000"},
		{"negative integer expires", `{"expires":-5}`, api, intText + "-5"},
		{"float expires (Python's int())", `{"expires":1.9}`, api, intText + "1"},
		{"true expires (Python's int())", `{"expires":true}`, api, intText + "1"},
		{"integer string expires", `{"expires":"1893456000"}`, api, intText + "1893456000"},
		{"integer string with spaces and sign", `{"expires":" +42 "}`, api, intText + "42"},
		{"integer string with underscores", `{"expires":"2_030"}`, api, intText + "2030"},
		{"zero string is parsed as a date", `{"expires":"0"}`, api, "Unable to parse date string '0'"},
		{"zero is not a string", `{"expires":0}`, api, "expected string or bytes-like object, got 'int'"},
		{"false is not a string", `{"expires":false}`, api, "expected string or bytes-like object, got 'bool'"},
		{"list is not a string", `{"expires":["2099-01-01"]}`, api, "expected string or bytes-like object, got 'list'"},
		{"unparsable expires", `{"expires":"tomorrow"}`, api, "Unable to parse date string 'tomorrow'"},
		{"empty expires", `{"expires":""}`, api, "Unable to parse date string ''"},
		{"past expires", `{"expires":"2016-01-01T00:00:00"}`, api, "`expires` is lower than the current time"},
		{"past expires by its zone", `{"expires":"` + time.Now().UTC().Add(30*time.Minute).Format("2006-01-02T15:04:05") + `+01:00"}`, api, "`expires` is lower than the current time"},
	}
	for _, c := range bad {
		r := s.expect(c.name, s.do("POST", "/v2/queues/q/share", c.body), fasthttp.StatusBadRequest)
		if title, desc := errorDoc(t, c.name, r); title != c.title || desc != c.description {
			t.Errorf("%s: %q / %q, want %q / %q", c.name, title, desc, c.title, c.description)
		}
	}

	// Without [signed_url] secret_key: Zaqar's create_signed_url refuses
	// after the paths are checked, before anything else.
	noKey := newServer(t, nil)
	for _, c := range []struct{ name, body, description string }{
		{"no key", `{}`, "The `key` can't be None"},
		{"no key, bad expires", `{"expires":"tomorrow"}`, "The `key` can't be None"},
		{"no key, bad methods", `{"methods":"GET"}`, "The `key` can't be None"},
		{"no key, bad paths first", `{"paths":["queues"]}`, "Invalid paths: {'queues'}"},
		{"no key, unknown keys first", `{"x":1}`, "Unknown keys: {'x'}"},
	} {
		r := noKey.expect(c.name, noKey.do("POST", "/v2/queues/q/share", c.body), fasthttp.StatusBadRequest)
		if title, desc := errorDoc(t, c.name, r); title != api || desc != c.description {
			t.Errorf("%s: %q / %q, want %q / %q", c.name, title, desc, api, c.description)
		}
	}

	// queues:share denied: 403 before the body is read, and the rest of
	// the queue's routes still answer.
	deny, err := policy.LoadBytes("deny-share.yaml", []byte(`"queues:share": "!"`+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	denied := newServer(t, func(o *Options) { o.SignedURLKey = shareKey; o.Policy = deny })
	for _, b := range []string{`{}`, `not json`, ``} {
		r := denied.expect("share denied "+b, denied.do("POST", "/v2/queues/q/share", b, admin), fasthttp.StatusForbidden)
		if title, desc := errorDoc(t, "share denied", r); title != "Not authorized" || desc != "You are not authorized to complete this action." {
			t.Errorf("share denied: %q / %q", title, desc)
		}
	}
	denied.expect("other routes allowed", denied.do("GET", "/v2/queues/q/messages", ""), fasthttp.StatusOK)
	s.expect("share allowed by default policy, without roles", s.do("POST", "/v2/queues/q/share", `{}`, "X-Roles: -"), fasthttp.StatusOK)
}

// TestSignedURLAccess: the headers of a share let a holder without
// credentials do exactly the granted methods on exactly the granted paths
// (and what is under them); everything else is 404, as Zaqar's
// verify_pre_signed_url, except that listed paths are literal.
func TestSignedURLAccess(t *testing.T) {
	s := newServer(t, withKey(shareKey))
	for _, q := range []string{"a.b", "aXb", "a.bc", "a"} {
		s.expect("create "+q, s.do("PUT", "/v2/queues/"+q, ""), fasthttp.StatusCreated)
		s.expect("post to "+q, s.do("POST", "/v2/queues/"+q+"/messages", postBody(2, 300)), fasthttp.StatusCreated)
	}
	ids := resources(t, s.expect("post", s.do("POST", "/v2/queues/a.b/messages", postBody(2, 300)), fasthttp.StatusCreated))
	share := decodeShare(t, "share a.b", s.do("POST", "/v2/queues/a.b/share",
		`{"paths":["subscriptions","messages"],"methods":["POST","GET"]}`), shareKey)
	if !slices.Equal(share.Paths, []string{"/v2/queues/a.b/messages", "/v2/queues/a.b/subscriptions"}) {
		t.Fatalf("share paths %v", share.Paths)
	}
	h := share.headers
	exp := func(d time.Duration) time.Time { return time.Now().Add(d) }
	fresh := fromSigned(signedurl.Sign(shareKey, share.Paths, share.Methods, "proj", exp(time.Hour)))
	expired := fromSigned(signedurl.Sign(shareKey, share.Paths, share.Methods, "proj", exp(-time.Minute)))
	justExpired := fromSigned(signedurl.Sign(shareKey, share.Paths, share.Methods, "proj", exp(-time.Second)))
	tampered := []byte(share.Signature)
	tampered[len(tampered)-1] ^= 1 // '0'<->'1', 'a'<->'`'...: another string
	flip := string(tampered)

	granted := []struct {
		name, method, path, body string
		hdrs                     []string
		status                   int
		want                     string
	}{
		{"list messages", "GET", "/v2/queues/a.b/messages?echo=true", "", h(), 200, ids[0]},
		{"get a message under the listed path", "GET", "/v2/queues/a.b/messages/" + ids[0], "", h(), 200, `"id":"` + ids[0]},
		{"get messages by ids", "GET", "/v2/queues/a.b/messages?ids=" + ids[0] + "," + ids[1], "", h(), 200, ids[1]},
		{"post messages", "POST", "/v2/queues/a.b/messages", postBody(1, 300), h(), 201, "/v2/queues/a.b/messages/"},
		{"list subscriptions", "GET", "/v2/queues/a.b/subscriptions", "", h(), 200, `"subscriptions":[`},
		{"create a subscription", "POST", "/v2/queues/a.b/subscriptions", `{"subscriber":"http://127.0.0.1:9/hook"}`, h(), 201, `"subscription_id":"`},
		{"another client id", "GET", "/v2/queues/a.b/messages?echo=true", "", h(otherClient), 200, ids[0]},
		{"a fresh signature made with signedurl.Sign", "GET", "/v2/queues/a.b/messages?echo=true", "", fresh.headers(), 200, ids[0]},
		{"expiry as RFC 3339", "GET", "/v2/queues/a.b/messages?echo=true", "", h("URL-Expires: " + share.Expires + "Z"), 200, ids[0]},
	}
	for _, c := range granted {
		s.expect(c.name, s.do(c.method, c.path, c.body, c.hdrs...), c.status, c.want)
	}

	// Every refusal is the authentication's 404, for a request that
	// without the URL-* headers (noauth) is not refused: so each 404
	// comes from the signature check.
	refused := []struct {
		name, method, path, body string
		hdrs                     []string
	}{
		{"method not granted (DELETE message)", "DELETE", "/v2/queues/a.b/messages/" + ids[1], "", h()},
		{"method not granted (DELETE messages)", "DELETE", "/v2/queues/a.b/messages?ids=" + ids[1], "", h()},
		{"method not granted (PUT queue)", "PUT", "/v2/queues/a.b", "", h()},
		{"the queue itself", "GET", "/v2/queues/a.b", "", h()},
		{"the queue's stats", "GET", "/v2/queues/a.b/stats", "", h()},
		{"claims when only messages were signed", "POST", "/v2/queues/a.b/claims", `{}`, h()},
		{"re-sharing", "POST", "/v2/queues/a.b/share", `{"paths":["claims"]}`, h()},
		{"purge", "POST", "/v2/queues/a.b/purge", `{"resource_types":["messages"]}`, h()},
		{"queue list", "GET", "/v2/queues", "", h()},
		{"home document", "GET", "/v2/", "", h()},
		{"another queue", "GET", "/v2/queues/a/messages?echo=true", "", h()},
		{"a queue whose name starts the same", "GET", "/v2/queues/a.bc/messages?echo=true", "", h()},
		{"a queue the name matches as a regex", "GET", "/v2/queues/aXb/messages?echo=true", "", h()},
		{"a queue the name matches as a regex, POST", "POST", "/v2/queues/aXb/messages", postBody(1, 300), h()},
		{"dot segments out of the listed path", "GET", "/v2/queues/a.b/messages/../../aXb/messages?echo=true", "", h()},
		{"another project", "GET", "/v2/queues/a.b/messages?echo=true", "", h("X-Project-ID: other")},
		{"no project", "GET", "/v2/queues/a.b/messages?echo=true", "", h("X-Project-ID: -")},
		{"tampered signature", "GET", "/v2/queues/a.b/messages?echo=true", "", h("URL-Signature: " + flip)},
		{"upper-case signature", "GET", "/v2/queues/a.b/messages?echo=true", "", h("URL-Signature: " + strings.ToUpper(share.Signature))},
		{"truncated signature", "GET", "/v2/queues/a.b/messages?echo=true", "", h("URL-Signature: " + share.Signature[:32])},
		{"claims added to URL-Paths", "POST", "/v2/queues/a.b/claims", `{}`, h("URL-Paths: /v2/queues/a.b/claims," + strings.Join(share.Paths, ","))},
		{"claims added to URL-Paths, granted request", "GET", "/v2/queues/a.b/messages?echo=true", "", h("URL-Paths: /v2/queues/a.b/claims," + strings.Join(share.Paths, ","))},
		{"a path dropped from URL-Paths", "GET", "/v2/queues/a.b/messages?echo=true", "", h("URL-Paths: /v2/queues/a.b/messages")},
		{"URL-Paths pointed at another queue", "GET", "/v2/queues/aXb/messages?echo=true", "", h("URL-Paths: /v2/queues/aXb/messages,/v2/queues/aXb/subscriptions")},
		{"URL-Paths widened to the queue", "GET", "/v2/queues/a.b/stats", "", h("URL-Paths: /v2/queues/a.b")},
		{"no URL-Paths", "GET", "/v2/queues/a.b/messages?echo=true", "", h("URL-Paths: -")},
		{"DELETE added to URL-Methods", "DELETE", "/v2/queues/a.b/messages/" + ids[1], "", h("URL-Methods: DELETE,GET,POST")},
		{"DELETE added to URL-Methods, granted request", "GET", "/v2/queues/a.b/messages?echo=true", "", h("URL-Methods: DELETE,GET,POST")},
		{"a method dropped from URL-Methods", "GET", "/v2/queues/a.b/messages?echo=true", "", h("URL-Methods: GET")},
		{"lower-case URL-Methods", "GET", "/v2/queues/a.b/messages?echo=true", "", h("URL-Methods: get,post")},
		{"no URL-Methods", "GET", "/v2/queues/a.b/messages?echo=true", "", h("URL-Methods: -")},
		{"URL-Expires moved later", "GET", "/v2/queues/a.b/messages?echo=true", "", h("URL-Expires: " + fresh.Expires)},
		{"URL-Expires unparsable", "GET", "/v2/queues/a.b/messages?echo=true", "", h("URL-Expires: tomorrow")},
		{"no URL-Expires", "GET", "/v2/queues/a.b/messages?echo=true", "", h("URL-Expires: -")},
		{"expired a minute ago", "GET", "/v2/queues/a.b/messages?echo=true", "", expired.headers()},
		{"expired a second ago", "GET", "/v2/queues/a.b/messages?echo=true", "", justExpired.headers()},
		{"expired, its expiry moved later", "GET", "/v2/queues/a.b/messages?echo=true", "", expired.headers("URL-Expires: " + fresh.Expires)},
	}
	for _, c := range refused {
		r := s.expect(c.name, s.do(c.method, c.path, c.body, c.hdrs...), fasthttp.StatusNotFound)
		if title, desc := errorDoc(t, c.name, r); title != "Not found" || desc != "The resource could not be found." {
			t.Errorf("%s: %q / %q", c.name, title, desc)
		}
		var plain []string
		for _, hd := range c.hdrs {
			if !strings.HasPrefix(hd, "URL-") {
				plain = append(plain, hd)
			}
		}
		if r := s.do(c.method, c.path, c.body, plain...); r.status == fasthttp.StatusNotFound || r.status >= 500 {
			t.Errorf("%s: without the URL-* headers the request answers %d %s: the 404 proves nothing", c.name, r.status, r.body)
		}
	}

	// The same share presented to servers with another key, or none.
	for _, c := range []struct {
		name string
		srv  *server
	}{
		{"another secret key", newServer(t, withKey(shareKey+"-other"))},
		{"no secret key", newServer(t, nil)},
	} {
		c.srv.expect(c.name, c.srv.do("GET", "/v2/queues/a.b/messages", "", h()...), fasthttp.StatusNotFound, "The resource could not be found.")
		c.srv.expect(c.name+", unsigned", c.srv.do("GET", "/v2/queues/a.b/messages", ""), fasthttp.StatusOK)
	}

	// An empty URL-Signature is no signature (Zaqar: `if not signature`):
	// the request is judged as any other (noauth here).
	s.expect("empty URL-Signature", s.do("GET", "/v2/queues/a.b/stats", "", h("URL-Signature: ")...), fasthttp.StatusOK)
}

// TestSignedSubscriptionConfirm: the confirmation link notify sends (a
// signed PUT on .../subscriptions/{id}/confirm, as notify/confirm.go signs
// it) confirms and unconfirms, with and without Keystone, and opens
// nothing else.
func TestSignedSubscriptionConfirm(t *testing.T) {
	for _, mode := range []string{"noauth", "keystone"} {
		t.Run(mode, func(t *testing.T) {
			s := newServer(t, func(o *Options) {
				o.SignedURLKey = shareKey
				if mode == "keystone" {
					o.Auth = closedKeystone(t)
				}
			})
			const project = "proj-confirm"
			// The subscription is made through a share too, so that the
			// whole flow needs no token in Keystone mode.
			subs := fromSigned(signedurl.Sign(shareKey, []string{"/v2/queues/q/subscriptions"}, []string{"GET", "POST"}, project, time.Now().Add(time.Hour)))
			r := s.expect("subscribe", s.do("POST", "/v2/queues/q/subscriptions", `{"subscriber":"http://127.0.0.1:9/hook","ttl":3600}`, subs.headers()...), fasthttp.StatusCreated)
			var created struct {
				SubscriptionID string `json:"subscription_id"`
			}
			if err := json.Unmarshal([]byte(r.body), &created); err != nil || created.SubscriptionID == "" {
				t.Fatalf("subscribe: %s", r.body)
			}
			sid := created.SubscriptionID
			r = s.expect("second subscription", s.do("POST", "/v2/queues/q/subscriptions", `{"subscriber":"http://127.0.0.1:9/other"}`, subs.headers()...), fasthttp.StatusCreated)
			var second struct {
				SubscriptionID string `json:"subscription_id"`
			}
			if err := json.Unmarshal([]byte(r.body), &second); err != nil || second.SubscriptionID == "" || second.SubscriptionID == sid {
				t.Fatalf("second subscription: %s", r.body)
			}

			path := "/v2/queues/q/subscriptions/" + sid + "/confirm"
			link := fromSigned(signedurl.Sign(shareKey, []string{path}, []string{"PUT"}, project, time.Now().Add(time.Hour)))
			confirmed := func(name, want string) {
				t.Helper()
				s.expect(name, s.do("GET", "/v2/queues/q/subscriptions/"+sid, "", subs.headers()...), fasthttp.StatusOK, `"confirmed":`+want)
			}
			confirmed("unconfirmed at first", "false")
			s.expect("confirm", s.do("PUT", path, `{"confirmed":true}`, link.headers()...), fasthttp.StatusNoContent)
			confirmed("confirmed", "true")
			s.expect("unsubscribe", s.do("PUT", path, `{"confirmed":false}`, link.headers()...), fasthttp.StatusNoContent)
			confirmed("unconfirmed", "false")
			s.expect("confirm again", s.do("PUT", path, `{"confirmed":true}`, link.headers()...), fasthttp.StatusNoContent)
			confirmed("confirmed again", "true")
			s.expect("bad body still checked", s.do("PUT", path, `{"confirmed":"yes"}`, link.headers()...), fasthttp.StatusBadRequest, "The 'confirmed' should be boolean.")

			for _, c := range []struct {
				name, method, path, body string
				hdrs                     []string
			}{
				{"another subscription", "PUT", "/v2/queues/q/subscriptions/" + second.SubscriptionID + "/confirm", `{"confirmed":true}`, link.headers()},
				{"GET the subscription", "GET", "/v2/queues/q/subscriptions/" + sid, "", link.headers()},
				{"PATCH the subscription", "PATCH", "/v2/queues/q/subscriptions/" + sid, `{"ttl":7200}`, link.headers()},
				{"DELETE the subscription", "DELETE", "/v2/queues/q/subscriptions/" + sid, "", link.headers()},
				{"the same id in another queue", "PUT", "/v2/queues/q2/subscriptions/" + sid + "/confirm", `{"confirmed":true}`, link.headers()},
				{"another project", "PUT", path, `{"confirmed":true}`, link.headers("X-Project-ID: proj")},
				{"messages", "GET", "/v2/queues/q/messages", "", link.headers()},
				{"expired link", "PUT", path, `{"confirmed":false}`, fromSigned(signedurl.Sign(shareKey, []string{path}, []string{"PUT"}, project, time.Now().Add(-time.Minute))).headers()},
			} {
				s.expect(c.name, s.do(c.method, c.path, c.body, c.hdrs...), fasthttp.StatusNotFound, "The resource could not be found.")
			}
			confirmed("still confirmed", "true")
			s.expect("the other subscription untouched", s.do("GET", "/v2/queues/q/subscriptions/"+second.SubscriptionID, "", subs.headers()...), fasthttp.StatusOK, `"confirmed":false`)
		})
	}
}

// TestSignedURLKeystoneMode: with Keystone, a signed request needs no
// token (Keystone is never asked), grants nothing beyond its list, and the
// identity headers it carries are not read: X-Roles: admin is no admin.
func TestSignedURLKeystoneMode(t *testing.T) {
	s := newServer(t, func(o *Options) { o.SignedURLKey = shareKey; o.Auth = closedKeystone(t) })
	const project = "proj-k"
	hour := time.Now().Add(time.Hour)
	msgs := fromSigned(signedurl.Sign(shareKey, []string{"/v2/queues/q/messages"}, []string{"GET", "POST"}, project, hour))
	h := msgs.headers

	ids := resources(t, s.expect("post without a token", s.do("POST", "/v2/queues/q/messages", postBody(1, 300), h()...), fasthttp.StatusCreated))
	s.expect("get without a token", s.do("GET", "/v2/queues/q/messages/"+ids[0], "", h()...), fasthttp.StatusOK, `"id":"`+ids[0])
	s.expect("a token is not checked", s.do("GET", "/v2/queues/q/messages?echo=true", "", h("X-Auth-Token: gAAAAAB-unverifiable")...), fasthttp.StatusOK, ids[0])
	s.expect("spoofed identity headers change nothing", s.do("GET", "/v2/queues/q/messages?echo=true", "",
		h("X-Roles: admin", "X-User-ID: admin", "X-Identity-Status: Confirmed", "X-Tenant-ID: other")...), fasthttp.StatusOK, ids[0])

	// Without the signature the same requests need a token.
	r := s.expect("unsigned, no token", s.do("GET", "/v2/queues/q/messages?echo=true", "", "X-Project-ID: "+project, "X-Roles: admin"), fasthttp.StatusUnauthorized)
	if r.headers["Www-Authenticate"] == "" {
		t.Errorf("unsigned 401 without WWW-Authenticate")
	}
	s.expect("unsigned, a token Keystone cannot check", s.do("GET", "/v2/queues/q/messages", "", "X-Auth-Token: gAAAAAB-unverifiable"), fasthttp.StatusServiceUnavailable)

	for _, c := range []struct{ name, method, path, body string }{
		{"queue list", "GET", "/v2/queues", ""},
		{"the queue", "GET", "/v2/queues/q", ""},
		{"queue delete", "DELETE", "/v2/queues/q", ""},
		{"share", "POST", "/v2/queues/q/share", `{}`},
		{"claims", "POST", "/v2/queues/q/claims", `{}`},
		{"another queue", "GET", "/v2/queues/q2/messages", ""},
		{"delete a message", "DELETE", "/v2/queues/q/messages/" + ids[0], ""},
		{"health", "GET", "/v2/health", ""},
	} {
		s.expect(c.name+" outside the list", s.do(c.method, c.path, c.body, h("X-Roles: admin")...), fasthttp.StatusNotFound, "The resource could not be found.")
	}
	s.expect("another project", s.do("GET", "/v2/queues/q/messages", "", h("X-Project-ID: other")...), fasthttp.StatusNotFound)

	// A signature that lists /v2/health (only the key's holder can make
	// one) verifies, and then the admin-only rule refuses it: the holder
	// has no roles, whatever X-Roles says.
	health := fromSigned(signedurl.Sign(shareKey, []string{"/v2/health"}, []string{"GET"}, project, hour))
	for _, hd := range [][]string{nil, {"X-Roles: admin"}, {"X-Roles: admin,member", "X-User-ID: admin", "X-Is-Admin-Project: True", "X-Identity-Status: Confirmed"}} {
		r := s.expect("signed health "+strings.Join(hd, " "), s.do("GET", "/v2/health", "", health.headers(hd...)...), fasthttp.StatusForbidden)
		if title, _ := errorDoc(t, "signed health", r); title != "Not authorized" {
			t.Errorf("signed health: title %q", title)
		}
	}
	s.expect("signed health, tampered", s.do("GET", "/v2/health", "", health.headers("X-Roles: admin", "URL-Signature: "+strings.Repeat("0", 64))...), fasthttp.StatusNotFound)
	// In noauth mode the identity headers are trusted, signed or not: the
	// same request is an admin's there, so the 403 above is Keystone's.
	n := newServer(t, withKey(shareKey))
	n.expect("noauth signed health as admin", n.do("GET", "/v2/health", "", health.headers("X-Roles: admin")...), fasthttp.StatusOK, "storage_reachable")
}

// TestSharedCORSThroughAPI: the CORS middleware wraps the whole API
// outside authentication: preflights need no token even with Keystone,
// and the answers of authentication carry the CORS headers.
func TestSharedCORSThroughAPI(t *testing.T) {
	const origin = "https://dash.example.com"
	s := newServer(t, func(o *Options) {
		o.SignedURLKey = shareKey
		o.Auth = closedKeystone(t)
		o.CORS = DefaultCORSOptions()
		o.CORS.AllowedOrigin = []string{origin}
	})
	browser := []string{"Client-ID: -", "X-Project-ID: -", "Content-Type: -"}
	preflight := func(o, method, headers string) []string {
		return append(slices.Clone(browser), "Origin: "+o, "Access-Control-Request-Method: "+method, "Access-Control-Request-Headers: "+headers)
	}
	cors := func(r reply) map[string]string {
		got := map[string]string{}
		for k, v := range r.headers {
			if k == "Vary" || strings.HasPrefix(k, "Access-Control-") {
				got[k] = v
			}
		}
		return got
	}
	expose := "X-Auth-Token,X-Subject-Token,X-Service-Token,X-OpenStack-Request-ID"
	actual := map[string]string{"Vary": "Origin", "Access-Control-Allow-Origin": origin,
		"Access-Control-Allow-Credentials": "true", "Access-Control-Expose-Headers": expose}

	for _, path := range []string{"/v2/queues/q/messages", "/v2/queues", "/v2/health", "/v2/queues/q/subscriptions/s/confirm"} {
		r := s.do("OPTIONS", path, "", preflight(origin, "PUT", "X-Auth-Token, Client-ID, Content-Type")...)
		if r.status != fasthttp.StatusOK || r.body != "" || r.headers["Www-Authenticate"] != "" {
			t.Errorf("preflight %s: %d %q %v", path, r.status, r.body, r.headers)
		}
		want := map[string]string{"Vary": "Origin", "Access-Control-Allow-Origin": origin, "Access-Control-Allow-Credentials": "true",
			"Access-Control-Max-Age": "3600", "Access-Control-Allow-Methods": "PUT", "Access-Control-Allow-Headers": "X-Auth-Token,Client-ID,Content-Type"}
		if got := cors(r); !maps.Equal(got, want) {
			t.Errorf("preflight %s: CORS headers %v, want %v", path, got, want)
		}
	}
	// fasthttp's client reports a default Content-Type when there is
	// none: read the wire.
	conn, err := s.client.Dial("zaqar")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "OPTIONS /v2/queues/q/messages HTTP/1.1\r\nHost: zaqar\r\nOrigin: %s\r\nAccess-Control-Request-Method: POST\r\n\r\n", origin)
	wire, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	wire.Body.Close()
	if _, ct := wire.Header["Content-Type"]; wire.StatusCode != 200 || ct || wire.Header.Get("Access-Control-Allow-Origin") != origin || wire.Header.Get("Www-Authenticate") != "" {
		t.Errorf("preflight on the wire: %d %v", wire.StatusCode, wire.Header)
	}

	r := s.do("OPTIONS", "/v2/queues/q/messages", "", preflight("https://evil.example.com", "GET", "X-Auth-Token")...)
	if got := cors(r); r.status != fasthttp.StatusOK || r.headers["Www-Authenticate"] != "" || len(got) != 0 {
		t.Errorf("preflight from another origin: %d %v", r.status, r.headers)
	}
	r = s.do("OPTIONS", "/v2/queues/q/messages", "", preflight(origin, "GET", "X-Evil")...)
	if got := cors(r); r.status != fasthttp.StatusOK || len(got) != 0 {
		t.Errorf("preflight with a header not allowed: %d %v", r.status, got)
	}

	signed := fromSigned(signedurl.Sign(shareKey, []string{"/v2/queues/q/messages"}, []string{"GET"}, "proj", time.Now().Add(time.Hour)))
	for _, c := range []struct {
		name   string
		hdrs   []string
		status int
		cors   map[string]string
	}{
		{"no token, allowed origin", []string{"Origin: " + origin}, 401, actual},
		{"no token, identity headers, allowed origin", []string{"Origin: " + origin, "X-Roles: admin"}, 401, actual},
		{"token Keystone cannot check, allowed origin", []string{"Origin: " + origin, "X-Auth-Token: gAAAAAB-x"}, 503, actual},
		{"signed, allowed origin", signed.headers("Origin: " + origin), 200, actual},
		{"signed for another project, allowed origin", signed.headers("Origin: "+origin, "X-Project-ID: other"), 404, actual},
		{"no token, another origin", []string{"Origin: https://evil.example.com"}, 401, map[string]string{}},
		{"signed, another origin", signed.headers("Origin: https://evil.example.com"), 200, map[string]string{}},
		{"no token, no origin", nil, 401, map[string]string{}},
	} {
		r := s.expect(c.name, s.do("GET", "/v2/queues/q/messages", "", c.hdrs...), c.status)
		if got := cors(r); !maps.Equal(got, c.cors) {
			t.Errorf("%s: CORS headers %v, want %v", c.name, got, c.cors)
		}
		if c.status == 401 && r.headers["Www-Authenticate"] != `Keystone uri="http://keystone.example:5000"` {
			t.Errorf("%s: WWW-Authenticate %q", c.name, r.headers["Www-Authenticate"])
		}
	}
}
