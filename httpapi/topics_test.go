package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/zaqar-go/zaqar/internal/testenv"
	"github.com/zaqar-go/zaqar/policy"
	"github.com/zaqar-go/zaqar/redisstore"
)

const patchCT = "Content-Type: application/openstack-messaging-v2.0-json-patch"

// topicLifecycle drives every topic route of s, with their errors, and
// checks that topics and queues never mix.
func topicLifecycle(t *testing.T, s *server) {
	r := s.expect("create", s.do("PUT", "/v2/topics/news", `{"color":"blue","n":5}`), 201)
	if r.headers["Location"] != "/v2/topics/news" || r.headers["Content-Type"] != "application/json" {
		t.Fatalf("create headers %v", r.headers)
	}
	s.expect("create again", s.do("PUT", "/v2/topics/news", `{}`), 204)
	s.expect("another", s.do("PUT", "/v2/topics/sports", ``), 201)
	s.expect("a queue of the same name", s.do("PUT", "/v2/queues/news", `{"kind":"queue"}`), 201)

	// GET fills the topic's three reserved attributes, none of a queue's.
	r = s.expect("get", s.do("GET", "/v2/topics/news", ""), 200)
	var meta map[string]any
	json.Unmarshal([]byte(r.body), &meta)
	want := map[string]any{"color": "blue", "n": 5.0, "_max_messages_post_size": 262144.0, "_default_message_ttl": 3600.0,
		"_default_message_delay": 0.0}
	if fmt.Sprint(meta) != fmt.Sprint(want) {
		t.Fatalf("topic metadata %v, want %v", meta, want)
	}
	s.expect("the queue keeps its own metadata", s.do("GET", "/v2/queues/news", ""), 200, `"kind":"queue"`, `"_dead_letter_queue":null`)

	// Listings: topics in one, queues in the other.
	r = s.expect("list topics", s.do("GET", "/v2/topics", ""), 200)
	var list struct {
		Topics []map[string]any
		Queues []map[string]any
		Links  []map[string]string
		Count  any
	}
	json.Unmarshal([]byte(r.body), &list)
	if len(list.Topics) != 2 || list.Topics[0]["name"] != "news" || list.Topics[0]["href"] != "/v2/topics/news" ||
		list.Topics[1]["name"] != "sports" || list.Queues != nil || len(list.Links) != 1 ||
		list.Links[0]["href"] != "/v2/topics?marker=sports" {
		t.Fatalf("topic listing %s", r.body)
	}
	r = s.expect("page after the first topic", s.do("GET", "/v2/topics?limit=1&marker=news&detailed=true", ""), 200,
		`"name":"sports"`, `"_default_message_ttl":3600`)
	if strings.Contains(r.body, `"news"`) || strings.Contains(r.body, "_dead_letter_queue") {
		t.Fatalf("second page %s", r.body)
	}
	s.expect("filter by metadata", s.do("GET", "/v2/topics?color=blue", ""), 200, `"name":"news"`)
	if r := s.do("GET", "/v2/topics?color=red", ""); strings.Contains(r.body, "news") {
		t.Fatalf("metadata filter ignored: %s", r.body)
	}
	if r := s.do("GET", "/v2/topics?name=port", ""); !strings.Contains(r.body, "sports") || strings.Contains(r.body, `"news"`) {
		t.Fatalf("name filter: %s", r.body)
	}
	// No with_count on topics: as in the original, it is one more filter.
	if r := s.do("GET", "/v2/topics?with_count=true", ""); strings.Contains(r.body, "news") || strings.Contains(r.body, "count") {
		t.Fatalf("with_count on topics: %s", r.body)
	}
	s.expect("bad limit", s.do("GET", "/v2/topics?limit=0", ""), 400, "Limit must be at least 1 and no greater than 20.")
	r = s.expect("list queues", s.do("GET", "/v2/queues?with_count=true", ""), 200, `"name":"news"`, `"count":1`)
	if strings.Contains(r.body, "sports") || strings.Contains(r.body, "/v2/topics") || strings.Contains(r.body, "~") {
		t.Fatalf("queue listing shows topics: %s", r.body)
	}

	// PATCH exactly as queues', with the topic's reserved attributes.
	s.expect("patch media type", s.do("PATCH", "/v2/topics/news", `[]`), 415)
	r = s.expect("patch", s.do("PATCH", "/v2/topics/news",
		`[{"op":"replace","path":"/metadata/_default_message_ttl","value":120},{"op":"remove","path":"/metadata/n"}]`, patchCT), 200,
		`"_default_message_ttl":120`)
	if strings.Contains(r.body, `"n"`) || strings.Contains(r.body, "_enable_encrypt_messages") {
		t.Fatalf("patched topic %s", r.body)
	}
	s.expect("replace a queue-only attribute that is unset", s.do("PATCH", "/v2/topics/news",
		`[{"op":"replace","path":"/metadata/_max_claim_count","value":3}]`, patchCT), 409, "Can't replace non-existent object _max_claim_count.")
	s.expect("patch a missing topic", s.do("PATCH", "/v2/topics/nope", `[{"op":"add","path":"/metadata/a","value":1}]`, patchCT),
		404, "Topic nope does not exist for project proj")
	s.expect("patch with bad metadata", s.do("PATCH", "/v2/topics/news", `[{"op":"add","path":"/metadata/_default_message_ttl","value":"x"}]`, patchCT), 400)

	// Validation: the queues' texts, with the topic's words.
	for _, c := range []struct {
		name, method, path, body, header string
		status                           int
		want                             string
	}{
		{"bad name", "PUT", "/v2/topics/bad$name", "", "", 400, "Invalid topic identification"},
		{"non-ASCII name", "PUT", "/v2/topics/caf%C3%A9", "", "", 400, "The format of the submitted topic name or project id is not valid."},
		{"long name", "PUT", "/v2/topics/" + strings.Repeat("t", 65), "", "", 400, "Invalid topic identification"},
		{"long project", "GET", "/v2/topics/news", "", "X-Project-ID: " + strings.Repeat("p", 257), 400, "Invalid topic identification"},
		{"no project", "GET", "/v2/topics", "", "X-Project-ID: -", 400, "Project-Id Missing"},
		{"empty project", "PUT", "/v2/topics/news", "", "X-Project-ID: ", 400, "Empty project header not allowed"},
		{"metadata not an object", "PUT", "/v2/topics/t2", `[1]`, "", 400, ""},
		{"bad reserved metadata", "PUT", "/v2/topics/t2", `{"_default_message_ttl":"x"}`, "", 400, "_default_message_ttl"},
		{"metadata too large", "PUT", "/v2/topics/t2", `{"a":"` + strings.Repeat("x", 70000) + `"}`, "", 400, "Queue metadata is too large. Max size: 65536"},
		{"missing topic", "GET", "/v2/topics/nope", "", "", 404, "Topic nope does not exist for project proj"},
	} {
		s.expect(c.name, s.do(c.method, c.path, c.body, optional(c.header)...), c.status, optional(c.want)...)
		if c.name == "bad reserved metadata" {
			q := s.do("PUT", "/v2/queues/t2", c.body)
			if tr := s.do(c.method, c.path, c.body); tr.body != q.body || tr.status != q.status {
				t.Fatalf("bad metadata: topic %d %s, queue %d %s", tr.status, tr.body, q.status, q.body)
			}
		}
	}

	// Messages.
	r = s.expect("post", s.do("POST", "/v2/topics/news/messages", postBody(3, 300)), 201, `"/v2/topics/news/messages/`)
	if !strings.HasPrefix(r.headers["Location"], "/v2/topics/news/messages?ids=") {
		t.Fatalf("post location %q", r.headers["Location"])
	}
	ids := resources(t, r)
	s.expect("the queue of the same name has none", s.do("GET", "/v2/queues/news/stats", ""), 200, `"total":0`)
	s.expect("stats", s.do("GET", "/v2/topics/news/stats", ""), 200, `"total":3`, `"href":"/v2/topics/news/messages/`+ids[0])
	s.expect("list", s.do("GET", "/v2/topics/news/messages?echo=true", ""), 200, `"href":"/v2/topics/news/messages/`+ids[0]+`"`,
		`"href":"/v2/topics/news/messages?`)
	s.expect("list hides own messages without echo", s.do("GET", "/v2/topics/news/messages", ""), 200, `"messages":[]`)
	s.expect("get", s.do("GET", "/v2/topics/news/messages/"+ids[1], ""), 200, `"id":"`+ids[1]+`"`, `"href":"/v2/topics/news/messages/`+ids[1]+`"`)
	s.expect("get by ids", s.do("GET", "/v2/topics/news/messages?ids="+ids[0]+","+ids[2], ""), 200, ids[0], ids[2])
	s.expect("get from the queue of the same name", s.do("GET", "/v2/queues/news/messages/"+ids[1], ""), 404)
	s.expect("delete one", s.do("DELETE", "/v2/topics/news/messages/"+ids[1], ""), 204)
	s.expect("gone", s.do("GET", "/v2/topics/news/messages/"+ids[1], ""), 404,
		"Message "+ids[1]+" does not exist in topic news for project proj")
	s.expect("bulk delete", s.do("DELETE", "/v2/topics/news/messages?ids="+ids[0], ""), 204)
	s.expect("one left", s.do("GET", "/v2/topics/news/stats", ""), 200, `"total":1`)
	s.expect("no claims on topics", s.do("POST", "/v2/topics/news/claims", `{}`), 404)

	// Subscriptions.
	r = s.expect("subscribe", s.do("POST", "/v2/topics/news/subscriptions", `{"subscriber":"http://127.0.0.1:9/hook","ttl":3600}`), 201)
	if r.headers["Location"] != "/v2/topics/news/subscriptions" {
		t.Fatalf("subscription location %q", r.headers["Location"])
	}
	var sub struct {
		ID string `json:"subscription_id"`
	}
	json.Unmarshal([]byte(r.body), &sub)
	s.expect("get subscription", s.do("GET", "/v2/topics/news/subscriptions/"+sub.ID, ""), 200, `"source":"news"`)
	s.expect("list subscriptions", s.do("GET", "/v2/topics/news/subscriptions", ""), 200, sub.ID, `"source":"news"`)
	if r := s.do("GET", "/v2/queues/news/subscriptions", ""); strings.Contains(r.body, sub.ID) {
		t.Fatalf("the topic's subscription is listed on the queue: %s", r.body)
	}
	s.expect("update subscription", s.do("PATCH", "/v2/topics/news/subscriptions/"+sub.ID, `{"ttl":7200}`), 204)
	s.expect("confirm", s.do("PUT", "/v2/topics/news/subscriptions/"+sub.ID+"/confirm", `{"confirmed":true}`), 204)
	s.expect("confirmed", s.do("GET", "/v2/topics/news/subscriptions/"+sub.ID, ""), 200, `"confirmed":true`, `"ttl":7200`)
	s.expect("delete subscription", s.do("DELETE", "/v2/topics/news/subscriptions/"+sub.ID, ""), 204)
	s.expect("subscription gone", s.do("GET", "/v2/topics/news/subscriptions/"+sub.ID, ""), 404)

	// Purge, delete.
	s.expect("purge bad type", s.do("POST", "/v2/topics/news/purge", `{"resource_types":["claims"]}`), 400,
		"Resource types must be a sub set of {'subscriptions', 'messages'}.")
	s.expect("purge", s.do("POST", "/v2/topics/news/purge", `{"resource_types":["messages"]}`), 204)
	s.expect("purged", s.do("GET", "/v2/topics/news/stats", ""), 200, `"total":0`)
	s.expect("still there", s.do("GET", "/v2/topics/news", ""), 200)
	s.expect("delete", s.do("DELETE", "/v2/topics/news", ""), 204)
	s.expect("deleted", s.do("GET", "/v2/topics/news", ""), 404, "Topic news does not exist for project proj")
	s.expect("the queue of the same name stays", s.do("GET", "/v2/queues/news", ""), 200, `"kind":"queue"`)
	s.expect("delete missing", s.do("DELETE", "/v2/topics/news", ""), 204)
	s.expect("the longest name", s.do("PUT", "/v2/topics/"+strings.Repeat("t", 64), ""), 201)
	s.expect("listed", s.do("GET", "/v2/topics?marker=sports", ""), 200, `"name":"`+strings.Repeat("t", 64)+`"`)
}

func TestTopicsOnTheEngine(t *testing.T) { topicLifecycle(t, newServer(t, nil)) }

func TestTopicsThroughPools(t *testing.T) {
	s := newPooledServer(t)
	s.expect("pool", s.do("PUT", "/v2/pools/p1", `{"weight": 100, "uri": "`+s.uri("a")+`"}`, admin), 201)
	topicLifecycle(t, s.server)
}

func TestTopicsOnRedis(t *testing.T) {
	uri := testenv.RedisURI(t)
	prefix := fmt.Sprintf("zqtopics-%d", time.Now().UnixNano())
	store, err := redisstore.Open(uri, redisstore.Options{Prefix: prefix, SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := store.Ping(ctx); err != nil {
		testenv.Unavailable(t, "redis at %s: %v", uri, err)
	}
	t.Cleanup(func() {
		store.Close()
		opt, err := redis.ParseURL(uri)
		if err != nil {
			return
		}
		rdb := redis.NewClient(opt)
		defer rdb.Close()
		iter := rdb.Scan(ctx, 0, "{"+prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
	})
	opts := DefaultOptions()
	topicLifecycle(t, &server{t: t, client: serveAPI(t, store, opts)})
}

// Keystone: a topic of one project is out of reach of another's tokens.
func TestKeystoneTopicIsolation(t *testing.T) {
	e := newKeystoneEnv(t)
	s := newServer(t, func(o *Options) { o.Auth = e.validator(t) })
	alice := token(e.ks.Token("alice", ksUserPassword, "project-a"))
	bob := token(e.ks.Token("bob", ksUserPassword, "project-b"))
	spoof := []string{bob, "X-Project-ID: " + e.ks.Project("project-a"), "X-Roles: admin"}
	s.expect("alice creates", s.do("PUT", "/v2/topics/alerts", `{"owner":"alice"}`, alice), 201)
	ids := resources(t, s.expect("alice posts", s.do("POST", "/v2/topics/alerts/messages", postBody(2, 300), alice), 201))
	s.expect("alice subscribes", s.do("POST", "/v2/topics/alerts/subscriptions", `{"subscriber":"http://127.0.0.1:9/a"}`, alice), 201)
	for _, c := range []struct {
		name, method, path string
		status             int
	}{
		{"list", "GET", "/v2/topics", 200},
		{"get", "GET", "/v2/topics/alerts", 404},
		{"stats", "GET", "/v2/topics/alerts/stats", 200},
		{"messages", "GET", "/v2/topics/alerts/messages?echo=true", 200},
		{"message", "GET", "/v2/topics/alerts/messages/" + ids[0], 404},
		{"subscriptions", "GET", "/v2/topics/alerts/subscriptions", 200},
		{"delete message", "DELETE", "/v2/topics/alerts/messages/" + ids[0], 204},
		{"purge", "POST", "/v2/topics/alerts/purge", 204},
		{"delete", "DELETE", "/v2/topics/alerts", 204},
	} {
		r := s.expect("bob: "+c.name, s.do(c.method, c.path, "", spoof...), c.status)
		if strings.Contains(r.body, `"owner"`) || strings.Contains(r.body, `"body"`) || strings.Contains(r.body, "127.0.0.1:9") ||
			(c.name == "list" && strings.Contains(r.body, "alerts")) {
			t.Fatalf("bob: %s reveals alice's topic: %s", c.name, r.body)
		}
	}
	s.expect("alice's topic", s.do("GET", "/v2/topics/alerts", "", alice), 200, `"owner":"alice"`)
	s.expect("alice's messages", s.do("GET", "/v2/topics/alerts/stats", "", alice), 200, `"total":2`)
	s.expect("alice's subscription", s.do("GET", "/v2/topics/alerts/subscriptions", "", alice), 200, "127.0.0.1:9/a")
	s.expect("no token", s.do("GET", "/v2/topics", "", "X-Auth-Token: -"), 401)
}

// Policy rules see a topic's name as %(topic_name)s, as in the original,
// and not as %(queue_name)s.
func TestTopicNameInPolicies(t *testing.T) {
	e, err := policy.LoadBytes("policy.yaml", []byte(`"topics:get": "'news':%(topic_name)s"`+"\n"+
		`"queues:get": "'news':%(topic_name)s"`+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	s := newServer(t, func(o *Options) { o.Policy = e })
	s.expect("create", s.do("PUT", "/v2/topics/news", ""), 201)
	s.expect("create another", s.do("PUT", "/v2/topics/other", ""), 201)
	s.expect("create a queue", s.do("PUT", "/v2/queues/news", ""), 201)
	s.expect("the named topic", s.do("GET", "/v2/topics/news", ""), 200)
	s.expect("another topic", s.do("GET", "/v2/topics/other", ""), 403, "Not authorized")
	s.expect("a queue of the same name", s.do("GET", "/v2/queues/news", ""), 403, "Not authorized")
}
