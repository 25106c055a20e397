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
// [keystone_authtoken]) and the policy ([oslo_policy]); sources are the
// configuration files read.
func accessOptions(a config.AuthSettings, sources []string, logger *slog.Logger, o *httpapi.Options) error {
	enforcer, err := loadPolicy(a.PolicyFile, sources, logger)
	if err != nil {
		return err
	}
	o.Policy = enforcer
	switch a.Strategy {
	case config.AuthKeystone:
		v, err := newValidator(a, logger)
		if err != nil {
			return err
		}
		o.Auth = v
		logger.Info("authentication: keystone", "auth_url", a.Keystone.AuthURL,
			"token_cache_time", int64(a.Keystone.TokenCacheTime/time.Second))
	default:
		logger.Warn("authentication is OFF ([DEFAULT] auth_strategy is empty): X-Project-ID and X-Roles are trusted as sent, " +
			"so any client can act as any project or as admin; set auth_strategy = keystone unless every client is trusted")
	}
	return nil
}

// loadPolicy reads [oslo_policy] policy_file: an absolute path, or one
// looked up beside the configuration files (sources) and in config.Dir.
// The default name may be absent (Zaqar's defaults apply); a file named by
// the operator must exist, and one that does not parse stops start-up
// with its line.
func loadPolicy(name string, sources []string, logger *slog.Logger) (*policy.Enforcer, error) {
	var candidates []string
	if filepath.IsAbs(name) {
		candidates = []string{name}
	} else {
		for _, src := range sources {
			candidates = append(candidates, filepath.Join(filepath.Dir(src), name))
		}
		candidates = append(candidates, filepath.Join(config.Dir, name))
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
	if name != config.DefaultPolicyFile {
		return nil, fmt.Errorf("%w: [oslo_policy] policy_file %q not found (looked in %v)", errConfig, name, candidates)
	}
	return policy.Default(), nil
}

func newValidator(a config.AuthSettings, logger *slog.Logger) (*keystone.Validator, error) {
	const k = "keystone_authtoken"
	o := a.Keystone
	if o.WWWAuthenticateURI == "" {
		o.WWWAuthenticateURI = a.DeprecatedAuthURI
	}
	client, err := keystoneClient(a.CAFile, a.Insecure, o.HTTPConnectTimeout)
	if err != nil {
		return nil, fmt.Errorf("%w: [%s] %v", errConfig, k, err)
	}
	o.HTTPClient, o.Logger = client, logger
	v, err := keystone.New(o)
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
