package e2e

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/zaqar-go/zaqar/internal/testenv"
)

// TestTopicsAcrossNodesOverRedis: two servers over one Redis see the same
// topics, apart from the queues; a subscription made on one node gets the
// messages posted to the topic on the other; and encryption turned on
// through one node applies at once to posts on the other.
func TestTopicsAcrossNodesOverRedis(t *testing.T) {
	got := make(chan string, 4)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- string(b)
	}))
	defer recv.Close()
	r := testenv.StartRedis(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "zaqar.conf")
	if err := os.WriteFile(conf, []byte("[drivers]\nmessage_store = redis\n[drivers:message_store:redis]\nuri = "+r.URI()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a := start(t, freePort(t), filepath.Join(dir, "a"), "--config-file", conf)
	b := start(t, freePort(t), filepath.Join(dir, "b"), "--config-file", conf)
	must := func(p *proc, status int, method, path, body string, headers ...string) string {
		t.Helper()
		code, out := p.request(method, path, body, headers...)
		if code != status {
			t.Fatalf("%s %s: %d %s, want %d", method, path, code, out, status)
		}
		return string(out)
	}

	must(a, 201, "PUT", "/v2/topics/alerts", `{"team":"ops"}`)
	must(a, 201, "PUT", "/v2/queues/alerts", `{}`)
	if l := must(b, 200, "GET", "/v2/topics?detailed=true", ""); !strings.Contains(l, `"name":"alerts"`) || !strings.Contains(l, `"team":"ops"`) {
		t.Fatalf("topics on node b: %s", l)
	}
	if l := must(b, 200, "GET", "/v2/queues?detailed=true", ""); strings.Contains(l, "ops") || strings.Contains(l, "topics") {
		t.Fatalf("queues on node b show the topic: %s", l)
	}
	must(b, 201, "POST", "/v2/topics/alerts/subscriptions", `{"subscriber": "`+recv.URL+`", "ttl": 600}`)
	must(a, 201, "POST", "/v2/topics/alerts/messages", `{"messages": [{"body": {"disk": "full"}}]}`)
	select {
	case body := <-got:
		if !strings.Contains(body, `"disk":"full"`) || !strings.Contains(body, `"queue_name":"alerts"`) {
			t.Fatalf("webhook payload %s", body)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("no webhook delivery\nnode a:\n%s\nnode b:\n%s", a.log, b.log)
	}
	if s := must(b, 200, "GET", "/v2/topics/alerts/stats", ""); !strings.Contains(s, `"total":1`) {
		t.Fatalf("topic stats on node b: %s", s)
	}
	if s := must(b, 200, "GET", "/v2/queues/alerts/stats", ""); !strings.Contains(s, `"total":0`) {
		t.Fatalf("queue of the same name: %s", s)
	}

	// Encryption turned on through node a: node b's next post is sealed.
	const secret = "plaintext-e2e-5d1f"
	must(a, 201, "PUT", "/v2/queues/vault", `{}`)
	must(b, 201, "POST", "/v2/queues/vault/messages", `{"messages": [{"body": "before"}]}`)
	must(a, 200, "PATCH", "/v2/queues/vault", `[{"op":"add","path":"/metadata/_enable_encrypt_messages","value":true}]`,
		"Content-Type: application/openstack-messaging-v2.0-json-patch")
	must(b, 201, "POST", "/v2/queues/vault/messages", `{"messages": [{"body": "`+secret+`"}]}`)
	if l := must(b, 200, "GET", "/v2/queues/vault/messages?echo=true", ""); !strings.Contains(l, secret) {
		t.Fatalf("the encrypted message does not read back: %s", l)
	}
	if stored := redisText(t, r.URI()); strings.Contains(stored, secret) {
		t.Fatal("a post on node b after encryption was turned on through node a is stored in plaintext")
	} else if !strings.Contains(stored, "before") {
		t.Fatal("the scan of Redis does not see the messages")
	}
}

// redisText is every value stored in the Redis at uri.
func redisText(t *testing.T, uri string) string {
	t.Helper()
	opt, err := redis.ParseURL(uri)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	return testenv.RedisText(t, rdb, "*")
}
