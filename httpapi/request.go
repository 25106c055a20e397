package httpapi

import (
	"bytes"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/valyala/fasthttp"

	"github.com/zaqar-go/zaqar/policy"
)

const (
	maxProjectLength   = 256
	maxQueueNameLength = 64
)

// request carries what the common checks extracted.
type request struct {
	clientID string // normalised (lower-case hyphenated UUID in strict mode)
	project  string
	queue    string    // the storage name of the route's queue or topic
	name     string    // the queue's or topic's name, as the client gave it
	res      *resource // what the route serves: queues or topics
	id       string    // message, claim or subscription id of the route, for error texts
	creds    policy.Creds
	waited   time.Duration // spent long-polling (left out of the latency metric)
}

// checkRequest runs Zaqar's per-request hooks after authentication, in
// order: form-encoded bodies, Accept, Client-ID, project id (from the
// header unless a token gave it). It writes the error itself.
func (a *API) checkRequest(ctx *fasthttp.RequestCtx, rq *request) bool {
	if len(ctx.Request.Header.ContentType()) > 0 && len(ctx.Request.Body()) > 0 &&
		bytes.EqualFold(ctx.Request.Header.ContentType(), []byte("application/x-www-form-urlencoded")) {
		writeError(ctx, fasthttp.StatusBadRequest, "Invalid Content-Type", "Endpoint does not accept "+
			"`application/x-www-form-urlencoded` content; currently supported media type is `application/json`; "+
			`specify proper client-side media type with the "Content-Type" header.`)
		return false
	}
	if acc := ctx.Request.Header.Peek("Accept"); len(acc) > 0 && !acceptsJSON(string(acc)) {
		writeError(ctx, fasthttp.StatusNotAcceptable, "Invalid Accept header",
			"The request must accept application/json.")
		return false
	}
	cid := ctx.Request.Header.Peek("Client-ID")
	if len(cid) == 0 {
		writeError(ctx, fasthttp.StatusBadRequest, "Missing header value", `The "Client-ID" header is required.`)
		return false
	}
	if a.opts.ClientIDUUIDSafe == "strict" {
		u, err := uuid.ParseBytes(cid)
		if err != nil {
			writeError(ctx, fasthttp.StatusBadRequest, "Wrong UUID value", "Malformed hexadecimal UUID.")
			return false
		}
		rq.clientID = u.String()
	} else {
		if len(cid) < a.opts.MinClientIDLength || len(cid) > a.opts.MaxClientIDLength {
			writeError(ctx, fasthttp.StatusBadRequest, "Length of client id must be at least "+
				strconv.Itoa(a.opts.MinClientIDLength)+" and no greater than "+strconv.Itoa(a.opts.MaxClientIDLength)+".", "")
			return false
		}
		rq.clientID = string(cid)
	}
	if rq.project != "" {
		return true
	}
	project, present := peekHeader(ctx, "X-Project-ID")
	if !present {
		writeError(ctx, fasthttp.StatusBadRequest, "Project-Id Missing", "The header X-PROJECT-ID was missing")
		return false
	}
	if project == "" {
		writeError(ctx, fasthttp.StatusBadRequest, "Empty project header not allowed",
			"X-PROJECT-ID cannot be an empty string. Specify the right header X-PROJECT-ID and retry.")
		return false
	}
	rq.project = project
	rq.creds.ProjectID = project
	return true
}

func peekHeader(ctx *fasthttp.RequestCtx, name string) (string, bool) {
	var val string
	found := false
	ctx.Request.Header.VisitAll(func(k, v []byte) {
		if !found && bytes.EqualFold(k, []byte(name)) {
			val, found = string(v), true
		}
	})
	return val, found
}

func acceptsJSON(accept string) bool {
	for _, part := range strings.Split(accept, ",") {
		mt := strings.TrimSpace(strings.SplitN(part, ";", 2)[0])
		switch strings.ToLower(mt) {
		case "*/*", "application/*", "application/json", "":
			return true
		}
	}
	return false
}

func validQueueName(name string) bool {
	if name == "" || len(name) > maxQueueNameLength {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// query parameter parsing (Falcon's rules: blank values count as absent).

type paramError struct{ name string }

func queryString(ctx *fasthttp.RequestCtx, name string) (string, bool) {
	v := ctx.QueryArgs().Peek(name)
	if len(v) == 0 {
		return "", false
	}
	return string(v), true
}

func queryInt(ctx *fasthttp.RequestCtx, name string) (int64, bool, *paramError) {
	s, ok := queryString(ctx, name)
	if !ok {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0, true, &paramError{name}
	}
	return n, true, nil
}

func queryBool(ctx *fasthttp.RequestCtx, name string) (bool, *paramError) {
	s, ok := queryString(ctx, name)
	if !ok {
		return false, nil
	}
	switch s {
	case "true", "True", "TRUE", "t", "yes", "y", "1", "on":
		return true, nil
	case "false", "False", "FALSE", "f", "no", "n", "0", "off":
		return false, nil
	}
	return false, &paramError{name}
}

func queryList(ctx *fasthttp.RequestCtx, name string) []string {
	s, ok := queryString(ctx, name)
	if !ok {
		return nil
	}
	// The items share s; the list is sized once (a bulk delete names up
	// to 20 ids).
	out := make([]string, 0, strings.Count(s, ",")+1)
	for s != "" {
		item, rest, _ := strings.Cut(s, ",")
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
		s = rest
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func invalidParam(ctx *fasthttp.RequestCtx, pe *paramError) {
	writeError(ctx, fasthttp.StatusBadRequest, "Invalid parameter",
		`The "`+pe.name+`" parameter is invalid.`)
}

// pageLimit reads ?limit= (default 10, range 1..max) with Zaqar's text
// for kind, which is formatted only for a limit out of range.
func pageLimit(ctx *fasthttp.RequestCtx, kind string, max int) (int, bool) {
	n, present, pe := queryInt(ctx, "limit")
	if pe != nil {
		invalidParam(ctx, pe)
		return 0, false
	}
	if !present {
		return min(10, max), true
	}
	if n < 1 || n > int64(max) {
		badRequest(ctx, limitText(kind, max))
		return 0, false
	}
	return int(n), true
}

// listParams reads the limit, detailed and marker parameters of a
// name-ordered listing (queues, pools, flavors).
func listParams(ctx *fasthttp.RequestCtx, kind string, max int) (limit int, detailed bool, marker string, ok bool) {
	if limit, ok = pageLimit(ctx, kind, max); !ok {
		return 0, false, "", false
	}
	detailed, pe := queryBool(ctx, "detailed")
	if pe != nil {
		invalidParam(ctx, pe)
		return 0, false, "", false
	}
	marker, _ = queryString(ctx, "marker")
	return limit, detailed, marker, true
}

// writeListing answers a name-ordered listing with Zaqar's "next" link.
func writeListing(ctx *fasthttp.RequestCtx, key, path string, items []any, last string, extra map[string]any) {
	doc := map[string]any{key: items, "links": []any{}}
	if len(items) > 0 {
		doc["links"] = []any{map[string]string{"rel": "next", "href": nextHref(ctx, path, last)}}
	}
	for k, v := range extra {
		doc[k] = v
	}
	writeValue(ctx, fasthttp.StatusOK, doc)
}

func limitText(kind string, max int) string {
	if kind == "queues" {
		return "Limit must be at least 1 and no greater than " + strconv.Itoa(max) + "."
	}
	return "Limit must be at least 1 and may not be greater than " + strconv.Itoa(max) + "."
}
