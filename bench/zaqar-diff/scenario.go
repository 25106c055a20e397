package main

// step is one request of the scenario. Path, body and header values may
// name variables as {name}: {q} is the run's queue name, the others are
// captured from earlier answers of the same server.
type step struct {
	name    string
	method  string
	path    string
	body    string
	headers []header
	// capture names variables taken from this answer: the value is a JSON
	// path into the body ("messages.0.id", "resources.0") or
	// "header:Location" for the last path segment of a header.
	capture map[string]string
}

const patchType = "application/openstack-messaging-v2.0-json-patch"

var patchHeader = []header{{"Content-Type", patchType}}

// scenario walks the v2 API the way clients and Zaqar's own functional
// tests do, including the answers that differed in the past.
var scenario = []step{
	{name: "versions", method: "GET", path: "/"},
	{name: "home document", method: "GET", path: "/v2/"},
	{name: "ping", method: "GET", path: "/v2/ping"},
	{name: "ping head", method: "HEAD", path: "/v2/ping"},
	{name: "health", method: "GET", path: "/v2/health"},
	{name: "missing client id", method: "GET", path: "/v2/queues", headers: []header{{"Client-ID", ""}}},
	{name: "bad client id", method: "GET", path: "/v2/queues", headers: []header{{"Client-ID", "not-a-uuid"}}},
	{name: "missing project", method: "GET", path: "/v2/queues", headers: []header{{"X-Project-ID", ""}}},
	{name: "bad queue name", method: "PUT", path: "/v2/queues/b%C3%A4d", body: "{}"},
	{name: "queue create", method: "PUT", path: "/v2/queues/{q}", body: `{"color":"blue"}`},
	{name: "queue create again", method: "PUT", path: "/v2/queues/{q}", body: `{}`},
	{name: "queue get", method: "GET", path: "/v2/queues/{q}"},
	{name: "queue metadata too big type", method: "PUT", path: "/v2/queues/{q}x", body: `{"_default_message_ttl":"x"}`},
	{name: "queue encrypt wrong type", method: "PUT", path: "/v2/queues/{q}x", body: `{"_enable_encrypt_messages":"yes"}`},
	{name: "queue patch wrong type", method: "PATCH", path: "/v2/queues/{q}", body: `[{"op":"add","path":"/metadata/a","value":1}]`},
	{name: "queue patch", method: "PATCH", path: "/v2/queues/{q}", body: `[{"op":"add","path":"/metadata/a","value":1}]`, headers: patchHeader},
	{name: "queue patch bad path", method: "PATCH", path: "/v2/queues/{q}", body: `[{"op":"add","path":"/a","value":1}]`, headers: patchHeader},
	{name: "queue patch not a list", method: "PATCH", path: "/v2/queues/{q}", body: `{"op":"add"}`, headers: patchHeader},
	{name: "queue list", method: "GET", path: "/v2/queues?name={q}&detailed=true"},
	{name: "queue list with count", method: "GET", path: "/v2/queues?name={q}&with_count=true"},
	{name: "queue list bad limit", method: "GET", path: "/v2/queues?limit=1000"},
	{name: "stats empty", method: "GET", path: "/v2/queues/{q}/stats"},
	{name: "stats missing queue", method: "GET", path: "/v2/queues/{q}-none/stats"},
	{name: "post", method: "POST", path: "/v2/queues/{q}/messages",
		body:    `{"messages":[{"body":{"n":1},"ttl":300},{"body":"two","ttl":300},{"body":[3],"ttl":300}]}`,
		capture: map[string]string{"m1": "resources.0", "m2": "resources.1", "m3": "resources.2"}},
	{name: "post empty", method: "POST", path: "/v2/queues/{q}/messages", body: `{"messages":[]}`},
	{name: "post no body", method: "POST", path: "/v2/queues/{q}/messages", body: `{"messages":[{"ttl":300}]}`},
	{name: "post bad ttl", method: "POST", path: "/v2/queues/{q}/messages", body: `{"messages":[{"body":1,"ttl":1}]}`},
	{name: "post not json", method: "POST", path: "/v2/queues/{q}/messages", body: `{"messages":`},
	{name: "stats", method: "GET", path: "/v2/queues/{q}/stats"},
	{name: "list", method: "GET", path: "/v2/queues/{q}/messages?echo=true"},
	{name: "list bad limit", method: "GET", path: "/v2/queues/{q}/messages?limit=0"},
	{name: "get", method: "GET", path: "/v2/queues/{q}/messages/{m1}"},
	{name: "get missing", method: "GET", path: "/v2/queues/{q}/messages/5f3a1c9b0000000000000000"},
	{name: "get by ids", method: "GET", path: "/v2/queues/{q}/messages?ids={m1},{m2}"},
	{name: "claim", method: "POST", path: "/v2/queues/{q}/claims?limit=1", body: `{"ttl":300,"grace":60}`,
		capture: map[string]string{"c1": "header:Location"}},
	{name: "claim bad ttl", method: "POST", path: "/v2/queues/{q}/claims", body: `{"ttl":1}`},
	{name: "claim get", method: "GET", path: "/v2/queues/{q}/claims/{c1}"},
	{name: "claim patch", method: "PATCH", path: "/v2/queues/{q}/claims/{c1}", body: `{"ttl":400}`},
	{name: "stats claimed", method: "GET", path: "/v2/queues/{q}/stats"},
	{name: "delete claimed without claim", method: "DELETE", path: "/v2/queues/{q}/messages/{m1}"},
	{name: "claim delete", method: "DELETE", path: "/v2/queues/{q}/claims/{c1}"},
	{name: "claim get gone", method: "GET", path: "/v2/queues/{q}/claims/{c1}"},
	{name: "pop", method: "DELETE", path: "/v2/queues/{q}/messages?pop=1"},
	{name: "pop and ids", method: "DELETE", path: "/v2/queues/{q}/messages?pop=1&ids={m2}"},
	{name: "pop too many", method: "DELETE", path: "/v2/queues/{q}/messages?pop=100"},
	{name: "delete", method: "DELETE", path: "/v2/queues/{q}/messages/{m2}"},
	{name: "delete by ids", method: "DELETE", path: "/v2/queues/{q}/messages?ids={m3}"},
	{name: "subscription create", method: "POST", path: "/v2/queues/{q}/subscriptions",
		body: `{"subscriber":"http://127.0.0.1:9/hook","ttl":3600,"options":{}}`, capture: map[string]string{"s1": "subscription_id"}},
	{name: "subscription create again", method: "POST", path: "/v2/queues/{q}/subscriptions",
		body: `{"subscriber":"http://127.0.0.1:9/hook","ttl":3600,"options":{}}`},
	{name: "subscription get", method: "GET", path: "/v2/queues/{q}/subscriptions/{s1}"},
	{name: "subscription list", method: "GET", path: "/v2/queues/{q}/subscriptions"},
	{name: "subscription update subscriber null", method: "PATCH", path: "/v2/queues/{q}/subscriptions/{s1}", body: `{"subscriber":null,"ttl":7200}`},
	{name: "subscription update ttl string", method: "PATCH", path: "/v2/queues/{q}/subscriptions/{s1}", body: `{"ttl":"x"}`},
	{name: "subscription update not a dict", method: "PATCH", path: "/v2/queues/{q}/subscriptions/{s1}", body: `[1]`},
	{name: "subscription update empty", method: "PATCH", path: "/v2/queues/{q}/subscriptions/{s1}", body: `{}`},
	{name: "subscription update bad scheme", method: "PATCH", path: "/v2/queues/{q}/subscriptions/{s1}", body: `{"subscriber":"ftp://x"}`},
	{name: "subscription update short ttl", method: "PATCH", path: "/v2/queues/{q}/subscriptions/{s1}", body: `{"ttl":10}`},
	{name: "subscription update missing", method: "PATCH", path: "/v2/queues/{q}/subscriptions/5f3a1c9b0000000000000000", body: `{"ttl":7200}`},
	{name: "subscription create no subscriber", method: "POST", path: "/v2/queues/{q}/subscriptions", body: `{"ttl":3600}`},
	{name: "subscription create bad options", method: "POST", path: "/v2/queues/{q}/subscriptions", body: `{"subscriber":"http://a.b","options":[1]}`},
	{name: "subscription confirm bad", method: "PUT", path: "/v2/queues/{q}/subscriptions/{s1}/confirm", body: `{"confirmed":"yes"}`},
	{name: "subscription delete", method: "DELETE", path: "/v2/queues/{q}/subscriptions/{s1}"},
	{name: "purge bad", method: "POST", path: "/v2/queues/{q}/purge", body: `{"resource_types":["x"]}`},
	{name: "purge", method: "POST", path: "/v2/queues/{q}/purge", body: `{"resource_types":["messages","subscriptions"]}`},
	{name: "queue delete", method: "DELETE", path: "/v2/queues/{q}"},
	{name: "queue get gone", method: "GET", path: "/v2/queues/{q}"},
	{name: "unknown path", method: "GET", path: "/v2/nothing"},
	{name: "method not allowed", method: "POST", path: "/v2/queues"},
}
