// Command zaqar-server serves the Zaqar Messaging API v2.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/valyala/fasthttp"

	"github.com/zaqar-go/zaqar/backend"
	"github.com/zaqar-go/zaqar/catalog"
	"github.com/zaqar-go/zaqar/config"
	"github.com/zaqar-go/zaqar/engine"
	"github.com/zaqar-go/zaqar/httpapi"
	"github.com/zaqar-go/zaqar/notify"
	"github.com/zaqar-go/zaqar/pooling"
	"github.com/zaqar-go/zaqar/redisstore"
	"github.com/zaqar-go/zaqar/sqldb"
	"github.com/zaqar-go/zaqar/storage"
	"github.com/zaqar-go/zaqar/wal"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const (
	exitOK      = 0
	exitRuntime = 1
	exitConfig  = 2
)

func main() { os.Exit(run(os.Args[1:], os.Stderr)) }

func run(args []string, stderr io.Writer) int {
	runtime.GOMAXPROCS(schedulerProcs(os.Getenv("GOMAXPROCS"), startProcs))
	fs := flag.NewFlagSet("zaqar-server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var files config.FileList
	fs.Var(&files, "config-file", "configuration file (repeatable; later files win)")
	dir := fs.String("config-dir", "", "directory of *.conf files read after --config-file")
	bind := fs.String("bind", "", "override [drivers:transport:wsgi] bind")
	port := fs.String("port", "", "override [drivers:transport:wsgi] port")
	dataDir := fs.String("data-dir", "", "override [drivers:message_store:badger] path")
	fsync := fs.String("fsync", "", "override [drivers:message_store:badger] fsync (always|interval|never)")
	partitions := fs.String("partitions", "", "override [drivers:message_store:badger] partitions")
	debug := fs.Bool("debug", false, "log at debug level")
	showVersion := fs.Bool("version", false, "print the version and exit")
	sample := fs.Bool("print-sample-config", false, "print a zaqar.conf with every option and exit")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: zaqar-server [--config-file PATH]... [flags]\n\nFlags:\n")
		fs.PrintDefaults()
		fmt.Fprintf(stderr, "\nConfiguration options (zaqar.conf; env OS_<SECTION>__<OPTION>, ':' in section names as '_'):\n")
		for _, o := range config.Options {
			fmt.Fprintf(stderr, "  [%s] %s (default %q)\n      %s\n", o.Section, o.Name, o.Default, o.Help)
		}
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitConfig
	}
	if *showVersion {
		fmt.Fprintln(stderr, "zaqar-server", version)
		return exitOK
	}
	if *sample {
		fmt.Print(config.Sample())
		return exitOK
	}
	overrides := map[string]string{}
	for k, v := range map[string]string{
		"drivers:transport:wsgi.bind": *bind, "drivers:transport:wsgi.port": *port,
		"drivers:message_store:badger.path": *dataDir, "drivers:message_store:badger.fsync": *fsync,
		"drivers:message_store:badger.partitions": *partitions,
	} {
		if v != "" {
			overrides[k] = v
		}
	}
	if *debug {
		overrides["DEFAULT.debug"] = "true"
	}
	cfg, err := config.Load(files, *dir, os.Environ(), overrides)
	if err != nil {
		fmt.Fprintf(stderr, "zaqar-server: configuration error:\n%v\n", err)
		return exitConfig
	}
	logger, closeLog, err := newLogger(cfg, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "zaqar-server: %v\n", err)
		return exitConfig
	}
	defer closeLog()
	for _, w := range cfg.Warnings {
		logger.Warn(w)
	}
	gcPercent, memoryLimit, err := tuneCollector()
	if err != nil {
		logger.Warn("no memory limit for the Go heap", "err", err)
	}
	logger.Info("go runtime", "gomaxprocs", runtime.GOMAXPROCS(0), "gogc", gcPercent, "memory_limit", memoryLimit)
	if err := serve(cfg, logger); err != nil {
		logger.Error("server failed", "err", err)
		if errors.Is(err, errConfig) {
			return exitConfig
		}
		return exitRuntime
	}
	return exitOK
}

var errConfig = errors.New("configuration")

func newLogger(cfg *config.Config, stderr io.Writer) (*slog.Logger, func(), error) {
	out, closer := stderr, func() {}
	if path := cfg.String("DEFAULT", "log_file"); path != "" {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return nil, nil, fmt.Errorf("log_file: %w", err)
		}
		out, closer = f, func() { f.Close() }
	}
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	if cfg.Bool("DEFAULT", "debug") {
		opts.Level = slog.LevelDebug
	}
	if cfg.Bool("DEFAULT", "use_json") {
		return slog.New(slog.NewJSONHandler(out, opts)), closer, nil
	}
	return slog.New(slog.NewTextHandler(out, opts)), closer, nil
}

func openStore(cfg *config.Config, logger *slog.Logger) (storage.Store, error) {
	switch cfg.String("drivers", "message_store") {
	case "badger":
		const sec = "drivers:message_store:badger"
		policy, err := wal.ParseSyncPolicy(cfg.String(sec, "fsync"))
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errConfig, err)
		}
		o := engine.DefaultOptions(cfg.String(sec, "path"))
		o.Partitions = int(cfg.Int(sec, "partitions"))
		o.Fsync = policy
		o.FsyncInterval = cfg.Duration(sec, "fsync_interval")
		o.SegmentSize = cfg.Int(sec, "segment_size")
		o.Compression = cfg.Bool(sec, "compression")
		o.ReapInterval = cfg.Duration(sec, "reap_interval")
		o.CheckpointInterval = cfg.Duration(sec, "checkpoint_interval")
		o.Logger = logger
		e, err := engine.Open(o)
		if err != nil {
			return nil, err
		}
		return e, nil
	case "redis":
		s, err := redisstore.Open(cfg.String("drivers:message_store:redis", "uri"), redisstore.Options{Logger: logger})
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errConfig, err)
		}
		if err := s.Ping(context.Background()); err != nil {
			// Not fatal: requests answer 503 until Redis is reachable.
			logger.Warn("redis message store not reachable yet", "err", err)
		}
		return s, nil
	default:
		return nil, fmt.Errorf("%w: message_store %q is not available in this build", errConfig, cfg.String("drivers", "message_store"))
	}
}

func apiOptions(cfg *config.Config, logger *slog.Logger, reg *prometheus.Registry) httpapi.Options {
	const t = "transport"
	o := httpapi.DefaultOptions()
	o.MaxQueuesPerPage = int(cfg.Int(t, "max_queues_per_page"))
	o.MaxMessagesPerPage = int(cfg.Int(t, "max_messages_per_page"))
	o.MaxSubscriptionsPerPage = int(cfg.Int(t, "max_subscriptions_per_page"))
	o.MaxMessagesPerClaimOrPop = int(cfg.Int(t, "max_messages_per_claim_or_pop"))
	o.MaxQueueMetadata = int(cfg.Int(t, "max_queue_metadata"))
	o.MaxMessagesPostSize = int(cfg.Int(t, "max_messages_post_size"))
	o.DefaultMessageTTL = cfg.Int(t, "default_message_ttl")
	o.MaxMessageTTL = cfg.Int(t, "max_message_ttl")
	o.DefaultMessageDelay = cfg.Int(t, "default_message_delay")
	o.MaxMessageDelay = cfg.Int(t, "max_message_delay")
	o.DefaultClaimTTL = cfg.Int(t, "default_claim_ttl")
	o.DefaultClaimGrace = cfg.Int(t, "default_claim_grace")
	o.MaxClaimTTL = cfg.Int(t, "max_claim_ttl")
	o.MaxClaimGrace = cfg.Int(t, "max_claim_grace")
	o.DefaultSubscriptionTTL = cfg.Int(t, "default_subscription_ttl")
	o.SubscriberTypes = cfg.List(t, "subscriber_types")
	o.ClientIDUUIDSafe = cfg.String(t, "client_id_uuid_safe")
	o.MinClientIDLength = int(cfg.Int(t, "min_length_client_id"))
	o.MaxClientIDLength = int(cfg.Int(t, "max_length_client_id"))
	o.MessageDeleteWithClaimID = cfg.Bool(t, "message_delete_with_claim_id")
	o.AdminMode = cfg.Bool("DEFAULT", "admin_mode")
	o.EnableChecksum = cfg.Bool("DEFAULT", "enable_checksum")
	o.Profiling = cfg.Bool("DEFAULT", "debug")
	o.SignedURLKey = cfg.String("signed_url", "secret_key")
	o.MaxPoolsPerPage = int(cfg.Int(t, "max_pools_per_page"))
	o.MaxFlavorsPerPage = int(cfg.Int(t, "max_flavors_per_page"))
	o.Logger = logger
	o.Registry = reg
	return o
}

func serve(cfg *config.Config, logger *slog.Logger) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	opts := apiOptions(cfg, logger, reg)
	if err := opts.Validate(); err != nil {
		return fmt.Errorf("%w: %v", errConfig, err)
	}
	if err := accessOptions(cfg, logger, &opts); err != nil {
		return err
	}
	var store storage.Store
	var err error
	if cfg.Bool("DEFAULT", "pooling") {
		var pooled *pooledStore
		pooled, err = openPooling(cfg, logger)
		if pooled != nil {
			store, opts.Pools = pooled, pooled
		}
	} else {
		store, err = openStore(cfg, logger)
	}
	if err != nil {
		return err
	}
	if e, ok := store.(*engine.Engine); ok {
		registerEngineMetrics(reg, e)
	}
	notifier, err := notify.Wrap(store, notifyOptions(cfg, logger, reg))
	if err != nil {
		store.Close()
		return fmt.Errorf("%w: %v", errConfig, err)
	}
	store = notifier
	api, err := httpapi.New(store, opts)
	if err != nil {
		store.Close()
		return fmt.Errorf("%w: %v", errConfig, err)
	}
	addr := net.JoinHostPort(cfg.String("drivers:transport:wsgi", "bind"), strconv.FormatInt(cfg.Int("drivers:transport:wsgi", "port"), 10))
	srv := &fasthttp.Server{
		Handler:            api.Handler(),
		Name:               "zaqar-server",
		MaxRequestBodySize: opts.MaxMessagesPostSize + 64<<10,
		// A typical post (ten 1 KiB messages) fits with its headers, so
		// most requests take one read call rather than two.
		ReadBufferSize:        16 << 10,
		ReadTimeout:           30 * time.Second,
		WriteTimeout:          30 * time.Second,
		IdleTimeout:           120 * time.Second,
		NoDefaultServerHeader: false,
		Logger:                fasthttpLogger{logger},
		ErrorHandler:          httpapi.ServerErrorHandler,
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		store.Close()
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	logger.Info("zaqar-server listening", "addr", ln.Addr().String(), "version", version,
		"message_store", cfg.String("drivers", "message_store"), "config_files", cfg.Sources)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	var serveErr error
	select {
	case s := <-sigs:
		logger.Info("shutting down: finishing in-flight requests", "signal", s.String())
	case serveErr = <-served:
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.ShutdownWithContext(ctx); err != nil {
		logger.Warn("shutdown did not finish cleanly", "err", err)
	}
	if err := store.Close(); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	logger.Info("stopped")
	return serveErr
}

type fasthttpLogger struct{ l *slog.Logger }

func (f fasthttpLogger) Printf(format string, args ...any) { f.l.Debug(fmt.Sprintf(format, args...)) }

// pooledStore is the pooled store plus what it was built on, closed
// together.
type pooledStore struct {
	*pooling.Store
	catalog  *catalog.Catalog
	fallback storage.Store
}

func (p pooledStore) Close() error {
	err := p.Store.Close()
	if p.fallback != nil {
		err = errors.Join(err, p.fallback.Close())
	}
	return errors.Join(err, p.catalog.Close())
}

// openPooling opens the SQL catalogue and a pooled store over its pools;
// with enable_virtual_pool the configured message store takes the queues
// no pool can.
func openPooling(cfg *config.Config, logger *slog.Logger) (*pooledStore, error) {
	const sec = "drivers:management_store:sqlalchemy"
	uri := cfg.String(sec, "uri")
	so := sqldb.DefaultOptions()
	so.Logger = logger
	so.MySQLSQLMode = cfg.String(sec, "mysql_sql_mode")
	so.MaxOpenConns = int(cfg.Int(sec, "max_pool_size"))
	so.ConnMaxIdleTime = cfg.Duration(sec, "idle_timeout")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cat, err := catalog.Open(ctx, uri, so)
	if err != nil {
		return nil, fmt.Errorf("management store: %w", err)
	}
	if strings.HasPrefix(uri, "sqlite://") && (uri == "sqlite://" || strings.HasSuffix(uri, ":memory:")) {
		logger.Warn("pooling with an in-memory catalogue: pools and queue placement are lost when the server stops",
			"option", "["+sec+"] uri")
	}
	var fallback storage.Store
	if cfg.Bool("pooling:catalog", "enable_virtual_pool") {
		if fallback, err = openStore(cfg, logger); err != nil {
			cat.Close()
			return nil, err
		}
	}
	pooled, err := pooling.New(pooling.Options{
		Catalog: cat, Default: fallback, CacheTTL: cfg.Duration("pooling:catalog", "cache_ttl"), Logger: logger,
		Capabilities: backend.Capabilities,
		Open: func(uri string, settings map[string]any) (storage.Store, error) {
			return backend.Open(uri, backend.Options{Logger: logger, Settings: settings})
		},
	})
	if err != nil {
		if fallback != nil {
			fallback.Close()
		}
		cat.Close()
		return nil, err
	}
	logger.Info("pooling enabled", "catalogue", sqldb.Redact(uri), "virtual_pool", fallback != nil)
	return &pooledStore{Store: pooled, catalog: cat, fallback: fallback}, nil
}

// notifyOptions maps [notification] and [signed_url] onto delivery options.
func notifyOptions(cfg *config.Config, logger *slog.Logger, reg *prometheus.Registry) notify.Options {
	const n = "notification"
	if cfg.Bool(n, "require_confirmation") && cfg.String("signed_url", "secret_key") == "" {
		logger.Error("require_confirmation is on but [signed_url] secret_key is empty: confirmation requests cannot be sent")
	}
	return notify.Options{
		Workers: int(cfg.Int(n, "max_notifier_workers")), HandoffSize: int(cfg.Int(n, "handoff_size")),
		WebhookTimeout: cfg.Duration(n, "webhook_timeout"), YieldToPosts: cfg.Duration(n, "yield_to_posts"), RequireConfirmation: cfg.Bool(n, "require_confirmation"),
		ExternalConfirmationURL: cfg.String(n, "external_confirmation_url"), SecretKey: cfg.String("signed_url", "secret_key"),
		Mail: notify.MailOptions{
			Mode: cfg.String(n, "smtp_mode"), Command: cfg.String(n, "smtp_command"), Host: cfg.String(n, "smtp_host"),
			Port: int(cfg.Int(n, "smtp_port")), Security: cfg.String(n, "smtp_security"), User: cfg.String(n, "smtp_user_name"),
			Pass: cfg.String(n, "smtp_user_password"), Sender: cfg.String(n, "smtp_sender"),
		},
		Registry: reg, Logger: logger,
	}
}
