package wsapi

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// TestActions runs every action over a real socket, in both encodings,
// with its success and error answers.
func TestActions(t *testing.T) {
	for _, enc := range []struct {
		name   string
		binary bool
	}{{"json", false}, {"msgpack", true}} {
		t.Run(enc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			c := e.dial(enc.binary)
			q := "q-" + enc.name

			// Queues.
			r := c.expect("create", c.call("queue_create", map[string]any{"queue_name": q, "metadata": map[string]any{"color": "red"}}), 201)
			if r.Body != "Queue "+q+" created." {
				t.Fatalf("create body %v", r.Body)
			}
			if r.Request["action"] != "queue_create" || r.Request["api"] != "v2" || field(r.Request, "body", "queue_name") != q {
				t.Fatalf("request echo %v", r.Request)
			}
			c.expect("create again", c.call("queue_create", map[string]any{"queue_name": q}), 204)
			c.expect("create bad name", c.call("queue_create", map[string]any{"queue_name": "bad name"}), 400,
				`"exception":"Queue names may only contain ASCII letters, digits, underscores, and dashes."`, `"error":null`)
			c.expect("create bad metadata", c.call("queue_create", map[string]any{"queue_name": "m", "metadata": map[string]any{"_default_message_ttl": 10}}), 400,
				"_default_message_ttl can not exceed 1209600 seconds, and must be at least 60 seconds long.")
			c.expect("get", c.call("queue_get", map[string]any{"queue_name": q}), 200, `"color":"red"`)
			c.expect("get missing", c.call("queue_get", map[string]any{"queue_name": "nope"}), 200, `{}`)
			r = c.expect("list", c.call("queue_list", map[string]any{"detailed": true}), 200, `"name":"`+q+`"`, `"metadata":{"color":"red"}`)
			c.expect("list limit", c.call("queue_list", map[string]any{"limit": 0}), 400, "Limit must be at least 1 and no greater than 20.")
			c.expect("list no body", c.call("queue_list", nil), 200, `"queues"`)
			c.expect("stats empty", c.call("queue_get_stats", map[string]any{"queue_name": q}), 200, `"total":0`)
			c.expect("stats missing", c.call("queue_get_stats", map[string]any{"queue_name": "nope"}), 404, `{"messages":{"claimed":0,"free":0,"total":0}}`)

			// Messages.
			r = c.expect("post", c.call("message_post", map[string]any{"queue_name": q, "messages": []any{
				map[string]any{"body": map[string]any{"n": 1}, "ttl": 300},
				map[string]any{"body": "two"},
				map[string]any{"body": []any{3, 3.5, nil, true}},
			}}), 201)
			ids := strings.Split(strings.Trim(strings.ReplaceAll(fmt.Sprint(field(r.Body, "message_ids")), " ", ","), "[]"), ",")
			if len(ids) != 3 {
				t.Fatalf("ids %v", r.Body)
			}
			c.expect("post empty", c.call("message_post", map[string]any{"queue_name": q, "messages": []any{}}), 400, "No messages to enqueu.")
			c.expect("post no body", c.call("message_post", map[string]any{"queue_name": q, "messages": []any{map[string]any{"ttl": 60}}}), 400, `Missing \"body\" field.`)
			c.expect("post ttl type", c.call("message_post", map[string]any{"queue_name": q, "messages": []any{map[string]any{"body": 1, "ttl": "x"}}}), 400, `The value of the \"ttl\" field must be a int.`)
			c.expect("post ttl range", c.call("message_post", map[string]any{"queue_name": q, "messages": []any{map[string]any{"body": 1, "ttl": 10}}}), 400, "The TTL for a message may not exceed 1209600 seconds")
			c.expect("post too large", c.call("message_post", map[string]any{"queue_name": q, "messages": []any{map[string]any{"body": strings.Repeat("x", 262144)}}}), 400, "Message collection size is too large. Max size 262144")

			// echo=false hides this client's own messages.
			r = c.expect("list own", c.call("message_list", map[string]any{"queue_name": q}), 200)
			if n := len(field(r.Body, "messages").([]any)); n != 0 {
				t.Fatalf("own messages listed without echo: %d", n)
			}
			r = c.expect("list echo", c.call("message_list", map[string]any{"queue_name": q, "echo": true}), 200, `"body":{"n":1}`, `"body":"two"`, `"body":[3,3.5,null,true]`, `"claim_id":null`)
			if n := len(field(r.Body, "messages").([]any)); n != 3 {
				t.Fatalf("listed %d messages, want 3", n)
			}
			c.expect("list limit", c.call("message_list", map[string]any{"queue_name": q, "limit": 21}), 400, "Limit must be at least 1 and may not be greater than 20.")
			r = c.expect("get", c.call("message_get", map[string]any{"queue_name": q, "message_id": ids[0]}), 200, `"id":"`+ids[0]+`"`, `"ttl":300`)
			if _, isObject := field(r.Body, "messages").(map[string]any); !isObject {
				t.Fatalf("message_get body %v: messages is not one object", r.Body)
			}
			c.expect("get missing", c.call("message_get", map[string]any{"queue_name": q, "message_id": "ffffffffffffffffffffffff"}), 404, "does not exist")
			r = c.expect("get many", c.call("message_get_many", map[string]any{"queue_name": q, "message_ids": []any{ids[1], ids[2]}}), 200, `"body":"two"`)
			if n := len(field(r.Body, "messages").([]any)); n != 2 {
				t.Fatalf("get many: %d messages", n)
			}
			c.expect("stats", c.call("queue_get_stats", map[string]any{"queue_name": q}), 200, `"total":3`, `"oldest"`)

			// Claims.
			r = c.expect("claim", c.call("claim_create", map[string]any{"queue_name": q, "limit": 2, "ttl": 120, "grace": 60}), 201)
			claimID, _ := field(r.Body, "claim_id").(string)
			if claimID == "" || len(field(r.Body, "messages").([]any)) != 2 {
				t.Fatalf("claim body %v", r.Body)
			}
			c.expect("claim ttl", c.call("claim_create", map[string]any{"queue_name": q, "ttl": 10}), 400, "The TTL for a claim may not exceed 43200 seconds")
			c.expect("claim limit", c.call("claim_create", map[string]any{"queue_name": q, "limit": 100}), 400, "Limit must be at least 1 and may not be greater than 20.")
			c.expect("claim get", c.call("claim_get", map[string]any{"queue_name": q, "claim_id": claimID}), 200, `"ttl":120`, `"claim_id":"`+claimID+`"`)
			c.expect("claim get missing", c.call("claim_get", map[string]any{"queue_name": q, "claim_id": "ffffffffffffffffffffffff"}), 404, "does not exist.")
			c.expect("claim update", c.call("claim_update", map[string]any{"queue_name": q, "claim_id": claimID, "ttl": 200}), 204, "Claim "+claimID+" updated.")
			c.expect("claim get renewed", c.call("claim_get", map[string]any{"queue_name": q, "claim_id": claimID}), 200, `"ttl":200`)
			c.expect("delete claimed", c.call("message_delete", map[string]any{"queue_name": q, "message_id": ids[0]}), 403,
				"This message is claimed; it cannot be deleted without a valid claim ID.")
			c.expect("delete with claim", c.call("message_delete", map[string]any{"queue_name": q, "message_id": ids[0], "claim_id": claimID}), 204)
			c.expect("delete with wrong claim", c.call("message_delete", map[string]any{"queue_name": q, "message_id": ids[2], "claim_id": claimID}), 400,
				"A claim was specified, but the message is not currently claimed.")
			c.expect("claim rest", c.call("claim_create", map[string]any{"queue_name": q}), 201)
			c.expect("claim none", c.call("claim_create", map[string]any{"queue_name": q}), 204, `{"claim_id":null}`)
			c.expect("claim delete", c.call("claim_delete", map[string]any{"queue_name": q, "claim_id": claimID}), 204, "Claim "+claimID+" deleted.")

			// Bulk delete and pop.
			c.expect("delete many neither", c.call("message_delete_many", map[string]any{"queue_name": q}), 400, `The request should have either \"ids\" or \"pop\"`)
			c.expect("delete many both", c.call("message_delete_many", map[string]any{"queue_name": q, "message_ids": []any{ids[1]}, "pop": 1}), 400, "pop and id params cannot be present together")
			c.expect("delete many", c.call("message_delete_many", map[string]any{"queue_name": q, "message_ids": []any{ids[1]}}), 204)
			c.call("message_post", map[string]any{"queue_name": q, "messages": []any{map[string]any{"body": "pop me"}}})
			c.expect("pop range", c.call("message_delete_many", map[string]any{"queue_name": q, "pop": 50}), 400, "Pop value must be at least 1 and may not be greater than 20.")
			c.expect("pop", c.call("message_delete_many", map[string]any{"queue_name": q, "pop": 5}), 200, `"body":"pop me"`, `"claim_count"`)

			// Subscriptions with a subscriber URI.
			c.expect("subscribe bad type", c.call("subscription_create", map[string]any{"queue_name": q, "subscriber": "ftp://x"}), 400,
				"The subscriber type of subscription must be supported in the list ['http', 'https', 'mailto', 'trust+http', 'trust+https'].")
			c.expect("subscribe ttl", c.call("subscription_create", map[string]any{"queue_name": q, "subscriber": "http://127.0.0.1:1/x", "ttl": 5}), 400,
				"The TTL for a subscription must be at least 60 seconds long.")
			r = c.expect("subscribe", c.call("subscription_create", map[string]any{"queue_name": q, "subscriber": "http://127.0.0.1:1/x", "ttl": 600}), 201,
				`"message":"Subscription `+q+` created."`)
			subID, _ := field(r.Body, "subscription_id").(string)
			c.expect("subscribe again", c.call("subscription_create", map[string]any{"queue_name": q, "subscriber": "http://127.0.0.1:1/x"}), 409,
				`Subscription `+q+` not created.`)
			c.expect("subscription get", c.call("subscription_get", map[string]any{"queue_name": q, "subscription_id": subID}), 200,
				`"subscriber":"http://127.0.0.1:1/x"`, `"source":"`+q+`"`, `"ttl":600`)
			c.expect("subscription list", c.call("subscription_list", map[string]any{"queue_name": q}), 200, `"id":"`+subID+`"`)
			c.expect("subscription delete", c.call("subscription_delete", map[string]any{"queue_name": q, "subscription_id": subID}), 204)
			c.expect("subscription get gone", c.call("subscription_get", map[string]any{"queue_name": q, "subscription_id": subID}), 404, "does not exist.")

			// Purge and delete.
			c.call("message_post", map[string]any{"queue_name": q, "messages": []any{map[string]any{"body": 1}}})
			c.expect("purge bad type", c.call("queue_purge", map[string]any{"queue_name": q, "resource_types": []any{"queues"}}), 400, "Resource types must be a sub set of")
			c.expect("purge", c.call("queue_purge", map[string]any{"queue_name": q, "resource_types": []any{"messages"}}), 204)
			c.expect("stats purged", c.call("queue_get_stats", map[string]any{"queue_name": q}), 200, `"total":0`)
			c.expect("delete", c.call("queue_delete", map[string]any{"queue_name": q}), 204, "Queue "+q+" removed.")
			c.expect("get deleted", c.call("queue_get_stats", map[string]any{"queue_name": q}), 404)

			// Actions Zaqar's schema lists without a handler.
			c.expect("pool_list", c.call("pool_list", map[string]any{"pool_name": "p"}), 501, "not supported over WebSocket")
			c.expect("ping_node", c.call("ping_node", nil), 204)
		})
	}
}

// TestBadFrames: every malformed request is answered, in its own
// encoding, and the connection keeps serving.
func TestBadFrames(t *testing.T) {
	e := newEnv(t, nil)
	c := e.dial(false)
	for _, f := range []struct {
		name   string
		data   string
		binary bool
		want   string
	}{
		{"not json", `{"action": `, false, `Can't decode text (JSON) request. JSONDecodeError: `},
		{"trailing data", `{} {}`, false, `Can't decode text (JSON) request.`},
		{"not msgpack", "\xc1", true, `Can't decode binary (MessagePack) request.`},
		{"msgpack array claiming 3.7e9 elements", "\xdd\xdd\xdd\xdd\xdd\x0100", true, `Can't decode binary (MessagePack) request.`},
		{"msgpack map keyed by a map", "\x81\x800", true, `Can't decode binary (MessagePack) request.`},
		{"json array", `[1,2]`, false, `Unexpected body type. Expected dict or dict like.`},
		{"msgpack string", "\xa3abc", true, `Unexpected body type. Expected dict or dict like.`},
		{"no action", `{"headers": {}}`, false, `None is not a valid action`},
		{"unknown action", `{"action": "queue_explode", "headers": {}}`, false, `queue_explode is not a valid action`},
		{"action not a string", `{"action": 7}`, false, `7 is not a valid action`},
		{"no headers", `{"action": "queue_list"}`, false, `Schema validation failed.`},
		{"no client id", `{"action": "queue_list", "headers": {"X-Project-ID": "p"}}`, false, `Schema validation failed.`},
		{"header not a string", `{"action": "queue_list", "headers": {"Client-ID": 1, "X-Project-ID": "p"}}`, false, `Schema validation failed.`},
		{"no body", `{"action": "queue_get", "headers": {"Client-ID": "` + testClient + `", "X-Project-ID": "p"}}`, false, `Schema validation failed.`},
		{"body not an object", `{"action": "queue_get", "headers": {"Client-ID": "` + testClient + `", "X-Project-ID": "p"}, "body": []}`, false, `Schema validation failed.`},
		{"missing field", `{"action": "message_get", "headers": {"Client-ID": "` + testClient + `", "X-Project-ID": "p"}, "body": {"queue_name": "q"}}`, false, `Schema validation failed.`},
		{"wrong field type", `{"action": "message_list", "headers": {"Client-ID": "` + testClient + `", "X-Project-ID": "p"}, "body": {"queue_name": "q", "limit": "5"}}`, false, `Schema validation failed.`},
		{"boolean as integer", `{"action": "message_list", "headers": {"Client-ID": "` + testClient + `", "X-Project-ID": "p"}, "body": {"queue_name": "q", "limit": true}}`, false, `Schema validation failed.`},
		{"float as integer", `{"action": "claim_create", "headers": {"Client-ID": "` + testClient + `", "X-Project-ID": "p"}, "body": {"queue_name": "q", "ttl": 60.5}}`, false, `Schema validation failed.`},
		{"bad client id", `{"action": "message_list", "headers": {"Client-ID": "nope", "X-Project-ID": "p"}, "body": {"queue_name": "q"}}`, false, `badly formed hexadecimal UUID string`},
	} {
		c.sendRaw([]byte(f.data), f.binary)
		m, binary := c.read()
		if binary != f.binary {
			t.Fatalf("%s: answer binary=%v", f.name, binary)
		}
		b, _ := json.Marshal(m["body"])
		if st := field(m, "headers", "status"); fmt.Sprint(st) != "400" {
			t.Fatalf("%s: status %v, want 400; body %s", f.name, st, b)
		}
		if !strings.Contains(string(b), f.want) {
			t.Fatalf("%s: body %s does not contain %q", f.name, b, f.want)
		}
	}
	// Still serving.
	c.expect("after bad frames", c.call("queue_list", nil), 200)
}
