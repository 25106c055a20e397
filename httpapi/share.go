package httpapi

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
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
	// Zaqar's read_json refuses any top-level value but an object or an
	// array; an array then is not the document this resource takes.
	var parsed any
	if err := numberAPI.Unmarshal(body, &parsed); err != nil {
		badBody(ctx, "Request body could not be parsed.")
		return
	}
	doc, isObject := parsed.(map[string]any)
	if !isObject {
		if _, isArray := parsed.([]any); isArray {
			badBody(ctx, "Document type not supported.")
		} else {
			badBody(ctx, "Request body could not be parsed.")
		}
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
	if a.opts.SignedURLKey == "" {
		// Zaqar's answer when [signed_url] secret_key is unset, checked
		// (by create_signed_url) after the paths and before the rest.
		badRequest(ctx, "The `key` can't be None")
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

// parseShareExpiry reads an expiry as Zaqar's create_signed_url does:
// whatever Python's int() accepts and is not zero is refused as an
// integer; other strings are read as oslo's parse_isotime reads ISO 8601
// (a zone, or none for UTC); other values are not strings.
func parseShareExpiry(v any) (time.Time, string) {
	if n, ok := pyInt(v); ok && n != "0" {
		return time.Time{}, "`expires` should be date format, for example 2016-01-01T00:00:00, not integer value: " + n
	}
	s, ok := v.(string)
	if !ok {
		return time.Time{}, "expected string or bytes-like object, got '" + pyType(v) + "'"
	}
	for _, layout := range isoLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), ""
		}
	}
	return time.Time{}, fmt.Sprintf("Unable to parse date string '%s'", s)
}

// isoLayouts are the ISO 8601 forms iso8601.parse_date accepts that
// clients send (Python's isoformat() with or without microseconds and
// zone, a space for the T, zones as Z, +hh:mm, +hhmm or +hh, minutes
// without seconds, a date alone). time.Parse takes fractional seconds
// after the seconds without the layout saying so.
var isoLayouts = func() []string {
	var out []string
	for _, sep := range []string{"T", " "} {
		for _, clock := range []string{"15:04:05", "15:04"} {
			for _, zone := range []string{"", "Z07:00", "Z0700", "Z07"} {
				out = append(out, "2006-01-02"+sep+clock+zone)
			}
		}
	}
	return append(out, "2006-01-02")
}()

// pyInt returns the decimal text of Python's int(v) for a decoded JSON
// value, and false when int() would fail.
func pyInt(v any) (string, bool) {
	switch x := v.(type) {
	case bool:
		if x {
			return "1", true
		}
		return "0", true
	case json.Number:
		if n, ok := new(big.Int).SetString(string(x), 10); ok {
			return n.String(), true
		}
		// Python reads other numbers as doubles.
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			return "", false
		}
		return pyInt(f)
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return "", false
		}
		n, _ := big.NewFloat(x).Int(nil)
		return n.String(), true
	case string:
		s := strings.TrimSpace(x)
		sign := ""
		if s != "" && (s[0] == '+' || s[0] == '-') {
			sign, s = s[:1], s[1:]
		}
		// Digits, with single underscores between them (PEP 515).
		if s == "" || s[0] == '_' || s[len(s)-1] == '_' || strings.Contains(s, "__") {
			return "", false
		}
		n, ok := new(big.Int).SetString(sign+strings.ReplaceAll(s, "_", ""), 10)
		if !ok {
			return "", false
		}
		return n.String(), true
	}
	return "", false
}

// pyType names a decoded JSON value's Python type.
func pyType(v any) string {
	switch x := v.(type) {
	case bool:
		return "bool"
	case json.Number:
		if _, ok := new(big.Int).SetString(string(x), 10); ok {
			return "int"
		}
		return "float"
	case float64:
		return "float"
	case []any:
		return "list"
	case map[string]any:
		return "dict"
	case string:
		return "str"
	}
	return "NoneType"
}

// pySet renders names as Python prints a set of strings, for Zaqar's texts.
func pySet(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = "'" + n + "'"
	}
	slices.Sort(q)
	q = slices.Compact(q) // a set: each name once
	return "{" + strings.Join(q, ", ") + "}"
}
