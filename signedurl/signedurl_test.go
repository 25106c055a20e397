package signedurl

import (
	"testing"
	"time"
)

// The test vector from Zaqar's behaviour (spec §1.12).
func TestZaqarVector(t *testing.T) {
	exp := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	got := Signature("secret", []string{"/v2/queues/shared/messages", "/v2/queues/shared/claims"}, []string{"POST", "GET"}, "7e7e7e", exp)
	if want := "338f62926a96e22c597a0dbde23cbca09c56e91d4e8432e6a1b70752250635d4"; got != want {
		t.Fatalf("signature %s, want %s", got, want)
	}
}

func TestVerify(t *testing.T) {
	now := time.Date(2029, 6, 1, 0, 0, 0, 0, time.UTC)
	exp := now.Add(time.Hour)
	s := Sign("k", []string{"/v2/queues/q/messages"}, []string{"GET", "POST"}, "p", exp)
	ok := func(method, path, sig, project string, at time.Time) error {
		return Verify("k", method, path, sig, exp.Format(ExpiresFormat), "GET,POST", "/v2/queues/q/messages", project, at)
	}
	if err := ok("GET", "/v2/queues/q/messages", s.Signature, "p", now); err != nil {
		t.Fatalf("valid: %v", err)
	}
	if err := ok("GET", "/v2/queues/q/messages/abc", s.Signature, "p", now); err != nil {
		t.Fatalf("item under a signed collection: %v", err)
	}
	for name, err := range map[string]error{
		"wrong method":    ok("DELETE", "/v2/queues/q/messages", s.Signature, "p", now),
		"other path":      ok("GET", "/v2/queues/other/messages", s.Signature, "p", now),
		"other project":   ok("GET", "/v2/queues/q/messages", s.Signature, "x", now),
		"expired":         ok("GET", "/v2/queues/q/messages", s.Signature, "p", exp.Add(time.Second)),
		"tampered":        ok("GET", "/v2/queues/q/messages", s.Signature[:60]+"0000", "p", now),
		"no key":          Verify("", "GET", "/v2/queues/q/messages", s.Signature, exp.Format(ExpiresFormat), "GET", "/v2/queues/q/messages", "p", now),
		"garbage expires": Verify("k", "GET", "/v2/queues/q/messages", s.Signature, "soon", "GET", "/v2/queues/q/messages", "p", now),
	} {
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// Listed paths are literal: regular-expression characters in queue names
// and prefixes of other names open nothing more.
func TestVerifyPathsAreLiteral(t *testing.T) {
	now := time.Date(2029, 6, 1, 0, 0, 0, 0, time.UTC)
	exp := now.Add(time.Hour)
	for _, c := range []struct {
		signed, path string
		want         bool
	}{
		{"/v2/queues/a.b/messages", "/v2/queues/a.b/messages", true},
		{"/v2/queues/a.b/messages", "/v2/queues/aXb/messages", false},
		{"/v2/queues/q/messages", "/v2/queues/q/messages2", false},
		{"/v2/queues/q", "/v2/queues/q2/messages", false},
		{"/v2/queues/q/subscriptions/s1/confirm", "/v2/queues/q/subscriptions/s1/confirm", true},
		{"/v2/queues/q/subscriptions/s1/confirm", "/v2/queues/q/subscriptions/s1", false},
		{".*", "/v2/queues/q/messages", false},
	} {
		s := Sign("k", []string{c.signed}, []string{"GET"}, "p", exp)
		err := Verify("k", "GET", c.path, s.Signature, exp.Format(ExpiresFormat), "GET", c.signed, "p", now)
		if (err == nil) != c.want {
			t.Errorf("signed %q, request %q: err %v, want accepted=%v", c.signed, c.path, err, c.want)
		}
	}
}

// FuzzVerify: no header values make verification panic or accept a
// request that was not signed with the key.
func FuzzVerify(f *testing.F) {
	f.Add("PUT", "/v2/queues/q/subscriptions/x/confirm", "00", "2030-01-01T00:00:00", "PUT", "/v2/queues/q", "p")
	f.Add("GET", "/", "", "bad", ",,,", "(", "")
	f.Fuzz(func(t *testing.T, method, path, sig, expires, methods, paths, project string) {
		now := time.Date(2029, 1, 1, 0, 0, 0, 0, time.UTC)
		if Verify("k", method, path, sig, expires, methods, paths, project, now) == nil {
			exp, err := time.Parse(ExpiresFormat, expires)
			if err != nil {
				exp, _ = time.Parse(time.RFC3339, expires)
			}
			if sig != Signature("k", split(paths), split(methods), project, exp) {
				t.Fatalf("accepted a signature that is not the key's")
			}
		}
	})
}
