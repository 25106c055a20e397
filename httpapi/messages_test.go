package httpapi

import (
	"encoding/json"
	"strings"
	"testing"
)

const otherClient = "Client-ID: 9b2c7f1e-0000-4000-8000-000000000002"

func resources(t *testing.T, r reply) []string {
	t.Helper()
	var doc struct{ Resources []string }
	if err := json.Unmarshal([]byte(r.body), &doc); err != nil || len(doc.Resources) == 0 {
		t.Fatalf("no resources in %s", r.body)
	}
	ids := make([]string, len(doc.Resources))
	for i, h := range doc.Resources {
		ids[i] = h[strings.LastIndex(h, "/")+1:]
	}
	return ids
}

func TestMessages(t *testing.T) {
	s := newServer(t, nil)
	r := s.expect("post", s.do("POST", "/v2/queues/m/messages", postBody(3, 300)), 201, `"resources":["/v2/queues/m/messages/`)
	ids := resources(t, r)
	if r.headers["Location"] != "/v2/queues/m/messages?ids="+strings.Join(ids, ",") {
		t.Fatalf("location %q", r.headers["Location"])
	}
	s.expect("queue auto-created", s.do("GET", "/v2/queues/m", ""), 200)
	for _, c := range []struct{ name, body, want string }{
		{"post empty batch", `{"messages":[]}`, "No messages to enqueu."},
		{"post no messages key", `{"x":1}`, "No messages were found in the request body."},
		{"post not json", `not json`, "Request body could not be parsed."},
		{"post empty body", ``, "can not be empty"},
		{"post no body field", `{"messages":[{"ttl":300}]}`, `Missing \"body\" field.`},
		{"post ttl small", postBody(1, 59), "The TTL for a message may not exceed 1209600 seconds, and must be at least 60 seconds long."},
		{"post ttl big", postBody(1, 1209601), "may not exceed 1209600"},
		{"post ttl type", `{"messages":[{"ttl":"x","body":1}]}`, "must be a int"},
		{"post too large", `{"messages":[{"body":"` + strings.Repeat("x", 262144) + `"}]}`, "Message collection size is too large. Max size 262144"},
	} {
		s.expect(c.name, s.do("POST", "/v2/queues/m/messages", c.body), 400, c.want)
	}
	s.expect("post null body", s.do("POST", "/v2/queues/m/messages", `{"messages":[{"body":null}]}`), 201)

	s.expect("list own hidden", s.do("GET", "/v2/queues/m/messages", ""), 200, `"messages":[]`, `"links":[]`)
	r = s.expect("list echo", s.do("GET", "/v2/queues/m/messages?echo=true&limit=2", ""), 200, `"id":"`+ids[0], `"body":{"n":0}`, `"ttl":300`, `"age":0`, `"rel":"next"`)
	var page struct {
		Messages []map[string]any
		Links    []struct{ Href string }
	}
	json.Unmarshal([]byte(r.body), &page)
	if len(page.Messages) != 2 || !strings.Contains(page.Links[0].Href, "echo=true") {
		t.Fatalf("page: %s", r.body)
	}
	s.expect("list next page", s.do("GET", page.Links[0].Href, ""), 200, `"id":"`+ids[2])
	s.expect("list other client", s.do("GET", "/v2/queues/m/messages", "", otherClient), 200, ids[0], ids[1])
	s.expect("list limit", s.do("GET", "/v2/queues/m/messages?limit=21", ""), 400, "Limit must be at least 1 and may not be greater than 20.")
	s.expect("list missing queue", s.do("GET", "/v2/queues/none/messages", ""), 200, `{"messages":[],"links":[]}`)
	s.expect("list bad marker", s.do("GET", "/v2/queues/m/messages?marker=zzz&echo=true", ""), 200, `"messages":[]`)

	s.expect("get", s.do("GET", "/v2/queues/m/messages/"+ids[1], ""), 200, `"id":"`+ids[1], `"href":"/v2/queues/m/messages/`+ids[1]+`"`)
	s.expect("get missing", s.do("GET", "/v2/queues/m/messages/00000000000000000000000000000000", ""), 404, "Message 00000000000000000000000000000000 does not exist in queue m for project proj")
	s.expect("get other project", s.do("GET", "/v2/queues/m/messages/"+ids[1], "", "X-Project-ID: other"), 404, "Queue m does not exist for project other")
	s.expect("get by ids", s.do("GET", "/v2/queues/m/messages?ids="+ids[0]+",bogus,"+ids[2], ""), 200, ids[0], ids[2])
	s.expect("get by ids none", s.do("GET", "/v2/queues/m/messages?ids=bogus", ""), 404, "No messages with IDs")
	s.expect("get by too many ids", s.do("GET", "/v2/queues/m/messages?ids="+strings.Repeat("a,", 21)+"a", ""), 400)

	for _, c := range []struct{ name, query, want string }{
		{"delete neither", "", `The request should have either \"ids\" or \"pop\" parameter`},
		{"delete both", "?ids=a&pop=1", "pop and id params cannot be present together"},
		{"pop too many", "?pop=21", "Pop value must be at least 1 and may not be greater than 20."},
		{"pop bad", "?pop=x", "Invalid parameter"},
	} {
		s.expect(c.name, s.do("DELETE", "/v2/queues/m/messages"+c.query, ""), 400, c.want)
	}
	s.expect("pop", s.do("DELETE", "/v2/queues/m/messages?pop=1", ""), 200, `"id":"`+ids[0], `"claim_id":"`, `"claim_count":0`)
	s.expect("bulk delete", s.do("DELETE", "/v2/queues/m/messages?ids="+ids[1]+",bogus", ""), 204)
	s.expect("delete one", s.do("DELETE", "/v2/queues/m/messages/"+ids[2], ""), 204)
	s.expect("delete missing", s.do("DELETE", "/v2/queues/m/messages/"+ids[2], ""), 204)
	s.expect("all gone", s.do("GET", "/v2/queues/m/messages?ids="+strings.Join(ids, ","), ""), 404)
	s.expect("pop empty", s.do("DELETE", "/v2/queues/none/messages?pop=3", ""), 200, `{"messages":[]}`)
}

func TestDelayedQueueAndChecksum(t *testing.T) {
	s := newServer(t, func(o *Options) { o.EnableChecksum = true })
	s.expect("create delayed", s.do("PUT", "/v2/queues/d", `{"_default_message_delay":30}`), 201)
	s.expect("post", s.do("POST", "/v2/queues/d/messages", `{"messages":[{"body":1},{"body":2,"delay":0}]}`), 201)
	s.expect("delay too big", s.do("POST", "/v2/queues/d/messages", `{"messages":[{"body":1,"delay":901}]}`), 400, "The Delay TTL for a message may not exceed 900 seconds,and must be at least 0 seconds long.")
	r := s.expect("list hides delayed", s.do("GET", "/v2/queues/d/messages?echo=true", ""), 200, `"body":2`, `"checksum":"MD5:`)
	if strings.Contains(r.body, `"body":1`) {
		t.Fatalf("delayed message listed: %s", r.body)
	}
	s.expect("include delayed", s.do("GET", "/v2/queues/d/messages?echo=true&include_delayed=true", ""), 200, `"body":1`)
	s.expect("undelayed queue ignores delay", s.do("POST", "/v2/queues/plain/messages", `{"messages":[{"body":1,"delay":100}]}`), 201)
	s.expect("visible at once", s.do("GET", "/v2/queues/plain/messages?echo=true", ""), 200, `"body":1`)
	s.expect("queue post size", s.do("PUT", "/v2/queues/small", `{"_max_messages_post_size":100}`), 201)
	s.expect("queue post size enforced", s.do("POST", "/v2/queues/small/messages", postBody(5, 300)), 400, "Max size 100")
}

func TestClaims(t *testing.T) {
	s := newServer(t, nil)
	ids := resources(t, s.do("POST", "/v2/queues/c/messages", postBody(5, 300)))
	for _, c := range []struct{ name, query, body, want string }{
		{"claim bad ttl", "", `{"ttl":10}`, "The TTL for a claim may not exceed 43200 seconds, and must be at least 60 seconds long."},
		{"claim bad grace", "", `{"grace":99999}`, "The grace for a claim"},
		{"claim bad limit", "?limit=21", `{}`, "Limit must be at least 1"},
		{"claim bad json", "", `{`, "could not be parsed"},
		{"claim ttl type", "", `{"ttl":"long"}`, "must be a int"},
	} {
		s.expect(c.name, s.do("POST", "/v2/queues/c/claims"+c.query, c.body), 400, c.want)
	}
	r := s.expect("claim", s.do("POST", "/v2/queues/c/claims?limit=2", `{"ttl":120,"grace":60}`), 201, ids[0], ids[1], "?claim_id=")
	loc := r.headers["Location"]
	if !strings.HasPrefix(loc, "/v2/queues/c/claims/") {
		t.Fatalf("claim location %q", loc)
	}
	cid := loc[strings.LastIndex(loc, "/")+1:]
	s.expect("claim defaults", s.do("POST", "/v2/queues/c/claims?limit=1", ``), 201, ids[2])
	s.expect("get claim", s.do("GET", loc, ""), 200, `"ttl":120`, `"age":0`, `"href":"`+loc+`"`, ids[0], ids[1])
	s.expect("get claim missing", s.do("GET", "/v2/queues/c/claims/nope", ""), 404, "Claim nope does not exist in queue c for project proj")
	s.expect("patch claim", s.do("PATCH", loc, `{"ttl":300,"grace":60}`), 204)
	s.expect("patch claim empty", s.do("PATCH", loc, ``), 400)
	s.expect("patch claim missing", s.do("PATCH", "/v2/queues/c/claims/nope", `{"ttl":300}`), 404)
	s.expect("get renewed", s.do("GET", loc, ""), 200, `"ttl":300`)
	s.expect("message shows claim", s.do("GET", "/v2/queues/c/messages/"+ids[0], ""), 200, "?claim_id="+cid)
	s.expect("list hides claimed", s.do("GET", "/v2/queues/c/messages?echo=true", ""), 200, ids[3], ids[4])
	s.expect("list include claimed", s.do("GET", "/v2/queues/c/messages?echo=true&include_claimed=true", ""), 200, ids[0], ids[3])
	s.expect("stats claimed", s.do("GET", "/v2/queues/c/stats", ""), 200, `"claimed":3`, `"free":2`, `"total":5`, `"oldest":{`, `"created":"`)
	for _, c := range []struct {
		name, message string
		status        int
		want          string
	}{
		{"delete claimed without claim id", ids[0], 403, "This message is claimed; it cannot be deleted without a valid claim ID."},
		{"delete claimed wrong claim id", ids[0] + "?claim_id=nope", 400, "The specified claim does not exist or has expired."},
		{"delete unclaimed with claim id", ids[4] + "?claim_id=" + cid, 400, "A claim was specified, but the message is not currently claimed."},
	} {
		s.expect(c.name, s.do("DELETE", "/v2/queues/c/messages/"+c.message, ""), c.status, c.want)
	}
	s.expect("delete with claim id", s.do("DELETE", "/v2/queues/c/messages/"+ids[0]+"?claim_id="+cid, ""), 204)
	s.expect("release", s.do("DELETE", loc, ""), 204)
	s.expect("release again", s.do("DELETE", loc, ""), 204)
	s.expect("claim everything", s.do("POST", "/v2/queues/c/claims?limit=20", `{}`), 201, ids[1], ids[3], ids[4])
	s.expect("claim none free", s.do("POST", "/v2/queues/c/claims", `{}`), 204)
	s.expect("claim missing queue", s.do("POST", "/v2/queues/none/claims", `{}`), 204)
}

func TestClaimIDsRequiredForBulkDelete(t *testing.T) {
	s := newServer(t, func(o *Options) { o.MessageDeleteWithClaimID = true })
	ids := resources(t, s.do("POST", "/v2/queues/c/messages", postBody(2, 300)))
	s.expect("no claim ids", s.do("DELETE", "/v2/queues/c/messages?ids="+ids[0], ""), 400, "claim_ids")
	loc := s.do("POST", "/v2/queues/c/claims?limit=1", `{}`).headers["Location"]
	cid := loc[strings.LastIndex(loc, "/")+1:]
	s.expect("unclaimed in list", s.do("DELETE", "/v2/queues/c/messages?ids="+ids[1]+"&claim_ids="+cid, ""), 403)
	s.expect("claimed", s.do("DELETE", "/v2/queues/c/messages?ids="+ids[0]+"&claim_ids="+cid, ""), 204)
}

func TestSubscriptionsAndPurge(t *testing.T) {
	s := newServer(t, nil)
	r := s.expect("subscribe", s.do("POST", "/v2/queues/s/subscriptions", `{"subscriber":"http://127.0.0.1:9/hook","ttl":3600,"options":{"a":1}}`), 201, `"subscription_id":"`)
	var created struct {
		SubscriptionID string `json:"subscription_id"`
	}
	json.Unmarshal([]byte(r.body), &created)
	sid := created.SubscriptionID
	s.expect("duplicate unconfirmed", s.do("POST", "/v2/queues/s/subscriptions", `{"subscriber":"http://127.0.0.1:9/hook"}`), 201, sid)
	for _, c := range []struct{ name, body, want string }{
		{"bad scheme", `{"subscriber":"ftp://x"}`,
			"The subscriber type of subscription must be supported in the list ['http', 'https', 'mailto', 'trust+http', 'trust+https']."},
		{"no subscriber", `{"ttl":100}`, "Missing parameter subscriber in body."},
		{"bad ttl", `{"subscriber":"http://a","ttl":10}`, "at least 60 seconds"},
		{"bad options", `{"subscriber":"http://a","options":[1]}`, "Options must be a dict."},
	} {
		s.expect(c.name, s.do("POST", "/v2/queues/s/subscriptions", c.body), 400, c.want)
	}
	s.expect("mailto", s.do("POST", "/v2/queues/s/subscriptions", `{"subscriber":"mailto:ops@example.com"}`), 201)
	s.expect("list", s.do("GET", "/v2/queues/s/subscriptions?limit=1", ""), 200, `"id":"`+sid, `"source":"s"`, `"rel":"next"`)
	s.expect("list limit", s.do("GET", "/v2/queues/s/subscriptions?limit=50", ""), 400)
	s.expect("get", s.do("GET", "/v2/queues/s/subscriptions/"+sid, ""), 200, `"subscriber":"http://127.0.0.1:9/hook"`, `"options":{"a":1}`, `"confirmed":false`, `"ttl":3600`)
	s.expect("get missing", s.do("GET", "/v2/queues/s/subscriptions/nope", ""), 404)
	s.expect("update", s.do("PATCH", "/v2/queues/s/subscriptions/"+sid, `{"ttl":7200}`), 204)
	s.expect("update empty", s.do("PATCH", "/v2/queues/s/subscriptions/"+sid, `{}`), 400, "No subscription to create.")
	s.expect("update duplicate", s.do("PATCH", "/v2/queues/s/subscriptions/"+sid, `{"subscriber":"mailto:ops@example.com"}`), 409)
	s.expect("update missing", s.do("PATCH", "/v2/queues/s/subscriptions/nope", `{"ttl":7200}`), 404)
	s.expect("confirm bad", s.do("PUT", "/v2/queues/s/subscriptions/"+sid+"/confirm", `{"confirmed":"yes"}`), 400, "The 'confirmed' should be boolean.")
	s.expect("confirm", s.do("PUT", "/v2/queues/s/subscriptions/"+sid+"/confirm", `{"confirmed":true}`), 204)
	s.expect("confirmed", s.do("GET", "/v2/queues/s/subscriptions/"+sid, ""), 200, `"confirmed":true`, `"ttl":7200`)
	s.expect("duplicate confirmed", s.do("POST", "/v2/queues/s/subscriptions", `{"subscriber":"http://127.0.0.1:9/hook"}`), 409)
	s.expect("confirm missing", s.do("PUT", "/v2/queues/s/subscriptions/nope/confirm", `{"confirmed":true}`), 404)

	s.do("POST", "/v2/queues/s/messages", postBody(3, 300))
	s.do("POST", "/v2/queues/s/claims", `{}`)
	s.expect("purge bad type", s.do("POST", "/v2/queues/s/purge", `{"resource_types":["bogus"]}`), 400, "Resource types must be a sub set of")
	s.expect("purge missing key", s.do("POST", "/v2/queues/s/purge", `{"x":1}`), 400, `Post body must contain key \"resource_types\".`)
	s.expect("purge messages", s.do("POST", "/v2/queues/s/purge", `{"resource_types":["messages"]}`), 204)
	s.expect("no messages, claimed included", s.do("GET", "/v2/queues/s/stats", ""), 200, `"total":0`)
	s.expect("subscriptions kept", s.do("GET", "/v2/queues/s/subscriptions", ""), 200, sid)
	s.expect("purge all", s.do("POST", "/v2/queues/s/purge", ``), 204)
	s.expect("subscriptions purged", s.do("GET", "/v2/queues/s/subscriptions", ""), 200, `"subscriptions":[]`)
	s.expect("delete subscription missing", s.do("DELETE", "/v2/queues/s/subscriptions/"+sid, ""), 204)
}

// TestDecodePostLeavesNothingForTheNext: post lists are reused, and the
// decoder writes into a reused slot without zeroing it. Nothing of a
// large post, or of one that failed halfway through a message, may show
// up in a later post's messages.
func TestDecodePostLeavesNothingForTheNext(t *testing.T) {
	var big strings.Builder
	big.WriteString(`{"messages":[`)
	for i := range 40 {
		if i > 0 {
			big.WriteByte(',')
		}
		big.WriteString(`{"body":"big","ttl":120,"delay":30}`)
	}
	big.WriteString(`]}`)
	earlier := []string{
		big.String(),
		`{"messages":[{"body":1,"ttl":90,"delay":5},{"body":2,"ttl":`,
		`{"messages":[{"ttl":77,"delay":7,"body":`,
	}
	// A sync.Pool may drop what it is given (the race detector makes it
	// drop a share at random): repeat so that reuse happens.
	for range 50 {
		for _, doc := range earlier {
			pb, _, _ := decodePost([]byte(doc))
			pb.release()
		}
		pb, list, err := decodePost([]byte(`{"messages":[{"body":"a"},{"ttl":300}]}`))
		if err != nil || len(list) != 2 {
			t.Fatalf("decode: %d messages, %v", len(list), err)
		}
		if string(list[0].Body) != `"a"` || list[0].TTL != nil || list[0].Delay != nil {
			t.Fatalf("first message: body %q ttl %q delay %q", list[0].Body, list[0].TTL, list[0].Delay)
		}
		if list[1].Body != nil || string(list[1].TTL) != "300" || list[1].Delay != nil {
			t.Fatalf("second message: body %q ttl %q delay %q", list[1].Body, list[1].TTL, list[1].Delay)
		}
		pb.release()
	}
	for doc, wantList := range map[string]bool{`{}`: false, `{"messages":null}`: false, `{"x":[1]}`: false, `{"messages":[]}`: true} {
		pb, list, err := decodePost([]byte(doc))
		if err != nil || (list != nil) != wantList || len(list) != 0 {
			t.Fatalf("%s: list %v (nil=%v), err %v", doc, list, list == nil, err)
		}
		pb.release()
	}
}
