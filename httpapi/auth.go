package httpapi

import (
	"errors"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/zaqar-go/zaqar/keystone"
	"github.com/zaqar-go/zaqar/policy"
	"github.com/zaqar-go/zaqar/signedurl"
)

// Authenticator validates X-Auth-Token values (keystone.Validator).
type Authenticator interface {
	Validate(token []byte) (*keystone.Identity, error)
	// WWWAuthenticate is the header value telling clients where to get a
	// token.
	WWWAuthenticate() string
}

// authenticate establishes who sends the request, before any other check,
// as keystonemiddleware runs before Zaqar's hooks:
//   - a request carrying URL-Signature is judged by its signature alone (404
//     when it does not verify, as Zaqar), for its signed project, with no
//     roles in Keystone mode;
//   - with Keystone, identity comes from the token only (401 without a valid
//     one, 503 when Keystone cannot answer); identity headers a client sends
//     are never read;
//   - without (noauth), the identity headers are trusted as sent.
func (a *API) authenticate(ctx *fasthttp.RequestCtx, rq *request) bool {
	if sig := ctx.Request.Header.Peek("URL-Signature"); len(sig) > 0 {
		h := func(name string) string { return string(ctx.Request.Header.Peek(name)) }
		if signedurl.Verify(a.opts.SignedURLKey, string(ctx.Method()), string(ctx.Path()), string(sig),
			h("URL-Expires"), h("URL-Methods"), h("URL-Paths"), h("X-Project-ID"), time.Now()) != nil {
			writeError(ctx, fasthttp.StatusNotFound, "Not found", "The resource could not be found.")
			return false
		}
		if a.opts.Auth == nil {
			a.headerIdentity(ctx, rq)
		}
		// With Keystone, the holder of a signed URL is no one: no user, no
		// roles, whatever headers it sends; checkRequest sets the project.
		return true
	}
	if a.opts.Auth == nil {
		a.headerIdentity(ctx, rq)
		return true
	}
	id, err := a.opts.Auth.Validate(ctx.Request.Header.Peek("X-Auth-Token"))
	switch {
	case err == nil && (!id.Restricted() || id.Permits(string(ctx.Method()), string(ctx.Path()))):
	case err == nil || errors.Is(err, keystone.ErrInvalidToken):
		writeMiddlewareError(ctx, fasthttp.StatusUnauthorized, "Unauthorized", "The request you have made requires authentication.")
		ctx.Response.Header.Set("WWW-Authenticate", a.opts.Auth.WWWAuthenticate())
		return false
	default:
		a.log.Warn("token not validated: identity service unavailable", "err", err)
		writeMiddlewareError(ctx, fasthttp.StatusServiceUnavailable, "Service temporarily unavailable",
			"The Keystone service is temporarily unavailable. Please try again in a few seconds.")
		return false
	}
	rq.project = id.ProjectID
	rq.creds = policy.Creds{UserID: id.UserID, ProjectID: id.ProjectID, UserDomainID: id.UserDomainID,
		ProjectDomainID: id.ProjectDomainID, Roles: id.Roles}
	return true
}

// headerIdentity reads the caller from the identity headers (noauth mode);
// checkRequest reads the project, with its presence checks.
func (a *API) headerIdentity(ctx *fasthttp.RequestCtx, rq *request) {
	rq.creds.UserID = string(ctx.Request.Header.Peek("X-User-ID"))
	if roles := ctx.Request.Header.Peek("X-Roles"); len(roles) > 0 {
		for _, r := range strings.Split(string(roles), ",") {
			if r = strings.TrimSpace(r); r != "" {
				rq.creds.Roles = append(rq.creds.Roles, r)
			}
		}
	}
}

// authorize applies the route's policy rule (Zaqar's last hook): 403 when
// it denies. is_admin is context_is_admin's answer for the caller, as
// oslo.context gives it.
func (a *API) authorize(ctx *fasthttp.RequestCtx, rq *request, rule *policy.Rule) bool {
	if rule == nil {
		return true
	}
	rq.creds.IsAdmin = a.policy.IsAdmin(&rq.creds)
	target := policy.Target{ProjectID: rq.project, QueueName: rq.name}
	if rq.res == topics {
		// The route's parameter is topic_name, as in the original.
		target = policy.Target{ProjectID: rq.project, TopicName: rq.name}
	}
	if rule.Allow(target, &rq.creds) {
		return true
	}
	forbidden(ctx)
	return false
}

func forbidden(ctx *fasthttp.RequestCtx) {
	writeError(ctx, fasthttp.StatusForbidden, "Not authorized", "You are not authorized to complete this action.")
}

// operatorOnly guards the profiler: with Keystone it takes a token that
// passes context_is_admin; without, it is as open as the rest of a noauth
// server.
func (a *API) operatorOnly(h fasthttp.RequestHandler) fasthttp.RequestHandler {
	if a.opts.Auth == nil {
		return h
	}
	return func(ctx *fasthttp.RequestCtx) {
		rq := &request{}
		if !a.authenticate(ctx, rq) {
			return
		}
		if !a.policy.IsAdmin(&rq.creds) {
			forbidden(ctx)
			return
		}
		h(ctx)
	}
}

// authenticated runs h for authenticated requests only (any identity; no
// policy), when authentication is on.
func (a *API) authenticated(h fasthttp.RequestHandler) fasthttp.RequestHandler {
	if a.opts.Auth == nil {
		return h
	}
	return func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) == "/" || a.authenticate(ctx, &request{}) {
			h(ctx)
		}
	}
}
