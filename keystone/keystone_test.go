package keystone

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zaqar-go/zaqar/internal/testenv"
)

// Service and user credentials the fixture creates in Keystone.
const (
	servicePassword = "zaqar-service-secret"
	userPassword    = "user-secret"
)

// fixture is a real Keystone with a service user ("zaqar", role service on
// project "service"), members alice (project-a) and bob (project-b), and a
// counting proxy in front of it.
type fixture struct {
	ks    *testenv.Keystone
	proxy *countingProxy
}

func newFixture(t *testing.T) *fixture {
	ks := testenv.StartKeystone(t)
	ks.User("zaqar", servicePassword, "service", "service")
	ks.User("alice", userPassword, "project-a", "member")
	ks.User("bob", userPassword, "project-b", "member")
	return &fixture{ks: ks, proxy: newCountingProxy(t, ks.URL())}
}

func (f *fixture) options() Options {
	return Options{AuthURL: f.proxy.URL, Username: "zaqar", Password: servicePassword, ProjectName: "service",
		// Far above the default: a loaded machine can starve Keystone's single
		// uwsgi worker for seconds. Tests of the timeout set their own.
		HTTPConnectTimeout: 20 * time.Second,
		Logger:             slog.New(slog.NewTextHandler(io.Discard, nil))}
}

func (f *fixture) validator(t *testing.T, mut func(*Options)) *Validator {
	t.Helper()
	o := f.options()
	if mut != nil {
		mut(&o)
	}
	v, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// countingProxy forwards to Keystone, counting token validations and
// service authentications; hold, when set, decides how long a validation
// waits before it is forwarded.
type countingProxy struct {
	URL         string
	validations atomic.Int64
	authentics  atomic.Int64
	mu          sync.Mutex
	hold        func(r *http.Request)
}

func newCountingProxy(t *testing.T, identity string) *countingProxy {
	target, _ := url.Parse(identity)
	target.Path = ""
	p := &countingProxy{}
	rp := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v3/auth/tokens" {
			switch r.Method {
			case http.MethodGet:
				p.validations.Add(1)
				p.mu.Lock()
				hold := p.hold
				p.mu.Unlock()
				if hold != nil {
					hold(r)
				}
			case http.MethodPost:
				p.authentics.Add(1)
			}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

func (p *countingProxy) setHold(h func(*http.Request)) {
	p.mu.Lock()
	p.hold = h
	p.mu.Unlock()
}

func TestKeystone(t *testing.T) {
	f := newFixture(t)
	alice := f.ks.Token("alice", userPassword, "project-a")

	t.Run("valid token gives the token's identity", func(t *testing.T) {
		v := f.validator(t, nil)
		id, err := v.Validate([]byte(alice))
		if err != nil {
			t.Fatal(err)
		}
		if id.ProjectID != f.ks.Project("project-a") || id.ProjectName != "project-a" || id.UserName != "alice" {
			t.Fatalf("identity %+v", id)
		}
		if !slices.Contains(id.Roles, "member") || slices.Contains(id.Roles, "admin") {
			t.Fatalf("roles %v", id.Roles)
		}
		if id.ExpiresAt.Before(time.Now()) || !id.Permits("DELETE", "/v2/queues/q") {
			t.Fatalf("expiry %v or permits", id.ExpiresAt)
		}
	})

	t.Run("invalid, empty and unscoped tokens are refused", func(t *testing.T) {
		v := f.validator(t, nil)
		unscoped := f.ks.UnscopedToken("alice", userPassword)
		for _, tok := range []string{"", "   ", "not-a-token", alice + "x", unscoped} {
			if _, err := v.Validate([]byte(tok)); !errors.Is(err, ErrInvalidToken) {
				t.Errorf("token %.20q: err %v, want ErrInvalidToken", tok, err)
			}
		}
	})

	t.Run("a busy client costs one validation per cache period", func(t *testing.T) {
		clk := testenv.NewClock(time.Now())
		v := f.validator(t, func(o *Options) { o.Now = clk.Now; o.TokenCacheTime = time.Minute })
		before := f.proxy.validations.Load()
		for i := 0; i < 100; i++ {
			if _, err := v.Validate([]byte(alice)); err != nil {
				t.Fatal(err)
			}
		}
		if n := f.proxy.validations.Load() - before; n != 1 {
			t.Fatalf("%d validations for 100 uses, want 1", n)
		}
		clk.Add(61 * time.Second)
		if _, err := v.Validate([]byte(alice)); err != nil {
			t.Fatal(err)
		}
		if n := f.proxy.validations.Load() - before; n != 2 {
			t.Fatalf("%d validations after the cache period, want 2", n)
		}
		// Bad tokens are remembered too, so a client retrying one does
		// not hammer Keystone.
		before = f.proxy.validations.Load()
		for i := 0; i < 10; i++ {
			v.Validate([]byte("bogus-token"))
		}
		if n := f.proxy.validations.Load() - before; n != 1 {
			t.Fatalf("%d validations for 10 uses of a bad token, want 1", n)
		}
	})

	t.Run("concurrent first uses make one request", func(t *testing.T) {
		v := f.validator(t, nil)
		tok := f.ks.Token("bob", userPassword, "project-b")
		// The first validation is held until every caller has started
		// and had time to make requests of its own if they were not
		// shared; a second request releases it at once (and fails).
		var started sync.WaitGroup
		started.Add(50)
		release := make(chan struct{})
		var once sync.Once
		f.proxy.setHold(func(*http.Request) {
			once.Do(func() {
				started.Wait()
				select {
				case <-release:
				case <-time.After(300 * time.Millisecond): // proving an absence needs a bound
				}
			})
		})
		defer f.proxy.setHold(nil)
		before := f.proxy.validations.Load()
		var done sync.WaitGroup
		var failures atomic.Int64
		for i := 0; i < 50; i++ {
			done.Add(1)
			go func() {
				defer done.Done()
				started.Done()
				if _, err := v.Validate([]byte(tok)); err != nil {
					failures.Add(1)
				}
			}()
		}
		done.Wait()
		close(release)
		if n := f.proxy.validations.Load() - before; n != 1 || failures.Load() != 0 {
			t.Fatalf("%d validations, %d failures for 50 concurrent first uses; want 1, 0", n, failures.Load())
		}
	})

	t.Run("a revoked token is refused once the cache period passes", func(t *testing.T) {
		clk := testenv.NewClock(time.Now())
		v := f.validator(t, func(o *Options) { o.Now = clk.Now; o.TokenCacheTime = 30 * time.Second })
		tok := f.ks.Token("alice", userPassword, "project-a")
		if _, err := v.Validate([]byte(tok)); err != nil {
			t.Fatal(err)
		}
		f.ks.Revoke(tok)
		if _, err := v.Validate([]byte(tok)); err != nil {
			t.Fatalf("within the cache period: %v", err)
		}
		clk.Add(31 * time.Second)
		if _, err := v.Validate([]byte(tok)); !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("after the cache period: %v, want ErrInvalidToken", err)
		}
	})

	t.Run("the cache never outlives the token", func(t *testing.T) {
		clk := testenv.NewClock(time.Now())
		v := f.validator(t, func(o *Options) { o.Now = clk.Now; o.TokenCacheTime = 48 * time.Hour })
		id, err := v.Validate([]byte(alice))
		if err != nil {
			t.Fatal(err)
		}
		clk.Add(id.ExpiresAt.Sub(clk.Now()) + time.Second)
		if _, err := v.Validate([]byte(alice)); !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("past the token's expiry: %v, want ErrInvalidToken", err)
		}
	})

	t.Run("wrong service credentials are unavailability, not invalid tokens", func(t *testing.T) {
		v := f.validator(t, func(o *Options) { o.Password = "wrong" })
		if _, err := v.Validate([]byte(alice)); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("err %v, want ErrUnavailable", err)
		}
	})

	t.Run("a revoked service token is renewed", func(t *testing.T) {
		v := f.validator(t, nil)
		if _, err := v.Validate([]byte(alice)); err != nil {
			t.Fatal(err)
		}
		// Disabling a user revokes its tokens, the validator's service
		// token among them.
		svc := f.ks.User("zaqar", servicePassword, "service")
		f.ks.Call(adminToken(f), "PATCH", "/users/"+svc, map[string]any{"user": map[string]any{"enabled": false}}, nil)
		f.ks.Call(adminToken(f), "PATCH", "/users/"+svc, map[string]any{"user": map[string]any{"enabled": true}}, nil)
		waitUntilTokensOutliveRevocation(t, f)
		before := f.proxy.authentics.Load()
		if _, err := v.Validate([]byte(f.ks.Token("bob", userPassword, "project-b"))); err != nil {
			t.Fatalf("after the service token was revoked: %v", err)
		}
		if n := f.proxy.authentics.Load() - before; n != 1 {
			t.Fatalf("%d service authentications, want 1", n)
		}
	})

	t.Run("a slow Keystone is unavailability", func(t *testing.T) {
		v := f.validator(t, func(o *Options) { o.HTTPConnectTimeout = 200 * time.Millisecond })
		f.proxy.setHold(func(r *http.Request) { <-r.Context().Done() })
		defer f.proxy.setHold(nil)
		start := time.Now()
		_, err := v.Validate([]byte(f.ks.Token("bob", userPassword, "project-b")))
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("err %v, want ErrUnavailable", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("took %v with a 200 ms timeout", d)
		}
	})

	t.Run("application credential access rules restrict the token", func(t *testing.T) {
		v := f.validator(t, nil)
		uid := f.ks.User("alice", userPassword, "project-a")
		var out struct {
			ApplicationCredential struct{ ID, Secret string } `json:"application_credential"`
		}
		f.ks.Call(alice, "POST", "/users/"+uid+"/application_credentials", map[string]any{"application_credential": map[string]any{
			"name": "reader", "access_rules": []map[string]string{
				{"service": "messaging", "method": "GET", "path": "/v2/queues/*/messages"},
				{"service": "compute", "method": "POST", "path": "/v2.1/servers"},
			}}}, &out)
		tok := f.ks.AppCredentialToken(out.ApplicationCredential.ID, out.ApplicationCredential.Secret)
		id, err := v.Validate([]byte(tok))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			method, path string
			want         bool
		}{
			{"GET", "/v2/queues/q1/messages", true},
			{"POST", "/v2/queues/q1/messages", false},
			{"GET", "/v2/queues/q1/messages/abc", false},
			{"GET", "/v2/queues", false},
			{"POST", "/v2.1/servers", false},
		} {
			if got := id.Permits(c.method, c.path); got != c.want {
				t.Errorf("Permits(%s %s) = %v, want %v", c.method, c.path, got, c.want)
			}
		}
	})
}

// waitUntilTokensOutliveRevocation waits until a new token of the service
// user validates: Keystone revokes by the second, so tokens issued in the
// second of a revocation are revoked too.
func waitUntilTokensOutliveRevocation(t *testing.T, f *fixture) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		tok := f.ks.Token("zaqar", servicePassword, "service")
		req, _ := http.NewRequest("GET", f.ks.URL()+"/auth/tokens?nocatalog", nil)
		req.Header.Set("X-Auth-Token", tok)
		req.Header.Set("X-Subject-Token", tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return
		}
		time.Sleep(100 * time.Millisecond) // polling Keystone's clock
	}
	t.Fatal("new service tokens still revoked after 10 s")
}

func adminToken(f *fixture) string {
	return f.ks.Token("admin", testenv.KeystoneAdminPassword, "admin")
}

func TestKeystoneOutage(t *testing.T) {
	f := newFixture(t)
	v := f.validator(t, nil)
	cached := f.ks.Token("alice", userPassword, "project-a")
	fresh := f.ks.Token("bob", userPassword, "project-b")
	if _, err := v.Validate([]byte(cached)); err != nil {
		t.Fatal(err)
	}
	f.ks.Stop()
	if _, err := v.Validate([]byte(fresh)); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Keystone stopped: %v, want ErrUnavailable", err)
	}
	if _, err := v.Validate([]byte(cached)); err != nil {
		t.Fatalf("a cached token while Keystone is stopped: %v", err)
	}
	f.ks.Start()
	if _, err := v.Validate([]byte(fresh)); err != nil {
		t.Fatalf("Keystone restarted: %v", err)
	}
}

func TestAccessPath(t *testing.T) {
	for _, c := range []struct {
		pattern, path string
		want          bool
	}{
		{"/v2/queues", "/v2/queues", true},
		{"/v2/queues", "/v2/queues/q", false},
		{"/v2/queues/*", "/v2/queues/q", true},
		{"/v2/queues/*", "/v2/queues/q/messages", false},
		{"/v2/queues/{queue}/messages", "/v2/queues/q/messages", true},
		{"/v2/queues/**", "/v2/queues/q/messages/m", true},
		{"/v2/queues/a.b", "/v2/queues/aXb", false},
		{"/v2/{", "/v2/{", true},
	} {
		if got := accessPath(c.pattern).MatchString(c.path); got != c.want {
			t.Errorf("%q against %q = %v, want %v", c.pattern, c.path, got, c.want)
		}
	}
}

func TestOptions(t *testing.T) {
	if _, err := New(Options{AuthURL: "http://k", Username: "u", Password: "p"}); err == nil {
		t.Error("missing project_name accepted")
	}
	if _, err := New(Options{AuthURL: "k:5000", Username: "u", Password: "p", ProjectName: "s"}); err == nil {
		t.Error("auth_url without scheme accepted")
	}
	v, err := New(Options{AuthURL: "http://k:5000/", Username: "u", Password: "p", ProjectName: "s"})
	if err != nil {
		t.Fatal(err)
	}
	if v.identity != "http://k:5000/v3" || v.WWWAuthenticate() != `Keystone uri="http://k:5000"` {
		t.Fatalf("identity %q, header %q", v.identity, v.WWWAuthenticate())
	}
}
