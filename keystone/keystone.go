package keystone

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/sync/singleflight"
)

// Errors of Validate; callers answer 401 and 503 for them.
var (
	// ErrInvalidToken: missing, unknown, revoked, expired or unscoped token,
	// or access rules that do not cover the request.
	ErrInvalidToken = errors.New("keystone: the token is not valid for this service")
	// ErrUnavailable: Keystone gave no usable answer.
	ErrUnavailable = errors.New("keystone: the identity service is unavailable")
)

// Defaults of Options (keystonemiddleware's where it has one).
const (
	DefaultDomain         = "Default"
	DefaultTokenCacheTime = 300 * time.Second
	DefaultCacheSize      = 10000
	DefaultHTTPTimeout    = 5 * time.Second
	DefaultServiceType    = "messaging"
)

// Options are [keystone_authtoken]'s options (keystonemiddleware's names in
// the field comments).
type Options struct {
	AuthURL            string        // auth_url: Keystone's endpoint, with or without /v3
	Username           string        // username of the service user
	Password           string        // password
	ProjectName        string        // project_name of the service user's scope
	UserDomainName     string        // user_domain_name
	UserDomainID       string        // user_domain_id (wins over the name)
	ProjectDomainName  string        // project_domain_name
	ProjectDomainID    string        // project_domain_id (wins over the name)
	WWWAuthenticateURI string        // www_authenticate_uri: told to clients in 401s (default AuthURL)
	TokenCacheTime     time.Duration // token_cache_time; negative = no caching
	CacheSize          int           // token_cache_size: most cached tokens
	HTTPConnectTimeout time.Duration // http_connect_timeout: the whole request to Keystone
	ServiceType        string        // service_type: matched against access rules

	HTTPClient *http.Client     // nil = one built from HTTPConnectTimeout
	Now        func() time.Time // nil = time.Now (tests move the clock)
	Logger     *slog.Logger
}

// Identity is what a valid token says about its holder.
type Identity struct {
	UserID, UserName, UserDomainID          string
	ProjectID, ProjectName, ProjectDomainID string
	Roles                                   []string
	ExpiresAt                               time.Time
	// restricted tokens (application credentials with access rules) may
	// only make the requests rules lists.
	restricted bool
	rules      []accessRule
}

// Restricted reports whether the token carries access rules, so that
// callers build the method and path for Permits only then.
func (id *Identity) Restricted() bool { return id.restricted }

// Permits reports whether the token may make this request: always, unless
// it carries access rules, which must then list the method and path.
func (id *Identity) Permits(method, path string) bool {
	if !id.restricted {
		return true
	}
	for _, r := range id.rules {
		if r.method == method && r.path.MatchString(path) {
			return true
		}
	}
	return false
}

// Validator validates user tokens against Keystone. It is safe for
// concurrent use.
type Validator struct {
	opts     Options
	identity string // AuthURL ending in /v3
	client   *http.Client
	now      func() time.Time
	log      *slog.Logger

	valid   *lru.Cache[[sha256.Size]byte, cached]
	invalid *lru.Cache[[sha256.Size]byte, time.Time] // until when a token is known bad
	flight  singleflight.Group

	svcMu      sync.Mutex // serialises service token refreshes
	svcToken   string
	svcExpires time.Time
}

type cached struct {
	id    *Identity
	until time.Time
}

// New checks the options and builds a Validator; it does not contact
// Keystone (the service token is fetched on first use, so the server starts
// while Keystone is down and serves as soon as it is back).
func New(o Options) (*Validator, error) {
	if o.AuthURL == "" || o.Username == "" || o.Password == "" || o.ProjectName == "" {
		return nil, errors.New("keystone: auth_url, username, password and project_name are required")
	}
	if !strings.HasPrefix(o.AuthURL, "http://") && !strings.HasPrefix(o.AuthURL, "https://") {
		return nil, fmt.Errorf("keystone: auth_url %q is not an http(s) URL", o.AuthURL)
	}
	if o.UserDomainName == "" {
		o.UserDomainName = DefaultDomain
	}
	if o.ProjectDomainName == "" {
		o.ProjectDomainName = DefaultDomain
	}
	if o.TokenCacheTime == 0 {
		o.TokenCacheTime = DefaultTokenCacheTime
	}
	if o.CacheSize <= 0 {
		o.CacheSize = DefaultCacheSize
	}
	if o.HTTPConnectTimeout <= 0 {
		o.HTTPConnectTimeout = DefaultHTTPTimeout
	}
	if o.ServiceType == "" {
		o.ServiceType = DefaultServiceType
	}
	identity := strings.TrimRight(o.AuthURL, "/")
	if !strings.HasSuffix(identity, "/v3") {
		identity += "/v3"
	}
	if o.WWWAuthenticateURI == "" {
		o.WWWAuthenticateURI = strings.TrimSuffix(identity, "/v3")
	}
	v := &Validator{opts: o, identity: identity, client: o.HTTPClient, now: o.Now, log: o.Logger}
	if v.client == nil {
		v.client = &http.Client{Timeout: o.HTTPConnectTimeout, Transport: &http.Transport{
			MaxIdleConnsPerHost: 16, IdleConnTimeout: 90 * time.Second, Proxy: http.ProxyFromEnvironment}}
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.log == nil {
		v.log = slog.Default()
	}
	var err error
	if v.valid, err = lru.New[[sha256.Size]byte, cached](o.CacheSize); err != nil {
		return nil, err
	}
	// Bad tokens get a cache of their own, so a flood of them cannot evict
	// the good ones.
	if v.invalid, err = lru.New[[sha256.Size]byte, time.Time](max(o.CacheSize/4, 1)); err != nil {
		return nil, err
	}
	return v, nil
}

// WWWAuthenticate is the value of the WWW-Authenticate header of 401s.
func (v *Validator) WWWAuthenticate() string {
	return `Keystone uri="` + v.opts.WWWAuthenticateURI + `"`
}

// Validate returns the identity of a user token, from the cache when it was
// validated less than token_cache_time ago and has not expired.
func (v *Validator) Validate(token []byte) (*Identity, error) {
	token = trimSpace(token)
	if len(token) == 0 {
		return nil, ErrInvalidToken
	}
	key := sha256.Sum256(token)
	now := v.now()
	if c, ok := v.valid.Get(key); ok && now.Before(c.until) {
		return c.id, nil
	}
	if until, ok := v.invalid.Get(key); ok && now.Before(until) {
		return nil, ErrInvalidToken
	}
	res, err, _ := v.flight.Do(string(key[:]), func() (any, error) {
		id, err := v.fetch(string(token))
		now := v.now()
		switch {
		case err == nil:
			until := now.Add(v.opts.TokenCacheTime)
			if id.ExpiresAt.Before(until) {
				until = id.ExpiresAt
			}
			if v.opts.TokenCacheTime > 0 {
				v.valid.Add(key, cached{id: id, until: until})
			}
			v.invalid.Remove(key)
		case errors.Is(err, ErrInvalidToken):
			if v.opts.TokenCacheTime > 0 {
				v.invalid.Add(key, now.Add(v.opts.TokenCacheTime))
			}
			v.valid.Remove(key)
		}
		return id, err
	})
	if err != nil {
		return nil, err
	}
	return res.(*Identity), nil
}

// fetch validates a token with Keystone, renewing the service token once if
// Keystone no longer accepts it.
func (v *Validator) fetch(token string) (*Identity, error) {
	for attempt := 0; ; attempt++ {
		svc, err := v.serviceToken(attempt > 0)
		if err != nil {
			return nil, err
		}
		id, err := v.validateWith(context.Background(), svc, token)
		if errors.Is(err, errServiceRejected) && attempt == 0 {
			continue
		}
		if errors.Is(err, errServiceRejected) {
			v.log.Error("keystone refuses the service credentials", "username", v.opts.Username, "err", err)
			return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		return id, err
	}
}

// serviceToken returns the service token, fetching a new one when there is
// none, it expires within a minute, or renew is set.
func (v *Validator) serviceToken(renew bool) (string, error) {
	v.svcMu.Lock()
	defer v.svcMu.Unlock()
	if !renew && v.svcToken != "" && v.now().Add(time.Minute).Before(v.svcExpires) {
		return v.svcToken, nil
	}
	tok, expires, err := v.authenticate(context.Background())
	if err != nil {
		v.svcToken = ""
		return "", err
	}
	v.svcToken, v.svcExpires = tok, expires
	return tok, nil
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}
