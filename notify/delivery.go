package notify

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/zaqar-go/zaqar/notify/policy"
	"github.com/zaqar-go/zaqar/storage"
)

// delivery is one notice for one subscriber, with its retry state.
type delivery struct {
	project, queue string
	subID          string
	subscriber     string
	kind           string // webhook or email
	body           []byte // the JSON sent (webhook) or mailed
	headers        map[string]string
	from, subject  string
	delays         []time.Duration
	attempt        int // attempts made so far
}

// notification is Zaqar's payload for a message: the posted fields plus
// queue_name (a topic's name for a topic) and Message_Type (and the id,
// which Zaqar's pre-store hook cannot know).
func notification(queue string, m storage.Message) map[string]any {
	doc := map[string]any{"id": m.ID, "body": json.RawMessage(m.Body), "ttl": m.TTL,
		"queue_name": storage.PublicName(queue), "Message_Type": "Notification"}
	if !m.DelayUntil.IsZero() && !m.Created.IsZero() {
		doc["delay"] = int64(m.DelayUntil.Sub(m.Created) / time.Second)
	}
	return doc
}

func (n *Notifier) newDelivery(project, queue string, sub *storage.Subscription, raw []byte, pol policy.Policy) (*delivery, error) {
	d := &delivery{project: project, queue: queue, subID: sub.ID, subscriber: sub.Subscriber,
		kind: scheme(sub.Subscriber), body: raw, delays: pol.Delays()}
	switch d.kind {
	case "webhook":
		d.headers = map[string]string{"Content-Type": "application/json"}
		if h, ok := sub.Options["post_headers"].(map[string]any); ok {
			for k, v := range h {
				d.headers[k] = fmt.Sprint(v)
			}
		}
		if tmpl, ok := sub.Options["post_data"].(string); ok {
			d.body = []byte(strings.ReplaceAll(tmpl, `"$zaqar_message$"`, string(raw)))
		}
	case "email":
		u, _ := url.Parse(sub.Subscriber)
		d.from, _ = sub.Options["from"].(string)
		if d.from == "" {
			d.from = n.o.Mail.Sender
		}
		d.subject, _ = sub.Options["subject"].(string)
		if s := u.Query().Get("subject"); s != "" {
			d.subject = s
		}
	default:
		return nil, fmt.Errorf("unsupported subscriber %q", sub.Subscriber)
	}
	return d, nil
}

// errRetryable marks a failure worth retrying (no answer, or 5xx).
var errRetryable = errors.New("retryable")

// attempt sends once; on a retryable failure it schedules the next try
// after the policy's delay instead of holding the worker. d belongs to
// the next attempt's worker as soon as that is scheduled.
func (n *Notifier) attempt(d *delivery) {
	d.attempt++
	number, kind := d.attempt, d.kind
	err := n.send(d)
	outcome := "delivered"
	switch {
	case err == nil:
		n.log.Debug("notification delivered", "subscription", d.subID, "kind", kind, "attempt", number)
	case errors.Is(err, errRetryable) && number-1 < len(d.delays):
		outcome = "retry"
		wait := d.delays[number-1]
		n.log.Debug("notification attempt failed; retry scheduled", "subscription", d.subID, "kind", kind,
			"attempt", number, "err", err, "next_in", wait)
		n.m.attempts.With(prometheus.Labels{"kind": kind, "outcome": outcome}).Inc()
		n.o.After(wait, func() { n.submit(task{payload: d}) })
		return
	default:
		outcome = "failed"
		n.log.Warn("notification not delivered", "subscription", d.subID, "subscriber", redactSubscriber(d.subscriber),
			"attempts", number, "err", err)
	}
	n.m.attempts.With(prometheus.Labels{"kind": kind, "outcome": outcome}).Inc()
}

func (n *Notifier) send(d *delivery) error {
	if d.kind == "email" {
		u, _ := url.Parse(d.subscriber)
		if err := n.mail.send(d.from, u.Opaque, d.subject, string(d.body)); err != nil {
			return fmt.Errorf("%w: %v", errRetryable, err)
		}
		return nil
	}
	target := strings.TrimPrefix(strings.TrimPrefix(d.subscriber, "trust+"), "TRUST+")
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(target)
	req.Header.SetMethod(fasthttp.MethodPost)
	for k, v := range d.headers {
		req.Header.Set(k, v)
	}
	req.SetBodyRaw(d.body)
	if err := n.http.DoTimeout(req, resp, n.o.WebhookTimeout); err != nil {
		return fmt.Errorf("%w: %v", errRetryable, err)
	}
	// Zaqar: any answer from 200 to 499 counts as delivered.
	if code := resp.StatusCode(); code >= 500 || code < 200 {
		return fmt.Errorf("%w: status %d", errRetryable, code)
	}
	return nil
}

// redactSubscriber keeps credentials of a webhook URL out of logs.
func redactSubscriber(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	u.User = url.User("***")
	return u.String()
}

type metrics struct {
	attempts        *prometheus.CounterVec
	deferred        prometheus.Counter
	deferredBacklog prometheus.Gauge
	yields          prometheus.Counter
}

func newMetrics(reg *prometheus.Registry) (*metrics, error) {
	m := &metrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zaqar_notification_attempts_total",
			Help: "Notification delivery attempts by kind (webhook, email) and outcome (delivered, retry, failed)."},
			[]string{"kind", "outcome"}),
		deferred: prometheus.NewCounter(prometheus.CounterOpts{Name: "zaqar_notification_deferred_total",
			Help: "Notification tasks deferred because the in-memory hand-off was full."}),
		deferredBacklog: prometheus.NewGauge(prometheus.GaugeOpts{Name: "zaqar_notification_deferred_backlog",
			Help: "Notification tasks currently deferred."}),
		yields: prometheus.NewCounter(prometheus.CounterOpts{Name: "zaqar_notification_yields_total",
			Help: "Times a delivery waited for posting to pause (see yield_to_posts)."}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.attempts, m.deferred, m.deferredBacklog, m.yields} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
