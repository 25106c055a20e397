package wsapi

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/zaqar-go/zaqar/keystone"
	"github.com/zaqar-go/zaqar/policy"
	"github.com/zaqar-go/zaqar/signedurl"
)

// request is one decoded request frame and what the checks extracted.
type request struct {
	action  string
	headers map[string]any
	body    map[string]any
	echo    map[string]any // the "request" member of the answer

	project  string
	clientID string
	queue    string
	creds    policy.Creds
	binary   bool
}

// reply is an answer's body and status.
type reply struct {
	status int
	body   any
}

// errorReply is Zaqar's error body: the exception's text and a summary
// (null when there is none).
func errorReply(status int, exception, summary string) reply {
	var s any
	if summary != "" {
		s = summary
	}
	return reply{status, map[string]any{"exception": exception, "error": s}}
}

// validationFailed is a 400 for a document that breaks one of Zaqar's
// validation rules.
func validationFailed(text string) reply { return errorReply(400, text, "") }

// session is an authenticated connection's identity.
type session struct {
	creds policy.Creds
}

// emptyEcho is the request Zaqar shows for frames it could not read.
func emptyEcho(action any) map[string]any {
	return map[string]any{"action": action, "body": map[string]any{}, "headers": map[string]any{}, "api": "v2"}
}

// handle serves one request frame; the answer goes out in the frame's
// encoding.
func (c *conn) handle(data []byte, binary bool) {
	start := time.Now()
	// A failure in a library must not take the server down with it.
	defer func() {
		if v := recover(); v != nil {
			c.s.log.Error("panic serving a websocket frame", "panic", v)
			c.answer(emptyEcho(nil), "invalid", errorReply(500, fmt.Sprint(v), "Unexpected error."), binary, start)
		}
	}()
	v, err := decodeFrame(data, binary)
	if err != nil {
		kind := "text (JSON)"
		if binary {
			kind = "binary (MessagePack)"
		}
		c.answer(emptyEcho(nil), "invalid", reply{400, map[string]any{
			"error": "Can't decode " + kind + " request. " + errorName(binary) + ": " + err.Error()}}, binary, start)
		return
	}
	doc, ok := v.(map[string]any)
	if !ok {
		c.answer(emptyEcho(nil), "invalid", reply{400, map[string]any{
			"error": "Unexpected body type. Expected dict or dict like."}}, binary, start)
		return
	}
	rq := &request{binary: binary}
	rq.action, _ = doc["action"].(string)
	rq.headers, _ = doc["headers"].(map[string]any)
	rq.body, _ = doc["body"].(map[string]any)
	if rq.body == nil {
		rq.body = map[string]any{}
	}
	rq.echo = map[string]any{"action": doc["action"], "body": doc["body"], "headers": doc["headers"], "api": "v2"}
	if _, present := doc["body"]; !present {
		rq.echo["body"] = map[string]any{}
	}
	a, bad := c.s.check(doc)
	if bad != nil {
		label := "unknown"
		if a != nil {
			label = a.name
		}
		c.answer(rq.echo, label, *bad, binary, start)
		return
	}
	if a.name == actionAuthenticate {
		c.answer(emptyEcho(actionAuthenticate), a.name, c.authenticate(rq), binary, start)
		return
	}
	c.answer(rq.echo, a.name, c.serve(a, rq), binary, start)
}

// serve establishes who sends the request, then runs the action.
// With Keystone, an unauthenticated connection may only send message
// actions carrying a valid pre-signed URL signature (Zaqar's rule).
func (c *conn) serve(a *action, rq *request) reply {
	switch {
	case c.s.opts.API.Auth == nil:
		rq.project = headerString(rq.headers, "X-Project-ID")
		rq.creds = policy.Creds{ProjectID: rq.project, UserID: headerString(rq.headers, "X-User-ID")}
		for _, r := range strings.Split(headerString(rq.headers, "X-Roles"), ",") {
			if r = strings.TrimSpace(r); r != "" {
				rq.creds.Roles = append(rq.creds.Roles, r)
			}
		}
	case c.auth != nil:
		rq.creds = c.auth.creds
		rq.project = rq.creds.ProjectID
	case rq.headers["URL-Signature"] != nil:
		if !c.s.signed(a, rq) {
			return reply{403, map[string]any{"error": "Not authentified."}}
		}
		rq.project = headerString(rq.headers, "X-Project-ID")
		rq.creds = policy.Creds{ProjectID: rq.project}
	default:
		return reply{403, map[string]any{"error": "Not authentified."}}
	}
	if rq.project == "" {
		return validationFailed("Empty project header not allowed")
	}
	if q, ok := rq.body["queue_name"].(string); ok {
		if r, bad := c.s.queueIdentification(q, rq.project); bad {
			return r
		}
		rq.queue = q
	}
	rq.creds.IsAdmin = c.s.policy.IsAdmin(&rq.creds)
	if a.rule != nil && !a.rule.Allow(policy.Target{ProjectID: rq.project, QueueName: rq.queue}, &rq.creds) {
		return errorReply(403, "You are not authorized to complete this action.", "Not authorized")
	}
	return c.run(a, rq)
}

// run calls the action, turning a panic into Zaqar's 500.
func (c *conn) run(a *action, rq *request) (r reply) {
	defer func() {
		if v := recover(); v != nil {
			c.s.log.Error("panic in websocket action", "action", a.name, "panic", v)
			r = errorReply(500, fmt.Sprint(v), "Unexpected error.")
		}
	}()
	return a.run(c, rq)
}

// signed verifies a request's pre-signed URL headers: the action must be
// a message action whose method the signature allows, on a path it covers.
func (s *Server) signed(a *action, rq *request) bool {
	q, _ := rq.body["queue_name"].(string)
	if a.method == "" || s.opts.API.SignedURLKey == "" || q == "" {
		return false
	}
	path := "/v2/queues/" + q + "/messages"
	h := func(name string) string { return headerString(rq.headers, name) }
	return signedurl.Verify(s.opts.API.SignedURLKey, a.method, path, h("URL-Signature"), h("URL-Expires"),
		h("URL-Methods"), h("URL-Paths"), h("X-Project-ID"), time.Now()) == nil
}

// authenticate validates the frame's token; the connection then acts with
// its identity until the token expires, when it is closed with 4003.
func (c *conn) authenticate(rq *request) reply {
	if c.s.opts.API.Auth == nil {
		return reply{200, map[string]any{"message": "Authentified."}}
	}
	id, err := c.s.opts.API.Auth.Validate([]byte(headerString(rq.headers, "X-Auth-Token")))
	switch {
	case err == nil && id.ProjectID != "" && !id.ExpiresAt.IsZero():
	case err == nil || errors.Is(err, keystone.ErrInvalidToken):
		return reply{401, map[string]any{"error": "Authentication failed."}}
	default:
		c.s.log.Warn("websocket token not validated: identity service unavailable", "err", err)
		return reply{503, map[string]any{"error": "Authentication failed."}}
	}
	c.auth = &session{creds: policy.Creds{UserID: id.UserID, ProjectID: id.ProjectID, UserDomainID: id.UserDomainID,
		ProjectDomainID: id.ProjectDomainID, Roles: id.Roles}}
	c.mu.Lock()
	if c.authExpiry != nil {
		c.authExpiry.Stop()
	}
	c.authExpiry = time.AfterFunc(id.ExpiresAt.Sub(c.s.opts.Now()), func() {
		c.close(CloseAuthExpired, "Authentication expired.")
	})
	c.mu.Unlock()
	return reply{200, map[string]any{"message": "Authentified."}}
}

// answer sends the response envelope and records the metrics.
func (c *conn) answer(echo map[string]any, label string, r reply, binary bool, start time.Time) {
	doc := map[string]any{"request": echo, "body": r.body, "headers": map[string]any{"status": r.status}}
	data, err := encodeFrame(doc, binary)
	if err != nil {
		c.s.log.Error("websocket answer not encodable", "action", label, "err", err)
		r = errorReply(500, err.Error(), "Unexpected error.")
		doc = map[string]any{"request": emptyEcho(echo["action"]), "body": r.body, "headers": map[string]any{"status": r.status}}
		if data, err = encodeFrame(doc, binary); err != nil {
			return
		}
	}
	c.s.metrics.observe(label, r.status, time.Since(start))
	c.send(frame{data: data, binary: binary})
}

// headerString reads a header the schema typed as a string; a list (as
// some clients send URL-Methods and URL-Paths) is joined with commas.
func headerString(h map[string]any, name string) string {
	switch v := h[name].(type) {
	case string:
		return v
	case []any:
		parts := make([]string, 0, len(v))
		for _, e := range v {
			if s, ok := e.(string); ok {
				parts = append(parts, s)
			}
		}
		return strings.Join(parts, ",")
	}
	return ""
}

// errorName names a decoding error's kind, as Zaqar shows the Python
// exception's class.
func errorName(binary bool) string {
	if binary {
		return "ValueError"
	}
	return "JSONDecodeError"
}
