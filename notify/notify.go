// Package notify delivers messages to subscribers: every message posted to
// a queue goes to each live subscription of that queue, by webhook (HTTP
// POST) or email (mailto:). Notifier wraps a storage.Store: after a batch
// is durably stored it is handed to a bounded pool of workers through a
// bounded in-memory queue; when that is full the batch is deferred (kept as
// ids and read back from the store later), never dropped and never waited
// for by the poster.
package notify

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/zaqar-go/zaqar/notify/policy"
	"github.com/zaqar-go/zaqar/storage"
)

// Defaults of Options, shown by zaqar-server's configuration table.
const (
	DefaultWorkers        = 10
	DefaultHandoffSize    = 1024
	DefaultWebhookTimeout = 10 * time.Second
	DefaultYieldToPosts   = 20 * time.Millisecond
)

// Options configure delivery. Names in comments are [notification]
// options.
type Options struct {
	Workers             int  // max_notifier_workers (default DefaultWorkers)
	HandoffSize         int  // handoff_size: tasks queued in memory (default DefaultHandoffSize)
	RequireConfirmation bool // require_confirmation
	// SecretKey ([signed_url] secret_key) signs confirmation URLs.
	SecretKey string
	// ExternalConfirmationURL is where email confirmation links point.
	ExternalConfirmationURL string
	WebhookTimeout          time.Duration // webhook_timeout (default DefaultWebhookTimeout)
	// YieldToPosts (yield_to_posts) is how long a delivery may wait for a
	// pause in posting before it goes ahead anyway: deliveries give the
	// CPU to posts while posts are being served, so subscribers barely
	// slow posting down, and still progress under a saturating load.
	// 0 disables yielding; negative values are treated as 0.
	YieldToPosts time.Duration
	Mail         MailOptions
	// Sockets delivers to WebSocket connections' own subscriptions
	// (subscribers starting with SocketScheme); nil drops them.
	Sockets  Sockets
	Registry *prometheus.Registry // nil = not exported
	Logger   *slog.Logger
	// After runs f after d (default time.AfterFunc); tests shorten the
	// policy's delays with it.
	After func(d time.Duration, f func())
}

// Notifier is a storage.Store that notifies subscribers.
type Notifier struct {
	storage.Store
	o    Options
	log  *slog.Logger
	mail mailer
	http *fasthttp.Client

	tasks    chan task
	mu       sync.Mutex
	deferred []task
	wake     chan struct{}
	stop     chan struct{}
	wg       sync.WaitGroup
	closed   bool

	posting  atomic.Int64 // posts being served
	lastPost atomic.Int64 // unix ns when the last post finished

	m *metrics
	// fannedOut, when set (tests), is told each time a batch has been
	// turned into per-subscriber tasks.
	fannedOut func(queue string, subscribers int)
}

// task is one unit of work for a worker: a posted batch to fan out, or one
// subscriber's delivery (first attempt or a retry).
type task struct {
	project, queue string
	ids            []string
	msgs           []storage.Message // nil when deferred: read back by id
	payloads       [][]byte          // per message, the notification JSON shared by all subscribers
	sub            *storage.Subscription
	payload        *delivery
}

// Wrap returns a Notifier over inner and starts its workers.
func Wrap(inner storage.Store, o Options) (*Notifier, error) {
	if o.Workers <= 0 {
		o.Workers = DefaultWorkers
	}
	if o.HandoffSize <= 0 {
		o.HandoffSize = DefaultHandoffSize
	}
	if o.WebhookTimeout <= 0 {
		o.WebhookTimeout = DefaultWebhookTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.After == nil {
		o.After = func(d time.Duration, f func()) { time.AfterFunc(d, f) }
	}
	m, err := newMetrics(o.Registry)
	if err != nil {
		return nil, err
	}
	// fasthttp's client: webhooks are the bulk of delivery work (one POST
	// per message and subscriber), and it costs far less CPU per request.
	client := &fasthttp.Client{Name: "zaqar-notifier", MaxConnsPerHost: 2 * o.Workers,
		ReadTimeout: o.WebhookTimeout, WriteTimeout: o.WebhookTimeout, MaxIdleConnDuration: time.Minute}
	n := &Notifier{Store: inner, o: o, log: o.Logger, mail: newMailer(o.Mail), m: m, http: client,
		tasks: make(chan task, o.HandoffSize), wake: make(chan struct{}, 1), stop: make(chan struct{})}
	for i := 0; i < o.Workers; i++ {
		n.wg.Add(1)
		go n.worker()
	}
	n.wg.Add(1)
	go n.drainDeferred()
	return n, nil
}

// Close stops the workers. Deliveries still queued, deferred or waiting
// for a retry are abandoned (logged with their count): notification is at
// most once across a restart, as in Zaqar.
func (n *Notifier) Close() error {
	n.mu.Lock()
	n.closed = true
	pending := len(n.deferred)
	n.mu.Unlock()
	close(n.stop)
	n.wg.Wait()
	if pending += len(n.tasks); pending > 0 {
		n.log.Warn("notifications abandoned at shutdown", "tasks", pending)
	}
	return n.Store.Close()
}

// submit hands a task over without ever blocking: when the bounded queue
// is full the task is deferred.
func (n *Notifier) submit(t task) {
	select {
	case n.tasks <- t:
		return
	default:
	}
	if t.msgs != nil && t.sub == nil {
		// Keep ids only: bodies are read back from the store.
		t.msgs = nil
	}
	n.mu.Lock()
	if !n.closed {
		n.deferred = append(n.deferred, t)
		n.m.deferredBacklog.Set(float64(len(n.deferred)))
	}
	n.mu.Unlock()
	n.m.deferred.Inc()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// drainDeferred moves deferred tasks into the queue as room appears.
func (n *Notifier) drainDeferred() {
	defer n.wg.Done()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-n.wake:
		case <-tick.C:
		}
		for {
			n.mu.Lock()
			if len(n.deferred) == 0 {
				n.mu.Unlock()
				break
			}
			t := n.deferred[0]
			n.mu.Unlock()
			select {
			case n.tasks <- t:
			case <-n.stop:
				return
			}
			n.mu.Lock()
			n.deferred = n.deferred[1:]
			n.m.deferredBacklog.Set(float64(len(n.deferred)))
			n.mu.Unlock()
		}
	}
}

func (n *Notifier) worker() {
	defer n.wg.Done()
	pause := time.NewTimer(time.Hour)
	pause.Stop()
	for {
		select {
		case <-n.stop:
			return
		case t := <-n.tasks:
			switch {
			case t.payload != nil:
				n.yield(pause)
				n.attempt(t.payload)
			case t.sub != nil:
				n.deliverAll(t, pause)
			default:
				n.yield(pause)
				n.fanOut(t)
			}
		}
	}
}

// PostMessages stores the batch, then hands it to the notifier unless the
// queue has no subscriptions.
func (n *Notifier) PostMessages(ctx context.Context, project, queue, clientID string, msgs []storage.NewMessage) ([]string, error) {
	n.posting.Add(1)
	defer func() {
		n.lastPost.Store(time.Now().UnixNano())
		n.posting.Add(-1)
	}()
	ids, err := n.Store.PostMessages(ctx, project, queue, clientID, msgs)
	if err != nil {
		return ids, err
	}
	if has, err := storage.HasSubscriptions(ctx, n.Store, project, queue); err == nil && !has {
		return ids, nil
	}
	now := time.Now()
	// The caller's body buffers are only valid during the call: copy the
	// bodies, into one allocation.
	size := 0
	for _, m := range msgs {
		size += len(m.Body)
	}
	bodies := make([]byte, 0, size)
	copies := make([]storage.Message, len(msgs))
	for i, m := range msgs {
		start := len(bodies)
		bodies = append(bodies, m.Body...)
		copies[i] = storage.Message{ID: ids[i], Body: bodies[start:len(bodies):len(bodies)], TTL: m.TTL,
			Created: now, ClientID: clientID}
		if m.Delay > 0 {
			copies[i].DelayUntil = now.Add(time.Duration(m.Delay) * time.Second)
		}
	}
	n.submit(task{project: project, queue: queue, ids: ids, msgs: copies})
	return ids, nil
}

// Changes forwards storage.Waker to the wrapped store (embedding gives
// the Notifier storage.Store's methods only), so that long-poll waiters
// behind the notifier are woken as the store's are.
func (n *Notifier) Changes(project, queue string) (<-chan struct{}, func()) {
	if ch, done, ok := storage.Changes(n.Store, project, queue); ok {
		return ch, done
	}
	return storage.NoChanges()
}

// ClaimChanges forwards storage.ClaimWaker.
func (n *Notifier) ClaimChanges(project, queue string) (<-chan struct{}, func()) {
	if ch, done, ok := storage.ClaimChanges(n.Store, project, queue); ok {
		return ch, done
	}
	return storage.NoChanges()
}

// postsBusy reports whether posts are being served or one finished within
// the last millisecond (closed-loop clients send the next one at once).
func (n *Notifier) postsBusy() bool {
	return n.posting.Load() > 0 || time.Now().UnixNano()-n.lastPost.Load() < int64(time.Millisecond)
}

// yield holds a worker's next piece of work while posts are busy, for at
// most YieldToPosts: under a saturating post load every worker still does
// one piece of work per YieldToPosts.
func (n *Notifier) yield(t *time.Timer) {
	if n.o.YieldToPosts <= 0 || !n.postsBusy() {
		return
	}
	n.m.yields.Inc()
	deadline := time.Now().Add(n.o.YieldToPosts)
	for n.postsBusy() {
		wait := time.Until(deadline)
		if wait <= 0 {
			return
		}
		t.Reset(min(wait, time.Millisecond))
		select {
		case <-n.stop:
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// fanOut turns a batch into one task per live (and, when required,
// confirmed) subscriber.
func (n *Notifier) fanOut(t task) {
	ctx := context.Background()
	marker := ""
	var subs []storage.Subscription
	for {
		page, err := n.Store.ListSubscriptions(ctx, t.project, t.queue, marker, 100)
		if err != nil {
			n.log.Warn("notification: listing subscriptions failed; batch deferred", "queue", t.queue, "err", err)
			t.msgs = nil
			n.retryLater(t, time.Second)
			return
		}
		subs = append(subs, page...)
		if len(page) < 100 {
			break
		}
		marker = page[len(page)-1].ID
	}
	delivered := 0
	defer func() {
		if n.fannedOut != nil {
			n.fannedOut(t.queue, delivered)
		}
	}()
	if len(subs) == 0 {
		return
	}
	if t.msgs == nil {
		msgs, err := n.Store.GetMessages(ctx, t.project, t.queue, t.ids)
		if err != nil {
			n.log.Warn("notification: reading deferred messages failed", "queue", t.queue, "err", err)
			n.retryLater(t, time.Second)
			return
		}
		t.msgs = msgs
	}
	// Encode each notification once for all subscribers.
	payloads := make([][]byte, len(t.msgs))
	for i, m := range t.msgs {
		payloads[i], _ = json.Marshal(notification(t.queue, m))
	}
	for i := range subs {
		s := subs[i]
		if isSocket(s.Subscriber) {
			// The connection asked for them itself: no confirmation, and
			// pushed at once, without a delivery task.
			delivered++
			n.pushSocket(s.Subscriber, payloads)
			continue
		}
		if n.o.RequireConfirmation && !s.Confirmed {
			continue
		}
		delivered++
		n.submit(task{project: t.project, queue: t.queue, payloads: payloads, sub: &s})
	}
}

func (n *Notifier) retryLater(t task, d time.Duration) {
	n.o.After(d, func() { n.submit(t) })
}

// deliverAll sends each message of the batch to one subscriber.
func (n *Notifier) deliverAll(t task, pause *time.Timer) {
	var queuePolicy any
	if meta, err := n.Store.GetQueueMetadata(context.Background(), t.project, t.queue); err == nil {
		queuePolicy = meta[storage.MetaRetryPolicy]
	}
	pol := policy.Choose(t.sub.Options[storage.MetaRetryPolicy], queuePolicy)
	for _, raw := range t.payloads {
		d, err := n.newDelivery(t.project, t.queue, t.sub, raw, pol)
		if err != nil {
			n.log.Warn("notification: cannot build delivery", "subscription", t.sub.ID, "err", err)
			continue
		}
		n.yield(pause)
		n.attempt(d)
	}
}

// scheme returns the subscriber's delivery kind: webhook or email.
func scheme(subscriber string) string {
	u, err := url.Parse(subscriber)
	if err != nil {
		return ""
	}
	switch s := strings.ToLower(u.Scheme); s {
	case "http", "https", "trust+http", "trust+https":
		return "webhook"
	case "mailto":
		return "email"
	default:
		return ""
	}
}
