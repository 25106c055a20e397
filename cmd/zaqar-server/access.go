package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/zaqar-go/zaqar/config"
	"github.com/zaqar-go/zaqar/httpapi"
	"github.com/zaqar-go/zaqar/keystone"
	"github.com/zaqar-go/zaqar/policy"
)

// accessOptions sets authentication ([DEFAULT] auth_strategy,
// [keystone_authtoken]), the policy ([oslo_policy]) and CORS ([cors]).
func accessOptions(cfg *config.Config, logger *slog.Logger, o *httpapi.Options) error {
	enforcer, err := loadPolicy(cfg, logger)
	if err != nil {
		return err
	}
	o.Policy = enforcer
	switch cfg.String("DEFAULT", "auth_strategy") {
	case "keystone":
		v, err := newValidator(cfg, logger)
		if err != nil {
			return err
		}
		o.Auth = v
		logger.Info("authentication: keystone", "auth_url", cfg.String("keystone_authtoken", "auth_url"),
			"token_cache_time", cfg.Int("keystone_authtoken", "token_cache_time"))
	default:
		logger.Warn("authentication is OFF ([DEFAULT] auth_strategy is empty): X-Project-ID and X-Roles are trusted as sent, " +
			"so any client can act as any project or as admin; set auth_strategy = keystone unless every client is trusted")
	}
	const c = "cors"
	o.CORS = httpapi.CORSOptions{
		AllowedOrigin: cfg.List(c, "allowed_origin"), AllowCredentials: cfg.Bool(c, "allow_credentials"),
		ExposeHeaders: cfg.List(c, "expose_headers"), MaxAge: int(cfg.Int(c, "max_age")),
		AllowMethods: cfg.List(c, "allow_methods"), AllowHeaders: cfg.List(c, "allow_headers"),
	}
	return nil
}

// loadPolicy reads [oslo_policy] policy_file: an absolute path, or one
// looked up beside the configuration files and in /etc/zaqar. The default
// name may be absent (Zaqar's defaults apply); a file named by the operator
// must exist, and one that does not parse stops start-up with its line.
func loadPolicy(cfg *config.Config, logger *slog.Logger) (*policy.Enforcer, error) {
	name := cfg.String("oslo_policy", "policy_file")
	var candidates []string
	if filepath.IsAbs(name) {
		candidates = []string{name}
	} else {
		for _, src := range cfg.Sources {
			candidates = append(candidates, filepath.Join(filepath.Dir(src), name))
		}
		candidates = append(candidates, filepath.Join("/etc/zaqar", name))
	}
	for _, path := range candidates {
		if _, err := os.Stat(path); err != nil {
			continue
		}
		e, err := policy.Load(path)
		if err != nil {
			return nil, fmt.Errorf("%w: [oslo_policy] policy_file: %v", errConfig, err)
		}
		logger.Info("policy rules loaded", "policy_file", path)
		return e, nil
	}
	if name != "policy.yaml" {
		return nil, fmt.Errorf("%w: [oslo_policy] policy_file %q not found (looked in %v)", errConfig, name, candidates)
	}
	return policy.Default(), nil
}

func newValidator(cfg *config.Config, logger *slog.Logger) (*keystone.Validator, error) {
	const k = "keystone_authtoken"
	www := cfg.String(k, "www_authenticate_uri")
	if www == "" {
		www = cfg.String(k, "auth_uri")
	}
	cacheTime := time.Duration(cfg.Int(k, "token_cache_time")) * time.Second
	if cacheTime == 0 {
		cacheTime = -1 // 0 would mean the default; keystonemiddleware reads it as no caching
	}
	timeout := time.Duration(cfg.Int(k, "http_connect_timeout")) * time.Second
	client, err := keystoneClient(cfg.String(k, "cafile"), cfg.Bool(k, "insecure"), timeout)
	if err != nil {
		return nil, fmt.Errorf("%w: [%s] %v", errConfig, k, err)
	}
	v, err := keystone.New(keystone.Options{
		AuthURL: cfg.String(k, "auth_url"), Username: cfg.String(k, "username"), Password: cfg.String(k, "password"),
		ProjectName: cfg.String(k, "project_name"), UserDomainName: cfg.String(k, "user_domain_name"),
		UserDomainID: cfg.String(k, "user_domain_id"), ProjectDomainName: cfg.String(k, "project_domain_name"),
		ProjectDomainID: cfg.String(k, "project_domain_id"), WWWAuthenticateURI: www, TokenCacheTime: cacheTime,
		CacheSize: int(cfg.Int(k, "token_cache_size")), HTTPConnectTimeout: timeout,
		ServiceType: cfg.String(k, "service_type"), HTTPClient: client, Logger: logger,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: [%s] %v", errConfig, k, err)
	}
	return v, nil
}

// keystoneClient is the HTTP client for Keystone, with the operator's CA
// bundle when one is given.
func keystoneClient(cafile string, insecure bool, timeout time.Duration) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 16
	if cafile != "" || insecure {
		tc := &tls.Config{InsecureSkipVerify: insecure}
		if cafile != "" {
			pem, err := os.ReadFile(cafile)
			if err != nil {
				return nil, fmt.Errorf("cafile: %w", err)
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("cafile %s: no PEM certificates", cafile)
			}
		}
		tr.TLSClientConfig = tc
	}
	return &http.Client{Timeout: timeout, Transport: tr}, nil
}
