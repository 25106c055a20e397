package httpapi

import (
	"slices"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"
)

// CORSOptions are oslo.middleware's [cors] options.
type CORSOptions struct {
	AllowedOrigin    []string // allowed_origin ("*" allowed)
	AllowCredentials bool     // allow_credentials
	ExposeHeaders    []string // expose_headers
	MaxAge           int      // max_age (seconds; 0 = header omitted)
	AllowMethods     []string // allow_methods
	AllowHeaders     []string // allow_headers
}

// DefaultCORSOptions returns the defaults Zaqar installs with
// cors.set_defaults (zaqar/transport/middleware/cors.py) on top of
// oslo.middleware's own (allow_credentials true, max_age 3600). No origin
// is allowed, so CORS is off until allowed_origin is configured.
func DefaultCORSOptions() CORSOptions {
	return CORSOptions{
		AllowCredentials: true,
		ExposeHeaders: []string{"X-Auth-Token", "X-Subject-Token", "X-Service-Token",
			"X-OpenStack-Request-ID"},
		MaxAge:       3600,
		AllowMethods: []string{"GET", "PUT", "POST", "DELETE", "PATCH", "HEAD"},
		AllowHeaders: []string{"X-Auth-Token", "X-Identity-Status", "X-Roles",
			"X-Service-Catalog", "X-User-Id", "X-Tenant-Id", "X-OpenStack-Request-ID",
			"X-Trace-Info", "X-Trace-HMAC", "Client-id"},
	}
}

// corsSimpleHeaders is oslo's CORS.simple_headers: a preflight may always
// ask for these, whatever allow_headers says.
var corsSimpleHeaders = []string{"Accept", "Accept-Language", "Content-Type",
	"Cache-Control", "Content-Language", "Expires", "Last-Modified", "Pragma"}

// cors is the compiled configuration. One set of options applies to every
// origin: oslo's per-origin [cors.*] sections are deprecated there.
type cors struct {
	next fasthttp.RequestHandler
	// origins maps an allowed origin to itself so that echoing it back
	// needs no conversion of the request's bytes.
	origins     map[string]string
	wildcard    bool
	credentials bool
	maxAge      string // "" = no Access-Control-Max-Age
	expose      string // "" = no Access-Control-Expose-Headers
	methods     []string
	headers     map[string]struct{} // upper-cased allow_headers + simple headers
}

// CORS wraps next (the whole API handler, outside authentication, as in
// Zaqar where the CORS middleware is installed before keystone's) with
// oslo.middleware's CORS decisions:
//
//   - OPTIONS with an Origin header is a preflight. It is answered here with
//     200, no body and no Content-Type, and never reaches next: oslo passes it
//     to the application but replaces every non-2xx answer (in Zaqar the 401
//     of authentication) with exactly that. The CORS headers are added only if
//     the origin is allowed, Access-Control-Request-Method is present and
//     listed (case-sensitively) in AllowMethods, and every requested header is
//     in AllowHeaders or the simple headers (case-insensitively); otherwise
//     the 200 goes out bare.
//   - Any other request with an allowed Origin goes to next and gets Vary,
//     Access-Control-Allow-Origin, -Allow-Credentials and -Expose-Headers
//     afterwards, on whatever status next chose, unless next set
//     Access-Control-Allow-Origin itself.
//   - Requests without Origin (or with an empty one) go to next untouched.
//
// With no allowed origin CORS returns next itself.
func CORS(o CORSOptions, next fasthttp.RequestHandler) fasthttp.RequestHandler {
	c := &cors{
		next:        next,
		origins:     make(map[string]string, len(o.AllowedOrigin)),
		credentials: o.AllowCredentials,
		expose:      strings.Join(o.ExposeHeaders, ","),
		methods:     slices.Clone(o.AllowMethods),
		headers:     make(map[string]struct{}, len(o.AllowHeaders)+len(corsSimpleHeaders)),
	}
	for _, origin := range o.AllowedOrigin {
		// An empty origin could only match an empty Origin header, which is
		// treated as no header at all.
		if origin == "" {
			continue
		}
		c.origins[origin] = origin
		c.wildcard = c.wildcard || origin == "*"
	}
	if len(c.origins) == 0 {
		return next
	}
	// oslo tests max_age for truth, so only 0 omits the header.
	if o.MaxAge != 0 {
		c.maxAge = strconv.Itoa(o.MaxAge)
	}
	for _, h := range slices.Concat(o.AllowHeaders, corsSimpleHeaders) {
		c.headers[strings.ToUpper(h)] = struct{}{}
	}
	return c.serve
}

func (c *cors) serve(ctx *fasthttp.RequestCtx) {
	origin := ctx.Request.Header.Peek(fasthttp.HeaderOrigin)
	if len(origin) == 0 {
		c.next(ctx)
		return
	}
	if ctx.IsOptions() {
		c.preflight(ctx, origin)
		return
	}
	allowed, ok := c.match(origin)
	c.next(ctx)
	if ok {
		c.decorate(ctx, allowed)
	}
}

// match returns the value for Access-Control-Allow-Origin: the origin
// itself when listed, else "*" when "*" is listed (oslo then answers "*",
// not the origin, even together with Allow-Credentials: true).
func (c *cors) match(origin []byte) (string, bool) {
	if o, ok := c.origins[string(origin)]; ok {
		return o, true
	}
	if c.wildcard {
		return "*", true
	}
	return "", false
}

// preflight answers an OPTIONS request carrying Origin (CORS section 6.2,
// as oslo's _apply_cors_preflight_headers reads it).
func (c *cors) preflight(ctx *fasthttp.RequestCtx, origin []byte) {
	resp := &ctx.Response
	resp.SetStatusCode(fasthttp.StatusOK)
	resp.ResetBody()
	// oslo's NoContentTypeResponse: an empty 200 with no Content-Type.
	resp.Header.Del(fasthttp.HeaderContentType)
	resp.Header.SetNoDefaultContentType(true)

	allowed, ok := c.match(origin)
	if !ok {
		return
	}
	// Repeated request headers reach a WSGI app joined by ","; do the same
	// so that two methods are one unknown method, as there.
	vals := ctx.Request.Header.PeekAll(fasthttp.HeaderAccessControlRequestMethod)
	if len(vals) == 0 {
		return
	}
	method := string(vals[0])
	for _, v := range vals[1:] {
		method += "," + string(v)
	}
	var requested []string
	for _, v := range ctx.Request.Header.PeekAll(fasthttp.HeaderAccessControlRequestHeaders) {
		for h := range strings.SplitSeq(string(v), ",") {
			if h = strings.TrimSpace(h); h != "" {
				requested = append(requested, h)
			}
		}
	}
	if !slices.Contains(c.methods, method) {
		return
	}
	for _, h := range requested {
		if _, ok := c.headers[strings.ToUpper(h)]; !ok {
			return
		}
	}

	h := &resp.Header
	h.Set(fasthttp.HeaderVary, "Origin")
	h.Set(fasthttp.HeaderAccessControlAllowOrigin, allowed)
	if c.credentials {
		h.Set(fasthttp.HeaderAccessControlAllowCredentials, "true")
	}
	if c.maxAge != "" {
		h.Set(fasthttp.HeaderAccessControlMaxAge, c.maxAge)
	}
	// Only the requested method and headers are echoed, never the lists.
	h.Set(fasthttp.HeaderAccessControlAllowMethods, method)
	if len(requested) > 0 {
		h.Set(fasthttp.HeaderAccessControlAllowHeaders, strings.Join(requested, ","))
	}
}

// decorate adds the actual-request headers (CORS section 6.1) to next's
// response.
func (c *cors) decorate(ctx *fasthttp.RequestCtx, allowed string) {
	h := &ctx.Response.Header
	// oslo's sanity check: something further in already handled CORS.
	if len(h.PeekAll(fasthttp.HeaderAccessControlAllowOrigin)) > 0 {
		return
	}
	// webob reads the last Vary and replaces them all with it + ",Origin".
	if vary := h.PeekAll(fasthttp.HeaderVary); len(vary) > 0 {
		v := append(append([]byte(nil), vary[len(vary)-1]...), ",Origin"...)
		h.Del(fasthttp.HeaderVary)
		h.SetBytesV(fasthttp.HeaderVary, v)
	} else {
		h.Set(fasthttp.HeaderVary, "Origin")
	}
	h.Set(fasthttp.HeaderAccessControlAllowOrigin, allowed)
	if c.credentials {
		h.Set(fasthttp.HeaderAccessControlAllowCredentials, "true")
	}
	if c.expose != "" {
		h.Set(fasthttp.HeaderAccessControlExposeHeaders, c.expose)
	}
}
