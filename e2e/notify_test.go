package e2e

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestWebhookFromTheBinary: the server as shipped delivers a posted
// message to a webhook subscriber.
func TestWebhookFromTheBinary(t *testing.T) {
	got := make(chan string, 4)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- string(b)
	}))
	defer recv.Close()
	p := start(t, freePort(t), t.TempDir())
	if code, b := p.request("POST", "/v2/queues/n/subscriptions", `{"subscriber": "`+recv.URL+`", "ttl": 600}`); code != 201 {
		t.Fatalf("subscribe: %d %s", code, b)
	}
	if code, b := p.request("POST", "/v2/queues/n/messages", `{"messages": [{"body": {"order": 42}}]}`); code != 201 {
		t.Fatalf("post: %d %s", code, b)
	}
	select {
	case body := <-got:
		if !strings.Contains(body, `"order":42`) || !strings.Contains(body, `"queue_name":"n"`) {
			t.Fatalf("webhook payload %s", body)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("no webhook delivery\n%s", p.log)
	}
}
