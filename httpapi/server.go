package httpapi

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/fasthttp/router"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
	"github.com/valyala/fasthttp/pprofhandler"

	"github.com/zaqar-go/zaqar/policy"
	"github.com/zaqar-go/zaqar/storage"
)

// Options are the transport's limits and switches. Field comments give
// Zaqar's option names ([transport] unless said otherwise).
type Options struct {
	MaxQueuesPerPage         int // max_queues_per_page
	MaxMessagesPerPage       int // max_messages_per_page
	MaxSubscriptionsPerPage  int // max_subscriptions_per_page
	MaxMessagesPerClaimOrPop int // max_messages_per_claim_or_pop
	MaxQueueMetadata         int // max_queue_metadata (bytes)
	MaxMessagesPostSize      int // max_messages_post_size (bytes)

	DefaultMessageTTL      int64 // default_message_ttl
	MaxMessageTTL          int64 // max_message_ttl
	DefaultMessageDelay    int64 // default_message_delay
	MaxMessageDelay        int64 // max_message_delay
	DefaultClaimTTL        int64 // default_claim_ttl
	DefaultClaimGrace      int64 // default_claim_grace
	MaxClaimTTL            int64 // max_claim_ttl
	MaxClaimGrace          int64 // max_claim_grace
	DefaultSubscriptionTTL int64 // default_subscription_ttl

	SubscriberTypes          []string // subscriber_types
	ClientIDUUIDSafe         string   // client_id_uuid_safe: "strict" | "off"
	MinClientIDLength        int      // min_length_client_id
	MaxClientIDLength        int      // max_length_client_id
	MessageDeleteWithClaimID bool     // message_delete_with_claim_id

	// Long-poll (beyond Zaqar): seconds a claim or listing that finds
	// nothing may wait for messages (?wait=).
	DefaultWait int64 // default_wait: when the request gives none (0 = answer at once, as Zaqar)
	MaxWait     int64 // max_wait: the most a request may ask for (at most MaxWaitCeiling)

	AdminMode      bool // [DEFAULT] admin_mode: /v2/health
	EnableChecksum bool // [DEFAULT] enable_checksum: MD5 of each body
	Profiling      bool // [DEFAULT] debug: serve /debug/pprof/

	// Pools enables /v2/pools and /v2/flavors (with AdminMode) and the
	// pooled health report: the pooling.Store, in pooling mode only.
	Pools             PoolAdmin
	MaxPoolsPerPage   int // max_pools_per_page
	MaxFlavorsPerPage int // max_flavors_per_page

	// SignedURLKey is [signed_url] secret_key: requests with URL-Signature
	// headers are verified with it (404 when they do not verify), and
	// POST .../share signs with it.
	SignedURLKey string

	// Auth validates X-Auth-Token ([DEFAULT] auth_strategy = keystone); nil
	// is noauth: the identity headers are trusted as sent.
	Auth Authenticator
	// Policy holds the rules of every operation; nil = Zaqar's defaults.
	Policy *policy.Enforcer
	// CORS are the [cors] options; no allowed origin = no CORS headers.
	CORS CORSOptions

	Logger   *slog.Logger
	Registry *prometheus.Registry // nil = a new one; served on GET /metrics
}

// DefaultOptions returns Zaqar's defaults.
func DefaultOptions() Options {
	return Options{
		MaxQueuesPerPage: 20, MaxMessagesPerPage: 20, MaxSubscriptionsPerPage: 20,
		MaxMessagesPerClaimOrPop: 20, MaxQueueMetadata: 64 * 1024, MaxMessagesPostSize: 256 * 1024,
		DefaultMessageTTL: 3600, MaxMessageTTL: 1209600, DefaultMessageDelay: 0, MaxMessageDelay: 900,
		DefaultClaimTTL: 300, DefaultClaimGrace: 60, MaxClaimTTL: 43200, MaxClaimGrace: 43200,
		DefaultSubscriptionTTL: 3600,
		SubscriberTypes:        []string{"http", "https", "mailto", "trust+http", "trust+https"},
		ClientIDUUIDSafe:       "strict", MinClientIDLength: 10, MaxClientIDLength: 36,
		MaxPoolsPerPage: 20, MaxFlavorsPerPage: 20,
		DefaultWait: 0, MaxWait: 20,
	}
}

// Validate reports inconsistent options.
func (o Options) Validate() error {
	var errs []error
	pos := func(name string, v int64) {
		if v < 1 {
			errs = append(errs, fmt.Errorf("%s must be at least 1, got %d", name, v))
		}
	}
	pos("max_queues_per_page", int64(o.MaxQueuesPerPage))
	pos("max_messages_per_page", int64(o.MaxMessagesPerPage))
	pos("max_subscriptions_per_page", int64(o.MaxSubscriptionsPerPage))
	pos("max_messages_per_claim_or_pop", int64(o.MaxMessagesPerClaimOrPop))
	pos("max_queue_metadata", int64(o.MaxQueueMetadata))
	pos("max_messages_post_size", int64(o.MaxMessagesPostSize))
	pos("max_pools_per_page", int64(o.MaxPoolsPerPage))
	pos("max_flavors_per_page", int64(o.MaxFlavorsPerPage))
	if o.MaxMessageTTL < 60 || o.DefaultMessageTTL < 60 || o.DefaultMessageTTL > o.MaxMessageTTL {
		errs = append(errs, errors.New("default_message_ttl must be within 60..max_message_ttl"))
	}
	if o.MaxClaimTTL < 60 || o.DefaultClaimTTL < 60 || o.DefaultClaimTTL > o.MaxClaimTTL {
		errs = append(errs, errors.New("default_claim_ttl must be within 60..max_claim_ttl"))
	}
	if o.MaxClaimGrace < 60 || o.DefaultClaimGrace < 60 || o.DefaultClaimGrace > o.MaxClaimGrace {
		errs = append(errs, errors.New("default_claim_grace must be within 60..max_claim_grace"))
	}
	if o.DefaultMessageDelay < 0 || o.DefaultMessageDelay > o.MaxMessageDelay {
		errs = append(errs, errors.New("default_message_delay must be within 0..max_message_delay"))
	}
	if o.DefaultSubscriptionTTL < 60 {
		errs = append(errs, errors.New("default_subscription_ttl must be at least 60"))
	}
	if o.ClientIDUUIDSafe != "strict" && o.ClientIDUUIDSafe != "off" {
		errs = append(errs, fmt.Errorf("client_id_uuid_safe must be strict or off, got %q", o.ClientIDUUIDSafe))
	}
	if o.MaxWait < 0 || o.MaxWait > MaxWaitCeiling {
		errs = append(errs, fmt.Errorf("max_wait must be within 0..%d, got %d", MaxWaitCeiling, o.MaxWait))
	}
	if o.DefaultWait < 0 || o.DefaultWait > o.MaxWait {
		errs = append(errs, fmt.Errorf("default_wait must be within 0..max_wait, got %d", o.DefaultWait))
	}
	if o.MinClientIDLength < 1 || o.MaxClientIDLength < o.MinClientIDLength {
		errs = append(errs, errors.New("client id length bounds are inconsistent"))
	}
	return errors.Join(errs...)
}

// API serves the Messaging API v2 over one store.
type API struct {
	store     storage.Store
	opts      Options
	policy    *policy.Enforcer
	setupErrs []error // routes whose rule is missing, reported by New
	log       *slog.Logger
	router    *router.Router
	metrics   *metrics
	subTypes  string // "['http', 'https', ...]" for error texts

	closing   chan struct{} // closed by Close: long-poll waiters answer
	closeOnce sync.Once
}

// New builds the API.
func New(store storage.Store, opts Options) (*API, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("httpapi: %w", err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
	}
	if opts.Policy == nil {
		opts.Policy = policy.Default()
	}
	a := &API{store: store, opts: opts, policy: opts.Policy, log: opts.Logger, router: router.New(),
		closing: make(chan struct{})}
	a.subTypes = pyList(opts.SubscriberTypes)
	m, err := newMetrics(opts.Registry)
	if err != nil {
		return nil, err
	}
	a.metrics = m
	a.routes(opts.Registry)
	if err := errors.Join(a.setupErrs...); err != nil {
		return nil, fmt.Errorf("httpapi: %w", err)
	}
	return a, nil
}

func (a *API) routes(reg *prometheus.Registry) {
	r := a.router
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	r.HandleOPTIONS = true
	// With Keystone, as behind keystonemiddleware, even unknown paths and
	// OPTIONS answer only authenticated clients (CORS preflights are
	// answered before the router).
	// Falcon's own answers, as the original gives them.
	r.NotFound = a.authenticated(func(ctx *fasthttp.RequestCtx) {
		writeError(ctx, fasthttp.StatusNotFound, "404 Not Found", "")
	})
	r.MethodNotAllowed = a.authenticated(func(ctx *fasthttp.RequestCtx) {
		allow := string(ctx.Response.Header.Peek("Allow")) // the router's, which writeError resets
		writeError(ctx, fasthttp.StatusMethodNotAllowed, "405 Method Not Allowed", "")
		if allow != "" {
			setHeader(ctx, "allow", allow)
		}
	})
	r.GlobalOPTIONS = a.authenticated(func(*fasthttp.RequestCtx) {})
	r.PanicHandler = func(ctx *fasthttp.RequestCtx, v any) {
		a.log.Error("panic in handler", "path", string(ctx.Path()), "panic", v)
		writeError(ctx, fasthttp.StatusInternalServerError, "Internal server error", fmt.Sprint(v))
	}
	r.GET("/", a.versions)
	if a.opts.Profiling {
		r.GET("/debug/pprof/{profile:*}", a.operatorOnly(pprofhandler.PprofHandler))
	}
	r.GET("/metrics", fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{})))
	v := func(method, path, name, rule string, h handler) {
		r.Handle(method, path, a.wrap(name, rule, h))
	}
	v("GET", "/v2/", "home", "", a.home)
	v("GET", "/v2/ping", "ping", "ping:get", a.ping)
	v("HEAD", "/v2/ping", "ping", "ping:get", a.pingHead)
	if a.opts.AdminMode {
		v("GET", "/v2/health", "health", "health:get", a.health)
		if a.opts.Pools != nil {
			a.poolRoutes()
		}
	}
	v("GET", "/v2/queues", "queue_list", "queues:get_all", a.listQueues)
	v("PUT", "/v2/queues/{queue}", "queue_create", "queues:create", a.createQueue)
	v("GET", "/v2/queues/{queue}", "queue_get", "queues:get", a.getQueue)
	v("PATCH", "/v2/queues/{queue}", "queue_update", "queues:update", a.patchQueue)
	v("DELETE", "/v2/queues/{queue}", "queue_delete", "queues:delete", a.deleteQueue)
	v("GET", "/v2/queues/{queue}/stats", "queue_stats", "queues:stats", a.queueStats)
	v("POST", "/v2/queues/{queue}/share", "queue_share", "queues:share", a.shareQueue)
	v("POST", "/v2/queues/{queue}/purge", "queue_purge", "queues:purge", a.purgeQueue)
	v("POST", "/v2/queues/{queue}/messages", "message_post", "messages:create", a.postMessages)
	v("GET", "/v2/queues/{queue}/messages", "message_list", "messages:get_all", a.listMessages)
	v("DELETE", "/v2/queues/{queue}/messages", "message_delete_many", "messages:delete_all", a.deleteMessages)
	v("GET", "/v2/queues/{queue}/messages/{message}", "message_get", "messages:get", a.getMessage)
	v("DELETE", "/v2/queues/{queue}/messages/{message}", "message_delete", "messages:delete", a.deleteMessage)
	v("POST", "/v2/queues/{queue}/claims", "claim_create", "claims:create", a.createClaim)
	v("GET", "/v2/queues/{queue}/claims/{claim}", "claim_get", "claims:get", a.getClaim)
	v("PATCH", "/v2/queues/{queue}/claims/{claim}", "claim_update", "claims:update", a.updateClaim)
	v("DELETE", "/v2/queues/{queue}/claims/{claim}", "claim_delete", "claims:delete", a.deleteClaim)
	v("POST", "/v2/queues/{queue}/subscriptions", "subscription_create", "subscription:create", a.createSubscription)
	v("GET", "/v2/queues/{queue}/subscriptions", "subscription_list", "subscription:get_all", a.listSubscriptions)
	v("GET", "/v2/queues/{queue}/subscriptions/{subscription}", "subscription_get", "subscription:get", a.getSubscription)
	v("PATCH", "/v2/queues/{queue}/subscriptions/{subscription}", "subscription_update", "subscription:update", a.updateSubscription)
	v("DELETE", "/v2/queues/{queue}/subscriptions/{subscription}", "subscription_delete", "subscription:delete", a.deleteSubscription)
	v("PUT", "/v2/queues/{queue}/subscriptions/{subscription}/confirm", "subscription_confirm", "subscription:confirm", a.confirmSubscription)
	a.topicRoutes(v)
}

// Router exposes the route table so further resources (pools, flavors)
// can be registered with the same request checks via Wrap.
func (a *API) Router() *router.Router { return a.router }

// Handler is the fasthttp handler for the whole API, CORS outermost so
// that preflights need no token.
func (a *API) Handler() fasthttp.RequestHandler { return CORS(a.opts.CORS, a.router.Handler) }

// handler is a v2 handler after the common checks.
type handler func(ctx *fasthttp.RequestCtx, rq *request)

// wrap applies what every /v2 request goes through, in Zaqar's order:
// authentication, the falcon hooks (checkRequest), queue identification,
// then the route's policy rule ("" = none, as Zaqar's home document); it
// records metrics. A rule name the enforcer does not know is a programming
// error, reported by New.
func (a *API) wrap(name, ruleName string, h handler) fasthttp.RequestHandler {
	var rule *policy.Rule
	if ruleName != "" {
		var ok bool
		if rule, ok = a.policy.Rule(ruleName); !ok {
			a.setupErrs = append(a.setupErrs, fmt.Errorf("route %s: no policy rule %q", name, ruleName))
		}
	}
	return func(ctx *fasthttp.RequestCtx) {
		start := time.Now()
		rq := &request{}
		// Latency leaves out long-poll waiting: it measures the server.
		defer func() { a.metrics.observe(name, ctx.Response.StatusCode(), time.Since(start)-rq.waited) }()
		if !a.authenticate(ctx, rq) || !a.checkRequest(ctx, rq) {
			return
		}
		rq.res = queues
		name, ok := ctx.UserValue("queue").(string)
		if !ok {
			if name, ok = ctx.UserValue("topic").(string); ok {
				rq.res = topics
			}
		}
		if ok {
			if !validQueueName(name) || len(rq.project) > maxProjectLength {
				writeError(ctx, fasthttp.StatusBadRequest, "Invalid "+rq.res.singular+" identification",
					"The format of the submitted "+rq.res.singular+" name or project id is not valid.")
				return
			}
			rq.name, rq.queue = name, rq.res.storageName(name)
		}
		if !a.authorize(ctx, rq, rule) {
			return
		}
		h(ctx, rq)
	}
}
