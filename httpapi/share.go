package httpapi

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/zaqar-go/zaqar/signedurl"
)

// Resources of a queue a share may cover, and methods it may grant.
var (
	sharePaths   = []string{"claims", "messages", "subscriptions"}
	shareMethods = []string{"DELETE", "GET", "HEAD", "PATCH", "POST", "PUT"}
)

// maxShareBody bounds the share document (three short fields).
const maxShareBody = 64 << 10

// shareQueue answers POST /v2/queues/{q}/share with a pre-signed URL, as
// Zaqar's urls.py: body {paths, methods, expires}, all optional (messages,
// GET, a day from now).
func (a *API) shareQueue(ctx *fasthttp.RequestCtx, rq *request) {
	body := ctx.Request.Body()
	if len(body) == 0 {
		badBody(ctx, "Request body can not be empty")
		return
	}
	if len(body) > maxShareBody {
		badRequest(ctx, "Request body is too large.")
		return
	}
	var doc map[string]any
	if err := numberAPI.Unmarshal(body, &doc); err != nil {
		badBody(ctx, "Request body could not be parsed.")
		return
	}
	if doc == nil {
		badBody(ctx, "Document type not supported.")
		return
	}
	var unknown []string
	for k := range doc {
		if k != "paths" && k != "methods" && k != "expires" {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		badRequest(ctx, "Unknown keys: "+pySet(unknown))
		return
	}
	prefix := "/v2/queues/" + rq.queue + "/"
	paths, ok := stringList(doc["paths"])
	if !ok {
		badRequest(ctx, "`paths` must be a non-empty list")
		return
	}
	if len(paths) == 0 {
		paths = []string{"messages"}
	}
	var invalid []string
	for i, p := range paths {
		if !slices.Contains(sharePaths, p) {
			invalid = append(invalid, p)
		}
		paths[i] = prefix + p
	}
	if len(invalid) > 0 {
		badRequest(ctx, "Invalid paths: "+pySet(invalid))
		return
	}
	methods, ok := stringList(doc["methods"])
	if !ok {
		badRequest(ctx, "`methods` should be a list")
		return
	}
	if len(methods) == 0 {
		methods = []string{"GET"}
	}
	for _, m := range methods {
		if !slices.Contains(shareMethods, m) {
			// Zaqar signs any string; a method no request can have is a
			// client's mistake better reported than signed.
			badRequest(ctx, "Invalid methods: "+pySet([]string{m}))
			return
		}
	}
	now := time.Now().UTC()
	expires := now.Add(24 * time.Hour)
	if v, present := doc["expires"]; present && v != nil {
		var msg string
		if expires, msg = parseShareExpiry(v); msg != "" {
			badRequest(ctx, msg)
			return
		}
		if !expires.After(now) {
			badRequest(ctx, "`expires` is lower than the current time")
			return
		}
	}
	if a.opts.SignedURLKey == "" {
		// Zaqar's answer when [signed_url] secret_key is unset.
		badRequest(ctx, "The `key` can't be None")
		return
	}
	slices.Sort(paths)
	slices.Sort(methods)
	signed := signedurl.Sign(a.opts.SignedURLKey, paths, methods, rq.project, expires)
	writeValue(ctx, fasthttp.StatusOK, map[string]any{
		"paths": paths, "methods": methods, "project": rq.project,
		"expires": signed.Expires.Format(signedurl.ExpiresFormat), "signature": signed.Signature,
	})
}

// stringList reads an optional list of strings (absent or null = empty).
func stringList(v any) ([]string, bool) {
	if v == nil {
		return nil, true
	}
	items, ok := v.([]any)
	if !ok {
		return nil, false
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		s, ok := it.(string)
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

// parseShareExpiry reads an ISO 8601 expiry as oslo's parse_isotime does
// (a zone, or none for UTC) and refuses integers as Zaqar does.
func parseShareExpiry(v any) (time.Time, string) {
	s, ok := v.(string)
	if !ok {
		return time.Time{}, fmt.Sprintf("`expires` should be date format, for example 2016-01-01T00:00:00, not integer value: %v", v)
	}
	if n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64); err == nil {
		return time.Time{}, fmt.Sprintf("`expires` should be date format, for example 2016-01-01T00:00:00, not integer value: %d", n)
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), ""
		}
	}
	return time.Time{}, fmt.Sprintf("Unable to parse date string '%s'", s)
}

// pySet renders names as Python prints a set of strings, for Zaqar's texts.
func pySet(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = "'" + n + "'"
	}
	slices.Sort(q)
	return "{" + strings.Join(q, ", ") + "}"
}
