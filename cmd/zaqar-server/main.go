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
	"github.com/zaqar-go/zaqar/queuemetrics"
	"github.com/zaqar-go/zaqar/redisstore"
	"github.com/zaqar-go/zaqar/sqldb"
	"github.com/zaqar-go/zaqar/storage"
	"github.com/zaqar-go/zaqar/storage/encrypt"
)

const (
	exitOK      = 0
	exitRuntime = 1
	exitConfig  = 2
)

func main() { os.Exit(run(os.Args[1:], os.Stderr)) }

func run(args []string, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "backup":
			return runBackup(args[1:], stderr)
		case "restore":
			return runRestore(args[1:], stderr)
		case "repartition":
			return runRepartition(args[1:], stderr)
		}
	}
	runtime.GOMAXPROCS(schedulerProcs(os.Getenv("GOMAXPROCS"), startProcs))
	fs := flag.NewFlagSet("zaqar-server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var files config.FileList
	fs.Var(&files, "config-file", "configuration file (repeatable; later files win)")
	dir := fs.String("config-dir", "", "directory of *.conf files read after --config-file")
	overrides := optionFlags(fs)
	showVersion := fs.Bool("version", false, "print the version, commit and Go version, and exit")
	sample := fs.Bool("print-sample-config", false, "print a zaqar.conf with every option and exit")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: zaqar-server [--config-file PATH]... [flags]\n"+
			"       zaqar-server backup --data-dir DIR --out FILE      (server running or stopped)\n"+
			"       zaqar-server restore --in FILE --data-dir NEWDIR\n"+
			"       zaqar-server repartition --data-dir DIR --partitions N   (server stopped)\n\nFlags:\n")
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
		fmt.Fprintln(os.Stdout, currentBuild())
		return exitOK
	}
	if *sample {
		fmt.Print(config.Sample())
		return exitOK
	}
	cfg, err := config.Load(files, *dir, os.Environ(), overrides())
	if err != nil {
		fmt.Fprintf(stderr, "zaqar-server: configuration error:\n%v\n", err)
		return exitConfig
	}
	settings := cfg.Settings()
	logger, closeLog, err := newLogger(settings.Log, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "zaqar-server: %v\n", err)
		return exitConfig
	}
	defer closeLog()
	for _, w := range cfg.Warnings {
		logger.Warn(w)
	}
	if len(cfg.NoEffect) > 0 {
		logger.Warn("options of Zaqar accepted without effect in this server", "options", cfg.NoEffect)
	}
	gc, err := tuneCollector(settings)
	if err != nil {
		logger.Warn("no memory limit for the Go heap", "err", err)
	}
	logger.Info("go runtime", "gomaxprocs", runtime.GOMAXPROCS(0), "gogc", gc.GCPercent,
		"memory_limit", gc.MemoryLimit, "memory_limit_from", gc.Basis)
	if err := serve(settings, cfg.Sources, logger); err != nil {
		logger.Error("server failed", "err", err)
		if errors.Is(err, errConfig) {
			return exitConfig
		}
		return exitRuntime
	}
	return exitOK
}

var errConfig = errors.New("configuration")

// HTTP server limits; none is an option.
const (
	// readTimeout and writeTimeout bound reading a request and writing
	// its answer; idleTimeout closes a keep-alive connection. fasthttp
	// applies none of them to the handler, so a long-poll waiting up to
	// max_wait (at most httpapi.MaxWaitCeiling) is not cut short: the
	// write deadline is set when the handler returns (e2e/longpoll_test.go).
	readTimeout, writeTimeout, idleTimeout = 30 * time.Second, 30 * time.Second, 120 * time.Second
	// readBufferSize: a typical post (ten 1 KiB messages) fits with its
	// headers, so most requests take one read call rather than two.
	readBufferSize = 16 << 10
	// bodySlack is how far beyond max_messages_post_size the server still
	// reads a body: one just over is refused by the API, with its error.
	bodySlack = 64 << 10
	// shutdownGrace is how long in-flight requests may take to finish.
	shutdownGrace = 30 * time.Second
	// catalogTimeout bounds connecting to and migrating the management store.
	catalogTimeout = 60 * time.Second
)

// optionFlags defines the flags of the options that have one; the
// function returned gives the values set, as config.Load's overrides.
func optionFlags(fs *flag.FlagSet) func() map[string]string {
	strs, bools := map[*config.Option]*string{}, map[*config.Option]*bool{}
	for i := range config.Options {
		switch o := &config.Options[i]; {
		case o.Flag == "":
		case o.Kind() == config.Bool:
			bools[o] = fs.Bool(o.Flag, false, o.FlagUsage())
		default:
			strs[o] = fs.String(o.Flag, "", o.FlagUsage())
		}
	}
	return func() map[string]string {
		overrides := map[string]string{}
		for o, v := range strs {
			if *v != "" {
				overrides[o.Key()] = *v
			}
		}
		for o, v := range bools {
			if *v {
				overrides[o.Key()] = "true"
			}
		}
		return overrides
	}
}

func newLogger(l config.LogSettings, stderr io.Writer) (*slog.Logger, func(), error) {
	out, closer := stderr, func() {}
	if path := l.File; path != "" {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return nil, nil, fmt.Errorf("log_file: %w", err)
		}
		out, closer = f, func() { f.Close() }
	}
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	if l.Debug {
		opts.Level = slog.LevelDebug
	}
	if l.JSON {
		return slog.New(slog.NewJSONHandler(out, opts)), closer, nil
	}
	return slog.New(slog.NewTextHandler(out, opts)), closer, nil
}

// openStore opens the configured message store.
func openStore(spec backend.Spec, logger *slog.Logger) (storage.Store, error) {
	store, err := backend.OpenSpec(spec, backend.Options{Logger: logger})
	if err != nil {
		if spec.Driver != backend.Badger {
			// redisstore.Open fails only on a URI it cannot read, and a
			// driver this build lacks is the configuration's error too.
			return nil, fmt.Errorf("%w: %v", errConfig, err)
		}
		return nil, err
	}
	if r, ok := store.(*redisstore.Store); ok {
		if err := r.Ping(context.Background()); err != nil {
			// Not fatal: requests answer 503 until Redis is reachable.
			logger.Warn("redis message store not reachable yet", "err", err)
		}
	}
	return store, nil
}

func serve(s config.Settings, sources []string, logger *slog.Logger) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	opts := s.API
	opts.Logger, opts.Registry = logger, reg
	if err := opts.Validate(); err != nil {
		return fmt.Errorf("%w: %v", errConfig, err)
	}
	if err := accessOptions(s.Auth, sources, logger, &opts); err != nil {
		return err
	}
	var store storage.Store
	var err error
	if s.Pooling.Enabled {
		var pooled *pooledStore
		pooled, err = openPooling(s, logger)
		if pooled != nil {
			store, opts.Pools = pooled, pooled
		}
	} else {
		store, err = openStore(s.Store, logger)
	}
	if err != nil {
		return err
	}
	metricsOpts := s.Metrics
	metricsOpts.Registry = reg
	stopControl := func() {}
	if e, ok := store.(*engine.Engine); ok {
		registerEngineMetrics(reg, e)
		metricsOpts.Queues = e.EachQueue
		if stop, err := serveControl(e, logger); err != nil {
			logger.Warn("no control socket: backups of this server need it stopped", "err", err)
		} else {
			stopControl = stop
		}
	}
	serveHTTP, serveWS, err := transports(s.Transports)
	if err != nil {
		store.Close()
		return err
	}
	// Encryption sits between the store and the notifier, which delivers
	// bodies as posted.
	store = encrypt.Wrap(store, s.EncryptionKey)
	relay := &socketRelay{}
	nopts := notifyOptions(s, logger, reg)
	nopts.Sockets = relay
	notifier, err := notify.Wrap(store, nopts)
	if err != nil {
		store.Close()
		return fmt.Errorf("%w: %v", errConfig, err)
	}
	// Outermost, so that what it counts is what clients were answered.
	metered, err := queuemetrics.Wrap(notifier, metricsOpts)
	if err != nil {
		notifier.Close()
		return fmt.Errorf("%w: %v", errConfig, err)
	}
	store = metered
	api, err := httpapi.New(store, opts)
	if err != nil {
		store.Close()
		return fmt.Errorf("%w: %v", errConfig, err)
	}
	served := make(chan error, 2)
	closeWS := func() {}
	if serveWS {
		var plain fasthttp.RequestHandler
		if !serveHTTP {
			plain = metricsOnly(reg)
		}
		wsSrv, wsLn, err := startWebSocket(s, opts, store, relay, logger, plain)
		if err != nil {
			store.Close()
			return err
		}
		go func() { served <- wsSrv.Serve(wsLn) }()
		// Before the store closes: sockets delete their subscriptions.
		closeWS = func() {
			wsLn.Close()
			wsSrv.Close()
		}
	}
	if !serveHTTP {
		return waitForSignal(served, logger, store, func() { closeWS(); stopControl() })
	}
	addr := net.JoinHostPort(s.Bind, strconv.FormatInt(s.Port, 10))
	srv := &fasthttp.Server{
		Handler:               api.Handler(),
		Name:                  "zaqar-server",
		MaxRequestBodySize:    opts.MaxMessagesPostSize + bodySlack,
		ReadBufferSize:        readBufferSize,
		ReadTimeout:           readTimeout,
		WriteTimeout:          writeTimeout,
		IdleTimeout:           idleTimeout,
		NoDefaultServerHeader: false,
		Logger:                fasthttpLogger{logger},
		ErrorHandler:          httpapi.ServerErrorHandler,
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		store.Close()
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	b := currentBuild()
	logger.Info("zaqar-server listening", "addr", ln.Addr().String(), "version", b.Version, "commit", b.Commit,
		"message_store", s.Store.Driver, "config_files", sources)
	go func() { served <- srv.Serve(ln) }()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	var serveErr error
	select {
	case s := <-sigs:
		logger.Info("shutting down: finishing in-flight requests", "signal", s.String())
	case serveErr = <-served:
	}
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	// Long-poll waiters answer now rather than hold the graceful shutdown
	// for up to max_wait.
	api.Close()
	if err := srv.ShutdownWithContext(ctx); err != nil {
		logger.Warn("shutdown did not finish cleanly", "err", err)
	}
	closeWS()
	stopControl()
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
func openPooling(s config.Settings, logger *slog.Logger) (*pooledStore, error) {
	uri := s.Pooling.CatalogURI
	so := s.Pooling.SQL
	so.Logger = logger
	ctx, cancel := context.WithTimeout(context.Background(), catalogTimeout)
	defer cancel()
	cat, err := catalog.Open(ctx, uri, so)
	if err != nil {
		return nil, fmt.Errorf("management store: %w", err)
	}
	if strings.HasPrefix(uri, "sqlite://") && (uri == "sqlite://" || strings.HasSuffix(uri, ":memory:")) {
		logger.Warn("pooling with an in-memory catalogue: pools and queue placement are lost when the server stops",
			"option", "[drivers:management_store:sqlalchemy] uri")
	}
	var fallback storage.Store
	if s.Pooling.VirtualPool {
		if fallback, err = openStore(s.Store, logger); err != nil {
			cat.Close()
			return nil, err
		}
	}
	pooled, err := pooling.New(pooling.Options{
		Catalog: cat, Default: fallback, CacheTTL: s.Pooling.CacheTTL, Logger: logger,
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

// notifyOptions are the delivery options with the server's logger and
// registry.
func notifyOptions(s config.Settings, logger *slog.Logger, reg *prometheus.Registry) notify.Options {
	if s.Notify.RequireConfirmation && s.Notify.SecretKey == "" {
		logger.Error("require_confirmation is on but [signed_url] secret_key is empty: confirmation requests cannot be sent")
	}
	o := s.Notify
	o.Registry, o.Logger = reg, logger
	return o
}
