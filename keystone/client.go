package keystone

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"time"
)

// errServiceRejected: Keystone answered 401 to the service token itself.
var errServiceRejected = errors.New("keystone: service token rejected")

// maxTokenBody bounds what is read of Keystone's answers (a token with a
// catalogue is a few KiB; nocatalog answers are smaller).
const maxTokenBody = 1 << 20

// authenticate obtains a project-scoped service token with the password
// method (auth_type = password).
func (v *Validator) authenticate(ctx context.Context) (string, time.Time, error) {
	o := v.opts
	body := map[string]any{"auth": map[string]any{
		"identity": map[string]any{
			"methods": []string{"password"},
			"password": map[string]any{"user": map[string]any{
				"name": o.Username, "password": o.Password, "domain": domainRef(o.UserDomainID, o.UserDomainName),
			}},
		},
		"scope": map[string]any{"project": map[string]any{
			"name": o.ProjectName, "domain": domainRef(o.ProjectDomainID, o.ProjectDomainName),
		}},
	}}
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.identity+"/auth/tokens?nocatalog", bytes.NewReader(b))
	if err != nil {
		return "", time.Time{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := v.do(req)
	if err != nil {
		v.log.Error("keystone unreachable while authenticating the service user", "auth_url", v.identity, "err", err)
		return "", time.Time{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenBody))
	if err != nil {
		return "", time.Time{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if resp.StatusCode != http.StatusCreated {
		// Wrong service credentials are an operator's error: it must show
		// in the log, while clients see 503 as for any identity outage.
		v.log.Error("keystone refused the service user's credentials", "auth_url", v.identity,
			"username", o.Username, "status", resp.StatusCode, "answer", truncate(data))
		return "", time.Time{}, fmt.Errorf("%w: service authentication: %s", ErrUnavailable, resp.Status)
	}
	var doc tokenDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		return "", time.Time{}, fmt.Errorf("%w: service token: %v", ErrUnavailable, err)
	}
	tok := resp.Header.Get("X-Subject-Token")
	if tok == "" {
		return "", time.Time{}, fmt.Errorf("%w: service token: no X-Subject-Token", ErrUnavailable)
	}
	return tok, doc.Token.ExpiresAt, nil
}

func domainRef(id, name string) map[string]string {
	if id != "" {
		return map[string]string{"id": id}
	}
	return map[string]string{"name": name}
}

// validateWith asks Keystone about token with the service token svc.
func (v *Validator) validateWith(ctx context.Context, svc, token string) (*Identity, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.identity+"/auth/tokens?nocatalog", nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	req.Header.Set("X-Auth-Token", svc)
	req.Header.Set("X-Subject-Token", token)
	// Says that we enforce application credentials' access rules
	// (Identity.Permits); without it Keystone refuses to validate tokens
	// that carry them.
	req.Header.Set("OpenStack-Identity-Access-Rules", "1.0")
	resp, err := v.do(req)
	if err != nil {
		v.log.Error("keystone unreachable while validating a token", "auth_url", v.identity, "err", err)
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenBody))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return nil, ErrInvalidToken // unknown, revoked or expired
	case http.StatusUnauthorized:
		return nil, errServiceRejected
	default:
		v.log.Error("keystone failed to validate a token", "status", resp.StatusCode, "answer", truncate(data))
		return nil, fmt.Errorf("%w: validation answered %s", ErrUnavailable, resp.Status)
	}
	var doc tokenDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%w: token data: %v", ErrUnavailable, err)
	}
	return v.identityOf(&doc.Token)
}

// tokenDoc is the part of Keystone's v3 token document we use.
type tokenDoc struct {
	Token tokenData `json:"token"`
}

type tokenData struct {
	ExpiresAt time.Time `json:"expires_at"`
	User      struct {
		ID     string `json:"id"`
		Name   string `json:"name"`
		Domain struct {
			ID string `json:"id"`
		} `json:"domain"`
	} `json:"user"`
	Project *struct {
		ID     string `json:"id"`
		Name   string `json:"name"`
		Domain struct {
			ID string `json:"id"`
		} `json:"domain"`
	} `json:"project"`
	Roles []struct {
		Name string `json:"name"`
	} `json:"roles"`
	ApplicationCredential *struct {
		// nil: no access rules; an empty list restricts to nothing.
		AccessRules *[]struct {
			Path    string `json:"path"`
			Method  string `json:"method"`
			Service string `json:"service"`
		} `json:"access_rules"`
	} `json:"application_credential"`
}

// identityOf turns a validated token into an Identity, refusing what
// Zaqar cannot serve: tokens without a project (unscoped, domain or system
// scoped) and tokens past their expiry.
func (v *Validator) identityOf(t *tokenData) (*Identity, error) {
	if t.Project == nil || t.Project.ID == "" || t.User.ID == "" {
		return nil, ErrInvalidToken
	}
	if !v.now().Before(t.ExpiresAt) {
		return nil, ErrInvalidToken
	}
	id := &Identity{
		UserID: t.User.ID, UserName: t.User.Name, UserDomainID: t.User.Domain.ID,
		ProjectID: t.Project.ID, ProjectName: t.Project.Name, ProjectDomainID: t.Project.Domain.ID,
		ExpiresAt: t.ExpiresAt, Roles: make([]string, 0, len(t.Roles)),
	}
	for _, r := range t.Roles {
		id.Roles = append(id.Roles, r.Name)
	}
	if ac := t.ApplicationCredential; ac != nil && ac.AccessRules != nil {
		id.restricted = true
		for _, r := range *ac.AccessRules {
			if r.Service != v.opts.ServiceType {
				continue
			}
			id.rules = append(id.rules, accessRule{method: strings.ToUpper(r.Method), path: accessPath(r.Path)})
		}
	}
	return id, nil
}

// accessRule is one access rule of an application credential for this
// service.
type accessRule struct {
	method string
	path   *regexp.Regexp
}

// accessPath compiles an access rule path as keystonemiddleware does: `*`
// and `{name}` match one path segment, `**` any number of them.
func accessPath(pattern string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(pattern); i++ {
		switch c := pattern[i]; {
		case c == '*' && i+1 < len(pattern) && pattern[i+1] == '*':
			b.WriteString(".*")
			i++
		case c == '*':
			b.WriteString(`[^/]+`)
		case c == '{':
			if end := strings.IndexByte(pattern[i:], '}'); end >= 0 {
				b.WriteString(`[^/]+`)
				i += end
				continue
			}
			b.WriteString(regexp.QuoteMeta("{"))
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

// do sends a request, once more after a connection failure that is not a
// timeout: a server may close a kept-alive connection just as it is reused
// (keystonemiddleware retries connection errors too). A slow Keystone is
// not asked twice, so a request waits at most one timeout.
func (v *Validator) do(req *http.Request) (*http.Response, error) {
	resp, err := v.client.Do(req)
	var nerr net.Error
	if err == nil || (errors.As(err, &nerr) && nerr.Timeout()) || req.GetBody == nil && req.Body != nil {
		return resp, err
	}
	if req.GetBody != nil {
		if req.Body, err = req.GetBody(); err != nil {
			return nil, err
		}
	}
	return v.client.Do(req)
}

func truncate(b []byte) string {
	if len(b) > 300 {
		b = b[:300]
	}
	return string(b)
}
