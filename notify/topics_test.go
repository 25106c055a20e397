package notify

import (
	"encoding/json"
	"strings"
	"testing"
)

// A message posted to a topic goes to the topic's subscribers, named by
// the topic's name, and not to those of a queue of the same name.
func TestTopicFanOut(t *testing.T) {
	fanned := make(chan int, 10)
	e := newEnv(t, nil, nil)
	e.n.fannedOut = func(_ string, subs int) { fanned <- subs }
	topicHook, queueHook := newReceiver(t, nil), newReceiver(t, nil)
	b := e.must(201, "POST", "/v2/topics/news/subscriptions", `{"subscriber": "`+topicHook.URL+`/t", "ttl": 3600}`)
	var sub struct {
		ID string `json:"subscription_id"`
	}
	json.Unmarshal(b, &sub)
	e.subscribe("news", queueHook.URL+"/q", `{}`)

	var posted struct {
		Resources []string `json:"resources"`
	}
	json.Unmarshal(e.must(201, "POST", "/v2/topics/news/messages", `{"messages": [{"ttl": 300, "body": {"headline": 1}}]}`), &posted)
	if n := <-fanned; n != 1 {
		t.Fatalf("a post to the topic went to %d subscribers, want its one", n)
	}
	topicHook.wait(t, 1)
	bodies, _, _ := topicHook.snapshot()
	id := posted.Resources[0][len(posted.Resources[0])-32:]
	if got := bodies[0]; got["queue_name"] != "news" || got["id"] != id || got["Message_Type"] != "Notification" {
		t.Fatalf("topic notification %v", got)
	}
	if _, _, attempts := queueHook.snapshot(); attempts != 0 {
		t.Fatalf("the queue of the same name was notified %d times", attempts)
	}

	// The queue's own posts reach only the queue's subscriber.
	e.post("news", `"queue message"`)
	if n := <-fanned; n != 1 {
		t.Fatalf("a post to the queue went to %d subscribers", n)
	}
	queueHook.wait(t, 1)
	if _, _, attempts := topicHook.snapshot(); attempts != 1 {
		t.Fatalf("the topic's subscriber got the queue's message (%d deliveries)", attempts)
	}
	e.must(204, "DELETE", "/v2/topics/news/subscriptions/"+sub.ID, "")
}

// Confirmation requests for a topic's subscriber carry the topic's path,
// and the URL they sign confirms it.
func TestTopicConfirmation(t *testing.T) {
	e := newEnv(t, nil, func(o *Options) { o.RequireConfirmation, o.SecretKey = true, "topsecret" })
	r := newReceiver(t, nil)
	b := e.must(201, "POST", "/v2/topics/news/subscriptions", `{"subscriber": "`+r.URL+`", "ttl": 3600}`)
	var sub struct {
		ID string `json:"subscription_id"`
	}
	json.Unmarshal(b, &sub)
	r.wait(t, 1)
	bodies, _, _ := r.snapshot()
	c := bodies[0]
	if c["URL-Paths"] != "/v2/topics/news/subscriptions/"+sub.ID+"/confirm" || c["queue_name"] != "news" ||
		c["Message"] != "You have chosen to subscribe to the topic: news" {
		t.Fatalf("confirmation request %v", c)
	}
	signed := []string{"URL-Signature: " + c["URL-Signature"].(string), "URL-Expires: " + c["URL-Expires"].(string),
		"URL-Methods: PUT", "URL-Paths: " + c["URL-Paths"].(string)}
	e.must(204, "PUT", "/v2/topics/news/subscriptions/"+sub.ID+"/confirm", `{"confirmed": true}`, signed...)
	if got := string(e.must(200, "GET", "/v2/topics/news/subscriptions/"+sub.ID, "")); !strings.Contains(got, `"confirmed":true`) || !strings.Contains(got, `"source":"news"`) {
		t.Fatalf("confirmed topic subscription %s", got)
	}
}
