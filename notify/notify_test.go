package notify

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/zaqar-go/zaqar/internal/testenv"
	"github.com/zaqar-go/zaqar/notify/policy"
)

func TestWebhookPayloadAndHeaders(t *testing.T) {
	e := newEnv(t, nil, nil)
	r := newReceiver(t, nil)
	e.subscribe("q", r.URL+"/hook", `{"post_headers": {"X-Token": "abc"}}`)
	ids := e.post("q", `{"event": 1}`, `"two"`)
	r.wait(t, 2)
	bodies, headers, _ := r.snapshot()
	got := map[string]map[string]any{}
	for i, b := range bodies {
		got[b["id"].(string)] = b
		if headers[i].Get("X-Token") != "abc" || headers[i].Get("Content-Type") != "application/json" {
			t.Fatalf("headers %v", headers[i])
		}
	}
	for _, id := range ids {
		b, ok := got[id]
		if !ok {
			t.Fatalf("message %s not delivered; got %v", id, bodies)
		}
		if b["queue_name"] != "q" || b["Message_Type"] != "Notification" || b["ttl"] != 300.0 {
			t.Fatalf("payload %v", b)
		}
	}
	if fmt.Sprint(got[ids[0]]["body"]) != "map[event:1]" || got[ids[1]]["body"] != "two" {
		t.Fatalf("bodies %v %v", got[ids[0]]["body"], got[ids[1]]["body"])
	}
}

func TestPostDataTemplate(t *testing.T) {
	e := newEnv(t, nil, nil)
	r := newReceiver(t, nil)
	e.subscribe("q", r.URL, `{"post_data": "{\"wrapped\": \"$zaqar_message$\", \"v\": 1}"}`)
	e.post("q", `"hello"`)
	r.wait(t, 1)
	bodies, _, _ := r.snapshot()
	w, ok := bodies[0]["wrapped"].(map[string]any)
	if !ok || w["body"] != "hello" || bodies[0]["v"] != 1.0 {
		t.Fatalf("templated payload %v", bodies[0])
	}
}

// TestRetriesFollowPolicy: a receiver that answers 503 five times; the
// notifier retries after exactly the delays of Zaqar's default policy and
// the sixth attempt delivers. 5xx answers are retried (the original only
// retried connection errors, a bug).
func TestRetriesFollowPolicy(t *testing.T) {
	e := newEnv(t, nil, nil)
	r := newReceiver(t, func(attempt int) int {
		if attempt <= 5 {
			return 503
		}
		return 200
	})
	e.subscribe("q", r.URL, `{}`)
	e.post("q", `1`)
	r.wait(t, 1)
	_, _, attempts := r.snapshot()
	if attempts != 6 {
		t.Fatalf("%d attempts, want 6", attempts)
	}
	e.mu.Lock()
	got := append([]time.Duration(nil), e.delays...)
	e.mu.Unlock()
	want := policy.Default().Delays()[:5]
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("retry delays %v, want %v", got, want)
	}
	if n := e.counter("zaqar_notification_attempts_total", map[string]string{"outcome": "retry"}); n != 5 {
		t.Fatalf("%v retries counted, want 5", n)
	}
	e.eventually("one delivery counted", func() bool {
		return e.counter("zaqar_notification_attempts_total", map[string]string{"outcome": "delivered"}) == 1
	})
}

// TestRetryPolicyFromSubscriptionAndGiveUp: a receiver that refuses
// connections; the subscription's own policy (arithmetic backoff) is
// followed to its end, then the delivery is given up and counted.
func TestRetryPolicyFromSubscriptionAndGiveUp(t *testing.T) {
	e := newEnv(t, nil, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String() + "/"
	ln.Close()
	e.subscribe("q", dead, `{"_retry_policy": {"retries_with_no_delay": 1, "minimum_delay_retries": 1, "minimum_delay": 5, "maximum_delay": 30, "maximum_delay_retries": 1, "retry_backoff_function": "arithmetic"}}`)
	e.post("q", `1`)
	e.eventually("the delivery to be given up", func() bool {
		return e.counter("zaqar_notification_attempts_total", map[string]string{"outcome": "failed"}) >= 1
	})
	s := time.Second
	want := []time.Duration{0, 5 * s, 5 * s, 7 * s, 12 * s, 20 * s, 30 * s, 30 * s}
	e.mu.Lock()
	got := append([]time.Duration(nil), e.delays...)
	e.mu.Unlock()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("delays %v, want %v", got, want)
	}
}

func TestRetryPolicyIsValidated(t *testing.T) {
	e := newEnv(t, nil, nil)
	code, body := e.do("POST", "/v2/queues/q/subscriptions", `{"subscriber": "http://x.example", "options": {"_retry_policy": {"retry_backoff_function": "cubic"}}}`)
	if code != 400 || !strings.Contains(string(body), "retry_backoff_function") {
		t.Fatalf("bad policy: %d %s", code, body)
	}
}

// smtpRecorder is an SMTP server (go-smtp) on loopback that records mail
// and requires PLAIN authentication.
type smtpRecorder struct {
	mu    sync.Mutex
	mails []recordedMail
	got   chan struct{}
	addr  string
}

type recordedMail struct {
	from, to, user string
	data           string
}

type smtpSession struct {
	r    *smtpRecorder
	cur  recordedMail
	user string
}

func (s *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }
func (s *smtpSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != "zaqar" || pass != "s3cret" {
			return errors.New("bad credentials")
		}
		s.user = user
		return nil
	}), nil
}
func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error { s.cur.from = from; return nil }
func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error   { s.cur.to = to; return nil }
func (s *smtpSession) Data(r io.Reader) error {
	b, _ := io.ReadAll(r)
	s.cur.data, s.cur.user = string(b), s.user
	s.r.mu.Lock()
	s.r.mails = append(s.r.mails, s.cur)
	s.r.mu.Unlock()
	s.r.got <- struct{}{}
	return nil
}
func (s *smtpSession) Reset()        {}
func (s *smtpSession) Logout() error { return nil }

func startSMTP(t *testing.T) *smtpRecorder {
	r := &smtpRecorder{got: make(chan struct{}, 100)}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &smtpSession{r: r}, nil }))
	srv.Domain, srv.AllowInsecureAuth = "localhost", true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.addr = ln.Addr().String()
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return r
}

func (r *smtpRecorder) wait(t *testing.T) recordedMail {
	t.Helper()
	select {
	case <-r.got:
	case <-time.After(20 * time.Second):
		t.Fatal("no mail arrived")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.mails[len(r.mails)-1]
}

func TestEmailOverSMTP(t *testing.T) {
	rec := startSMTP(t)
	host, port, _ := net.SplitHostPort(rec.addr)
	var portN int
	fmt.Sscan(port, &portN)
	e := newEnv(t, nil, func(o *Options) {
		o.Mail = MailOptions{Mode: "self_local", Host: host, Port: portN, User: "zaqar", Pass: "s3cret", Security: "none", Sender: "zaqar@example.com"}
	})
	e.subscribe("alerts", "mailto:ops@example.com?subject=Disk%20full", `{"from": "alerts@example.com"}`)
	ids := e.post("alerts", `{"disk": "/dev/sda"}`)
	m := rec.wait(t)
	if m.from != "alerts@example.com" || m.to != "ops@example.com" || m.user != "zaqar" {
		t.Fatalf("envelope from=%q to=%q user=%q", m.from, m.to, m.user)
	}
	msg, err := mail.ReadMessage(strings.NewReader(m.data))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if msg.Header.Get("Subject") != "Disk full" {
		t.Fatalf("subject %q", msg.Header.Get("Subject"))
	}
	for _, want := range []string{`"id":"` + ids[0] + `"`, `"queue_name":"alerts"`, `"body":{"disk":"/dev/sda"}`} {
		if !strings.Contains(string(body), want) {
			t.Fatalf("mail body lacks %q:\n%s", want, body)
		}
	}
}

// TestEmailThroughCommand: smtp_mode third_part pipes the message to a
// sendmail-compatible command (here a script that keeps it).
func TestEmailThroughCommand(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "mail.txt")
	script := filepath.Join(dir, "fake-sendmail")
	if err := os.WriteFile(script, []byte("#!/bin/sh\ncat > "+out+".tmp && mv "+out+".tmp "+out+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, nil, func(o *Options) { o.Mail = MailOptions{Mode: "third_part", Command: script + " -t -oi"} })
	e.subscribe("q", "mailto:dev@example.com", `{"subject": "news", "from": "zaqar@example.com"}`)
	e.post("q", `"payload-123"`)
	deadline := time.Now().Add(20 * time.Second)
	var data []byte
	for {
		if b, err := os.ReadFile(out); err == nil {
			data = b
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the command never received a mail")
		}
		time.Sleep(10 * time.Millisecond) // polling a file written by another process
	}
	for _, want := range []string{"To: <dev@example.com>", "From: <zaqar@example.com>", "Subject: news", "payload-123"} {
		if !bytes.Contains(data, []byte(want)) {
			t.Fatalf("mail lacks %q:\n%s", want, data)
		}
	}
}

// TestConfirmationFlow: with require_confirmation a new subscriber first
// gets a signed confirmation request, receives nothing until it confirms
// through the signed URL, then gets messages; unsubscribing sends the
// notice.
func TestConfirmationFlow(t *testing.T) {
	fanned := make(chan int, 10)
	e := newEnv(t, nil, func(o *Options) { o.RequireConfirmation, o.SecretKey = true, "topsecret" })
	e.n.fannedOut = func(_ string, subs int) { fanned <- subs }
	r := newReceiver(t, nil)
	id := e.subscribe("q", r.URL, `{}`)
	r.wait(t, 1)
	bodies, _, _ := r.snapshot()
	c := bodies[0]
	if c["Message_Type"] != "SubscriptionConfirmation" || c["URL-Methods"] != "PUT" || c["X-Project-ID"] != "proj" ||
		c["URL-Paths"] != "/v2/queues/q/subscriptions/"+id+"/confirm" || c["URL-Signature"] == "" {
		t.Fatalf("confirmation request %v", c)
	}

	e.post("q", `"before"`)
	if n := <-fanned; n != 0 {
		t.Fatalf("unconfirmed subscriber was sent the message (%d subscribers)", n)
	}

	signed := []string{"URL-Signature: " + c["URL-Signature"].(string), "URL-Expires: " + c["URL-Expires"].(string),
		"URL-Methods: PUT", "URL-Paths: " + c["URL-Paths"].(string)}
	bad := append([]string{"URL-Signature: " + strings.Repeat("0", 64)}, signed[1:]...)
	e.must(404, "PUT", "/v2/queues/q/subscriptions/"+id+"/confirm", `{"confirmed": true}`, bad...)
	e.must(204, "PUT", "/v2/queues/q/subscriptions/"+id+"/confirm", `{"confirmed": true}`, signed...)

	ids := e.post("q", `"after"`)
	if n := <-fanned; n != 1 {
		t.Fatalf("confirmed subscriber not notified (%d)", n)
	}
	r.wait(t, 1)
	bodies, _, _ = r.snapshot()
	if bodies[1]["id"] != ids[0] || bodies[1]["body"] != "after" {
		t.Fatalf("delivery after confirmation %v", bodies[1])
	}

	e.must(204, "PUT", "/v2/queues/q/subscriptions/"+id+"/confirm", `{"confirmed": false}`, signed...)
	r.wait(t, 1)
	bodies, _, _ = r.snapshot()
	if bodies[2]["Message_Type"] != "UnsubscribeConfirmation" {
		t.Fatalf("unsubscribe notice %v", bodies[2])
	}
}

func TestExpiredSubscriptionGetsNothing(t *testing.T) {
	clock := testenv.NewClock(time.Now())
	fanned := make(chan int, 10)
	e := newEnv(t, clock.Now, nil)
	e.n.fannedOut = func(_ string, subs int) { fanned <- subs }
	r := newReceiver(t, nil)
	e.must(201, "POST", "/v2/queues/q/subscriptions", `{"subscriber": "`+r.URL+`", "ttl": 60}`)
	clock.Add(61 * time.Second)
	e.post("q", `1`)
	if n := <-fanned; n != 0 {
		t.Fatalf("expired subscription notified (%d)", n)
	}
	if _, _, attempts := r.snapshot(); attempts != 0 {
		t.Fatalf("receiver got %d requests", attempts)
	}
}

// TestFullHandoffDefersWithoutLoss: one worker, a one-slot hand-off and a
// receiver that holds the first request: posts keep answering at once,
// the overflow is deferred (counted), and every message still arrives.
func TestFullHandoffDefersWithoutLoss(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	e := newEnv(t, nil, func(o *Options) { o.Workers, o.HandoffSize = 1, 1 })
	r := newReceiver(t, func(int) int { <-release; return 200 })
	e.subscribe("q", r.URL, `{}`)
	var ids []string
	for i := 0; i < 20; i++ {
		ids = append(ids, e.post("q", fmt.Sprint(i))...)
	}
	if n := e.counter("zaqar_notification_deferred_total", nil); n < 1 {
		t.Fatalf("deferred %v tasks with a full hand-off, want some", n)
	}
	once.Do(func() { close(release) })
	r.wait(t, len(ids))
	bodies, _, _ := r.snapshot()
	seen := map[any]int{}
	for _, b := range bodies {
		seen[b["id"]]++
	}
	for _, id := range ids {
		if seen[id] != 1 {
			t.Fatalf("message %s delivered %d times", id, seen[id])
		}
	}
}

// TestLoadThreeSubscribers: 10,000 messages posted concurrently while 3
// webhook subscribers listen; each receives every message exactly once.
func TestLoadThreeSubscribers(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	e := newEnv(t, nil, func(o *Options) { o.YieldToPosts = 20 * time.Millisecond })
	receivers := []*receiver{newReceiver(t, nil), newReceiver(t, nil), newReceiver(t, nil)}
	for _, r := range receivers {
		e.subscribe("load", r.URL, `{}`)
	}
	const posters, perPoster, batch = 8, 125, 10
	var mu sync.Mutex
	posted := map[string]bool{}
	var wg sync.WaitGroup
	for p := 0; p < posters; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bodies := make([]string, batch)
			for i := range bodies {
				bodies[i] = `"x"`
			}
			for i := 0; i < perPoster; i++ {
				ids := e.post("load", bodies...)
				mu.Lock()
				for _, id := range ids {
					posted[id] = true
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(posted) != posters*perPoster*batch {
		t.Fatalf("%d messages posted", len(posted))
	}
	for i, r := range receivers {
		r.wait(t, len(posted))
		bodies, _, _ := r.snapshot()
		seen := map[string]bool{}
		for _, b := range bodies {
			id := b["id"].(string)
			if seen[id] || !posted[id] {
				t.Fatalf("receiver %d: message %s duplicated or unknown", i, id)
			}
			seen[id] = true
		}
		if len(seen) != len(posted) {
			t.Fatalf("receiver %d got %d of %d", i, len(seen), len(posted))
		}
	}
}

// TestQueueWithoutSubscribersCostsNothing: a post to a queue without
// subscriptions is never handed to the workers. One worker takes tasks in
// order, so the first batch it fans out is the later post's.
func TestQueueWithoutSubscribersCostsNothing(t *testing.T) {
	fanned := make(chan string, 10)
	e := newEnv(t, nil, func(o *Options) { o.Workers = 1 })
	e.n.fannedOut = func(queue string, _ int) { fanned <- queue }
	r := newReceiver(t, nil)
	e.subscribe("watched", r.URL, `{}`)
	e.post("quiet", `1`, `2`)
	e.post("watched", `3`)
	if q := <-fanned; q != "watched" {
		t.Fatalf("the worker fanned out a batch of %q, a queue without subscribers", q)
	}
	r.wait(t, 1)
}

// TestDeliveriesYieldToPosts: while a post is in flight a delivery waits,
// and goes ahead as soon as posting pauses.
func TestDeliveriesYieldToPosts(t *testing.T) {
	e := newEnv(t, nil, func(o *Options) { o.Workers, o.YieldToPosts = 1, time.Hour })
	r := newReceiver(t, nil)
	e.subscribe("q", r.URL, `{}`)
	e.n.posting.Add(1) // a post that does not finish
	e.post("q", `"held"`)
	e.eventually("the worker to yield", func() bool { return e.counter("zaqar_notification_yields_total", nil) >= 1 })
	if _, _, attempts := r.snapshot(); attempts != 0 {
		t.Fatalf("%d deliveries while a post was in flight", attempts)
	}
	e.n.posting.Add(-1)
	r.wait(t, 1)
}

// TestYieldIsBounded: under posting that never pauses, each piece of work
// waits at most YieldToPosts, so deliveries still arrive.
func TestYieldIsBounded(t *testing.T) {
	e := newEnv(t, nil, func(o *Options) { o.Workers, o.YieldToPosts = 1, 20*time.Millisecond })
	r := newReceiver(t, nil)
	e.subscribe("q", r.URL, `{}`)
	e.n.posting.Add(1)
	defer e.n.posting.Add(-1)
	e.post("q", `1`, `2`, `3`)
	r.wait(t, 3)
	if y := e.counter("zaqar_notification_yields_total", nil); y < 4 { // the fan-out, then each delivery
		t.Fatalf("%v yields, want one per piece of work (4)", y)
	}
}
