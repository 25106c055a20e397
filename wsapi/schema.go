package wsapi

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/zaqar-go/zaqar/httpapi"
	"github.com/zaqar-go/zaqar/policy"
)

// kind is a JSON-Schema type of a body field.
type kind uint8

const (
	kString kind = iota
	kInteger
	kBoolean
	kArray
	kObject
)

const actionAuthenticate = "authenticate"

// action is one entry of Zaqar's request schema and its handler.
type action struct {
	name     string
	ruleName string       // the policy rule of the matching HTTP route
	rule     *policy.Rule // resolved by actionTable
	// method is what a pre-signed URL must allow for the action; "" = the
	// action cannot be signed for (only message actions can).
	method    string
	fields    map[string]kind
	required  []string // body fields
	needsBody bool
	run       func(c *conn, rq *request) reply
}

// headerTypes are the headers Zaqar's schema types (all strings).
var headerTypes = []string{"User-Agent", "Date", "Accept", "Client-ID", "X-Project-ID", "X-Auth-Token"}

func (s *Server) actionTable() (map[string]*action, error) {
	q := map[string]kind{"queue_name": kString}
	with := func(extra map[string]kind) map[string]kind {
		m := map[string]kind{"queue_name": kString}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	list := []*action{
		{name: "queue_list", ruleName: "queues:get_all", fields: map[string]kind{"marker": kString, "limit": kInteger, "detailed": kBoolean}, run: queueList},
		{name: "queue_create", ruleName: "queues:create", fields: q, required: []string{"queue_name"}, needsBody: true, run: queueCreate},
		{name: "queue_delete", ruleName: "queues:delete", fields: q, required: []string{"queue_name"}, needsBody: true, run: queueDelete},
		{name: "queue_get", ruleName: "queues:get", fields: q, required: []string{"queue_name"}, needsBody: true, run: queueGet},
		{name: "queue_get_stats", ruleName: "queues:stats", fields: q, required: []string{"queue_name"}, needsBody: true, run: queueStats},
		{name: "queue_purge", ruleName: "queues:purge", fields: with(map[string]kind{"resource_types": kArray}), required: []string{"queue_name"}, needsBody: true, run: queuePurge},
		{name: "message_list", ruleName: "messages:get_all", method: "GET", fields: with(map[string]kind{"marker": kString, "limit": kInteger, "echo": kBoolean, "include_claimed": kBoolean}), required: []string{"queue_name"}, needsBody: true, run: messageList},
		{name: "message_get", ruleName: "messages:get", method: "GET", fields: with(map[string]kind{"message_id": kString}), required: []string{"queue_name", "message_id"}, needsBody: true, run: messageGet},
		{name: "message_get_many", ruleName: "messages:get_all", method: "GET", fields: with(map[string]kind{"message_ids": kArray}), required: []string{"queue_name", "message_ids"}, needsBody: true, run: messageGetMany},
		{name: "message_post", ruleName: "messages:create", method: "POST", fields: with(map[string]kind{"messages": kArray}), required: []string{"queue_name", "messages"}, needsBody: true, run: messagePost},
		{name: "message_delete", ruleName: "messages:delete", method: "DELETE", fields: with(map[string]kind{"message_id": kString, "claim_id": kString}), required: []string{"queue_name", "message_id"}, needsBody: true, run: messageDelete},
		{name: "message_delete_many", ruleName: "messages:delete_all", method: "DELETE", fields: with(map[string]kind{"message_ids": kArray, "claim_ids": kArray, "pop": kInteger}), required: []string{"queue_name"}, needsBody: true, run: messageDeleteMany},
		{name: "claim_create", ruleName: "claims:create", fields: with(map[string]kind{"limit": kInteger, "ttl": kInteger, "grace": kInteger}), required: []string{"queue_name"}, needsBody: true, run: claimCreate},
		{name: "claim_get", ruleName: "claims:get", fields: with(map[string]kind{"claim_id": kString}), required: []string{"queue_name", "claim_id"}, needsBody: true, run: claimGet},
		{name: "claim_update", ruleName: "claims:update", fields: with(map[string]kind{"claim_id": kString, "ttl": kInteger}), required: []string{"queue_name", "claim_id"}, needsBody: true, run: claimUpdate},
		{name: "claim_delete", ruleName: "claims:delete", fields: with(map[string]kind{"claim_id": kString}), required: []string{"queue_name", "claim_id"}, needsBody: true, run: claimDelete},
		{name: "subscription_list", ruleName: "subscription:get_all", fields: q, required: []string{"queue_name"}, needsBody: true, run: subscriptionList},
		{name: "subscription_create", ruleName: "subscription:create", fields: with(map[string]kind{"subscriber": kString, "ttl": kInteger, "options": kObject}), required: []string{"queue_name"}, needsBody: true, run: subscriptionCreate},
		{name: "subscription_get", ruleName: "subscription:get", fields: with(map[string]kind{"subscription_id": kString}), required: []string{"queue_name", "subscription_id"}, needsBody: true, run: subscriptionGet},
		{name: "subscription_delete", ruleName: "subscription:delete", fields: with(map[string]kind{"subscription_id": kString}), required: []string{"queue_name", "subscription_id"}, needsBody: true, run: subscriptionDelete},
		// Zaqar's schema knows these, but its server has no handler for
		// them: they are answered as not implemented.
		{name: "get_home_doc", run: unsupported},
		{name: "check_node_health", run: unsupported},
		{name: "ping_node", ruleName: "ping:get", run: pingNode},
		{name: actionAuthenticate},
	}
	for _, n := range []string{"pool_list", "pool_create", "pool_update", "pool_get", "pool_delete",
		"flavor_list", "flavor_create", "flavor_update", "flavor_get", "flavor_delete"} {
		list = append(list, &action{name: n, run: unsupported})
	}
	out := make(map[string]*action, len(list))
	for _, a := range list {
		if a.ruleName != "" {
			r, ok := s.policy.Rule(a.ruleName)
			if !ok {
				return nil, fmt.Errorf("wsapi: action %s: no policy rule %q", a.name, a.ruleName)
			}
			a.rule = r
		}
		out[a.name] = a
	}
	return out, nil
}

// check applies Zaqar's request schema: a known action, headers (with
// Client-ID and X-Project-ID, or for authenticate X-Auth-Token and
// X-Project-ID) and the body's field types. It returns the action (when
// known) and, when the frame breaks the schema, the answer.
func (s *Server) check(doc map[string]any) (*action, *reply) {
	name, isString := doc["action"].(string)
	a := s.actions[name]
	if !isString || a == nil {
		return nil, &reply{400, map[string]any{"error": pyString(doc["action"]) + " is not a valid action"}}
	}
	failed := &reply{400, map[string]any{"error": "Schema validation failed."}}
	headers, ok := doc["headers"].(map[string]any)
	if !ok {
		return a, failed
	}
	for _, h := range headerTypes {
		if v, present := headers[h]; present {
			if _, isStr := v.(string); !isStr {
				return a, failed
			}
		}
	}
	var needed []string
	switch {
	case a.name == actionAuthenticate:
		needed = []string{"X-Project-ID", "X-Auth-Token"}
	case a.ruleName != "" || a.run != nil:
		needed = []string{"Client-ID", "X-Project-ID"}
	}
	for _, h := range needed {
		if _, present := headers[h]; !present {
			return a, failed
		}
	}
	rawBody, present := doc["body"]
	if !present {
		if a.needsBody {
			return a, failed
		}
		return a, nil
	}
	body, ok := rawBody.(map[string]any)
	if !ok {
		return a, failed
	}
	for f, k := range a.fields {
		if v, present := body[f]; present && !isKind(v, k) {
			return a, failed
		}
	}
	for _, f := range a.required {
		if _, present := body[f]; !present {
			return a, failed
		}
	}
	return a, nil
}

// isKind is JSON-Schema draft 4's type test: "integer" takes integral
// numbers without a fraction or exponent, never booleans.
func isKind(v any, k kind) bool {
	switch k {
	case kString:
		_, ok := v.(string)
		return ok
	case kInteger:
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		_, err := strconv.ParseInt(string(n), 10, 64)
		return err == nil
	case kBoolean:
		_, ok := v.(bool)
		return ok
	case kArray:
		_, ok := v.([]any)
		return ok
	case kObject:
		_, ok := v.(map[string]any)
		return ok
	}
	return false
}

// pyString shows a value as Python's str() would, for error texts.
func pyString(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case bool:
		if x {
			return "True"
		}
		return "False"
	case string:
		return x
	case json.Number:
		return string(x)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// queueIdentification is Zaqar's check of a queue name and project id.
func (s *Server) queueIdentification(queue, project string) (reply, bool) {
	switch {
	case len(project) > httpapi.MaxProjectLength:
		return validationFailed(fmt.Sprintf("Project ids may not be more than %d characters long.", httpapi.MaxProjectLength)), true
	case len(queue) > 64:
		return validationFailed("Queue names may not be more than 64 characters long."), true
	case !httpapi.ValidQueueName(queue):
		return validationFailed("Queue names may only contain ASCII letters, digits, underscores, and dashes."), true
	}
	return reply{}, false
}

func unsupported(_ *conn, rq *request) reply {
	return errorReply(501, rq.action+" is not supported over WebSocket.", "Not implemented.")
}

func pingNode(c *conn, _ *request) reply {
	if err := c.s.store.Ping(bgContext()); err != nil {
		return reply{503, map[string]any{}}
	}
	return reply{204, map[string]any{}}
}
