package wsapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// postHTTP posts a message over the HTTP API.
func (e *env) postHTTP(queue, body string) {
	e.t.Helper()
	req, _ := http.NewRequest("POST", e.httpURL+"/v2/queues/"+queue+"/messages", strings.NewReader(`{"messages":[{"body":`+body+`,"ttl":300}]}`))
	req.Header.Set("Client-ID", "3a1d6a3e-0000-4000-8000-000000000002")
	req.Header.Set("X-Project-ID", "proj")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		e.t.Fatalf("HTTP post: %d", resp.StatusCode)
	}
}

// readNotification reads the next frame, which must be a notification.
func (c *client) readNotification(wantBinary bool) map[string]any {
	c.t.Helper()
	m, binary := c.read()
	if binary != wantBinary {
		c.t.Fatalf("notification binary=%v, want %v", binary, wantBinary)
	}
	if m["Message_Type"] != "Notification" {
		c.t.Fatalf("not a notification: %v", m)
	}
	return m
}

// TestSocketSubscription: a subscription without subscriber subscribes
// the socket; messages posted over HTTP or WebSocket are pushed to it in
// the encoding of the subscribe request, and the subscription ends with
// the socket.
func TestSocketSubscription(t *testing.T) {
	e := newEnv(t, nil)
	text, bin := e.dial(false), e.dial(true)
	for _, c := range []*client{text, bin} {
		c.expect("subscribe socket", c.call("subscription_create", map[string]any{"queue_name": "news", "ttl": 3600}), 201, `"subscription_id"`)
	}
	r := text.expect("list", text.call("subscription_list", map[string]any{"queue_name": "news"}), 200, `"subscriber":"websocket://`)
	if n := len(field(r.Body, "subscriptions").([]any)); n != 2 {
		t.Fatalf("%d subscriptions, want 2", n)
	}

	e.postHTTP("news", `{"headline":"over HTTP"}`)
	for _, c := range []*client{text, bin} {
		m := c.readNotification(c.binary)
		if field(m, "body", "headline") != "over HTTP" || m["queue_name"] != "news" {
			t.Fatalf("notification %v", m)
		}
	}
	poster := e.dial(false)
	poster.expect("post over websocket", poster.call("message_post", map[string]any{"queue_name": "news",
		"messages": []any{map[string]any{"body": "over WebSocket"}}}), 201)
	for _, c := range []*client{text, bin} {
		if m := c.readNotification(c.binary); m["body"] != "over WebSocket" {
			t.Fatalf("notification %v", m)
		}
	}
	// Another queue's messages are not pushed: the next frame on text is
	// the answer to its own request.
	e.postHTTP("other", `"elsewhere"`)
	text.expect("still answering", text.call("queue_get_stats", map[string]any{"queue_name": "news"}), 200)

	// Closing the socket ends its subscription.
	bin.ws.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := text.expect("list after close", text.call("subscription_list", map[string]any{"queue_name": "news"}), 200)
		if len(field(r.Body, "subscriptions").([]any)) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the closed socket's subscription was not deleted")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// metric returns a sample's value from the registry, -1 when absent.
func (e *env) metric(name string, labels map[string]string) float64 {
	e.t.Helper()
	families, err := e.registry.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if v, ok := labels[l.GetName()]; ok && v != l.GetValue() {
					continue next
				}
			}
			if m.Counter != nil {
				return m.Counter.GetValue()
			}
			return m.Gauge.GetValue()
		}
	}
	return -1
}

func TestMetrics(t *testing.T) {
	e := newEnv(t, nil)
	c := e.dial(false)
	c.expect("create", c.call("queue_create", map[string]any{"queue_name": "m"}), 201)
	c.expect("get missing", c.call("queue_get_stats", map[string]any{"queue_name": "none"}), 404)
	c.sendRaw([]byte("{"), false)
	c.read()
	for _, s := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"zaqar_websocket_connections", nil, 1},
		{"zaqar_websocket_frames_in_total", map[string]string{"action": "queue_create", "status": "201"}, 1},
		{"zaqar_websocket_frames_in_total", map[string]string{"action": "queue_get_stats", "status": "404"}, 1},
		{"zaqar_websocket_frames_out_total", map[string]string{"action": "invalid", "status": "400"}, 1},
	} {
		if got := e.metric(s.name, s.labels); got != s.want {
			t.Errorf("%s%v = %v, want %v", s.name, s.labels, got, s.want)
		}
	}
	b, _ := json.Marshal(e.ws.Open())
	if fmt.Sprint(string(b)) != "1" {
		t.Errorf("Open() = %s", b)
	}
}
