// Command zaqar-bench drives any Zaqar Messaging API v2 endpoint with
// producers, consumers and observers and reports HDR latency percentiles.
// It accepts the original zaqar-bench's options, so existing scripts work.
//
//	zaqar-bench [flags]                 run a workload (see -h)
//	zaqar-bench compare A.json B.json   compare two --json results
//	zaqar-bench sink --bind ADDR        a webhook receiver that counts deliveries
//	zaqar-bench stalls TRACE            where a server's goroutines waited for a CPU (Go execution trace)
//	zaqar-bench brokers [flags]         ours vs Redis Streams vs RabbitMQ quorum queues (docs/brokers.md)
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/zaqar-go/zaqar/bench"
	"github.com/zaqar-go/zaqar/bench/stalls"
	"github.com/zaqar-go/zaqar/loadgen"
	"github.com/zaqar-go/zaqar/profiles"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// Exit codes: 0 ok, 1 run failed, 2 usage, 3 delivery check failed.
const (
	exitOK       = 0
	exitFailed   = 1
	exitUsage    = 2
	exitDelivery = 3
)

type headerFlag map[string]string

func (h headerFlag) String() string { return fmt.Sprint(map[string]string(h)) }
func (h headerFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, ":")
	if !ok || strings.TrimSpace(k) == "" {
		return fmt.Errorf("header %q: want 'Name: value'", v)
	}
	h[strings.TrimSpace(k)] = strings.TrimSpace(val)
	return nil
}

// options binds every flag; the original zaqar-bench names come with their
// short forms (stdlib flag accepts multi-letter single-dash names).
type options struct {
	fs                         *flag.FlagSet
	cfg                        loadgen.Config
	seconds, warmup, drainWait float64
	pp, cp, op                 int // processes: multiplied with workers (one Go process runs them all)
	jsonOut, plot, profile     string
	noverbose, quiet           bool
	apiVersion                 string              // the original's --api_version: only 2 is spoken
	debug                      bool                // the original's --debug (its default true: print details)
	skipQueueReset             bool                // the original's --skip_queue_reset
	messagesPath               string              // the original's --messages_path
	aliases                    map[string][]string // each flag name -> every name of the same option
}

func newOptions(stderr io.Writer) *options {
	o := &options{fs: flag.NewFlagSet("zaqar-bench", flag.ContinueOnError), cfg: loadgen.DefaultConfig(), pp: 1, cp: 1, op: 1,
		aliases: map[string][]string{"time": {"time", "t"}, "t": {"time", "t"},
			"noverbose": {"noverbose", "skip_verbose"}, "skip_verbose": {"noverbose", "skip_verbose"}}}
	fs, c := o.fs, &o.cfg
	fs.SetOutput(stderr)
	alias := func(names []string) {
		for _, n := range names {
			o.aliases[n] = names
		}
	}
	str := func(p *string, def string, help string, names ...string) {
		alias(names)
		for _, n := range names {
			fs.StringVar(p, n, def, help)
		}
	}
	num := func(p *int, def int, help string, names ...string) {
		alias(names)
		for _, n := range names {
			fs.IntVar(p, n, def, help)
		}
	}
	str(&c.ServerURL, c.ServerURL, "server URL", "server_url", "s")
	fs.Float64Var(&o.seconds, "time", 10, "seconds to measure (after warm-up)")
	fs.Float64Var(&o.seconds, "t", 10, "seconds to measure (after warm-up)")
	num(&o.pp, 1, "producer processes (multiplies producer workers)", "producer_processes", "pp")
	num(&c.Producers.Workers, c.Producers.Workers, "producer workers", "producer_workers", "pw")
	num(&o.cp, 1, "consumer processes (multiplies consumer workers)", "consumer_processes", "cp")
	num(&c.Consumers.Workers, c.Consumers.Workers, "consumer workers", "consumer_workers", "cw")
	num(&o.op, 1, "observer processes (multiplies observer workers)", "observer_processes", "op")
	num(&c.Observers.Workers, c.Observers.Workers, "observer workers", "observer_workers", "ow")
	num(&c.ClaimLimit, c.ClaimLimit, "messages per claim", "messages_per_claim", "cno")
	num(&c.PageSize, c.PageSize, "messages per observer list page", "messages_per_list", "lno")
	num(&c.Queues, c.Queues, "queues per project", "num_queues", "qno")
	num(&c.Wait, 0, "long-poll: consumers' claims (while producing) and observers' listings wait up to N seconds for messages (?wait=, beyond Zaqar; 0 = off)", "wait")
	str(&c.QueuePrefix, c.QueuePrefix, "queue name prefix", "queue_prefix", "q")
	fs.BoolVar(&o.noverbose, "noverbose", false, "print only the original zaqar-bench JSON summary")
	fs.BoolVar(&o.noverbose, "skip_verbose", false, "same as --noverbose")
	num(&c.Projects, c.Projects, "projects (X-Project-ID bench-<n>)", "num_projects")
	str(&c.ProjectPrefix, c.ProjectPrefix, "project id prefix", "project_prefix")
	num(&c.BatchSize, c.BatchSize, "messages per POST", "messages_per_post", "batch")
	num(&c.MessageSize, c.MessageSize, "message body padding in bytes (fixed, or minimum with --message_size_max)", "message_size")
	num(&c.MessageSizeMax, 0, "maximum body size: sizes uniform in [message_size, message_size_max]", "message_size_max")
	num(&c.MessageTTL, c.MessageTTL, "message ttl in seconds", "message_ttl")
	num(&c.ClaimTTL, c.ClaimTTL, "claim ttl in seconds", "claim_ttl")
	num(&c.ClaimGrace, c.ClaimGrace, "claim grace in seconds", "claim_grace")
	num(&c.Producers.Conns, 0, "producer connections (default: one per worker)", "producer_conns")
	num(&c.Consumers.Conns, 0, "consumer connections", "consumer_conns")
	num(&c.Observers.Conns, 0, "observer connections", "observer_conns")
	fs.Int64Var(&c.MaxMessages, "messages", 0, "stop producing after this many messages (0 = run for --time)")
	fs.Float64Var(&o.warmup, "warmup", 0, "seconds of load before measuring")
	fs.Float64Var(&c.Rate, "rate", 0, "open loop: producer requests per second in total (0 = closed loop)")
	fs.BoolVar(&c.Release, "release", false, "consumers release claims instead of deleting messages")
	fs.BoolVar(&c.Drain, "drain", true, "after the run, consume until queues are empty and check delivery")
	fs.Float64Var(&o.drainWait, "drain_timeout", 60, "seconds to wait for draining")
	fs.Var(headerFlag(c.HeadersMap()), "H", "extra header 'Name: value' (repeatable), e.g. -H 'X-Auth-Token: ...'")
	str(&o.profile, "", "workload profile: "+strings.Join(profiles.Names(), ", ")+", or a file", "profile")
	str(&o.jsonOut, "", "write the JSON result to this file ('-' = stdout)", "json")
	str(&o.plot, "", "write a latency plot (.png or .html)", "plot")
	fs.BoolVar(&o.quiet, "quiet", false, "no progress line")
	str(&c.Transport, loadgen.TransportHTTP, "transport: http, or websocket (Zaqar's WebSocket actions, one connection per worker)", "transport")
	str(&c.WebSocketURL, "", "WebSocket URL with --transport websocket (default ws://<server host>:9000/)", "websocket_url")
	num(&c.Subscribers, 0, "websocket: sockets per queue subscribed to it; reports post-to-push latency (end to end) and push", "subscribers")
	str(&o.messagesPath, "", "JSON file of sample messages, as the original's: [{\"weight\": 0.8, \"doc\": {\"ttl\": 60, \"body\": ...}}, ...]", "messages_path", "m")
	str(&o.apiVersion, "2", "Messaging API version (the original's option; only 2 is spoken)", "api_version", "api")
	fs.BoolVar(&o.debug, "debug", true, "print details while running (the original's option); --debug=false is --quiet")
	fs.BoolVar(&o.skipQueueReset, "skip_queue_reset", false,
		"the original's option: do not reset queues before running. Accepted always: this benchmark never resets queues, each run's messages carry its own keys, and --drain empties the queues after it")
	return o
}

// parse reads the command line, then fills from the profile every flag the
// command line did not set.
func (o *options) parse(args []string) error {
	if err := o.fs.Parse(args); err != nil {
		return err
	}
	if o.fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", o.fs.Arg(0))
	}
	if o.profile != "" {
		values, err := profiles.Load(o.profile)
		if err != nil {
			return err
		}
		set := map[string]bool{}
		o.fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		for k, v := range values {
			given := set[k]
			for _, a := range o.aliases[k] {
				given = given || set[a]
			}
			if given {
				continue
			}
			if o.fs.Lookup(k) == nil {
				return fmt.Errorf("profile %s: unknown option %q", o.profile, k)
			}
			if err := o.fs.Set(k, v); err != nil {
				return fmt.Errorf("profile %s: %s = %s: %w", o.profile, k, v, err)
			}
		}
	}
	switch strings.TrimSuffix(strings.TrimSuffix(o.apiVersion, ".0"), ".0") {
	case "2":
	default:
		return fmt.Errorf("api_version %s: only the Messaging API v2 is spoken", o.apiVersion)
	}
	if !o.debug {
		o.quiet = true
	}
	if o.messagesPath != "" {
		samples, err := loadSamples(o.messagesPath)
		if err != nil {
			return err
		}
		o.cfg.Samples = samples
	}
	c := &o.cfg
	c.Duration = time.Duration(o.seconds * float64(time.Second))
	c.Warmup = time.Duration(o.warmup * float64(time.Second))
	c.DrainTimeout = time.Duration(o.drainWait * float64(time.Second))
	c.Producers.Workers *= max(1, o.pp)
	c.Consumers.Workers *= max(1, o.cp)
	c.Observers.Workers *= max(1, o.op)
	if c.MaxMessages > 0 && !isSet(o.fs, "time", "t") {
		c.Duration = 0
	}
	return c.Validate()
}

func isSet(fs *flag.FlagSet, names ...string) bool {
	found := false
	fs.Visit(func(f *flag.Flag) {
		for _, n := range names {
			found = found || f.Name == n
		}
	})
	return found
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "compare" {
		return compare(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "sink" {
		return sink(args[1:], stdout, stderr, nil)
	}
	if len(args) > 0 && args[0] == "stalls" {
		return stallReport(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "brokers" {
		return brokersCmd(args[1:], stdout, stderr)
	}
	o := newOptions(stderr)
	if err := o.parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintln(stderr, "zaqar-bench:", err)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var progress func(loadgen.Progress)
	if f, ok := stderr.(*os.File); ok && !o.quiet && !o.noverbose && term.IsTerminal(int(f.Fd())) {
		var last loadgen.Progress
		progress = func(p loadgen.Progress) {
			dt := (p.Elapsed - last.Elapsed).Seconds()
			rate := func(op string) float64 { return float64(p.Requests[op]-last.Requests[op]) / dt }
			fmt.Fprintf(stderr, "\r%5.0fs  post %7.0f/s  msgs %8.0f/s  claim %6.0f/s  delete %7.0f/s  list %6.0f/s  p99 %6.2f ms  errors %d   ",
				p.Elapsed.Seconds(), rate(loadgen.OpPost), float64(p.Messages-last.Messages)/dt, rate(loadgen.OpClaim),
				rate(loadgen.OpDelete), rate(loadgen.OpList), float64(p.P99.Microseconds())/1000, p.Errors)
			last = p
		}
	}
	res, err := loadgen.Run(ctx, o.cfg, progress)
	if progress != nil {
		fmt.Fprintln(stderr)
	}
	if err != nil {
		fmt.Fprintln(stderr, "zaqar-bench:", err)
		return exitFailed
	}
	rep := bench.FromResult(res)
	switch {
	case o.noverbose:
		json.NewEncoder(stdout).Encode(rep.Legacy())
	case o.jsonOut == "-":
		rep.WriteJSON(stdout)
	default:
		rep.WriteText(stdout)
	}
	if o.jsonOut != "" && o.jsonOut != "-" {
		f, err := os.Create(o.jsonOut)
		if err == nil {
			err = rep.WriteJSON(f)
			f.Close()
		}
		if err != nil {
			fmt.Fprintln(stderr, "zaqar-bench: json:", err)
			return exitFailed
		}
	}
	if o.plot != "" {
		if err := rep.WritePlot(o.plot); err != nil {
			fmt.Fprintln(stderr, "zaqar-bench: plot:", err)
			return exitFailed
		}
	}
	if l := rep.Ledger; l.Lost > 0 || l.Duplicates > 0 {
		fmt.Fprintf(stderr, "zaqar-bench: delivery check failed: %d lost, %d duplicates\n", l.Lost, l.Duplicates)
		return exitDelivery
	}
	return exitOK
}

// stallReport analyses an execution trace taken from a server started
// with --debug, e.g. curl -o t.out 'http://HOST/debug/pprof/trace?seconds=3'
// while a load runs.
func stallReport(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("zaqar-bench stalls", flag.ContinueOnError)
	fs.SetOutput(stderr)
	minStall := fs.Duration("min", 5*time.Millisecond, "a wake-to-run delay at least this long is a stall")
	top := fs.Int("top", 5, "goroutines listed per stall window")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: zaqar-bench stalls [-min 5ms] [-top 5] TRACE")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return exitUsage
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		fmt.Fprintln(stderr, "zaqar-bench:", err)
		return exitUsage
	}
	defer f.Close()
	r, err := stalls.Analyze(f, stalls.Options{Min: *minStall})
	if err != nil {
		fmt.Fprintln(stderr, "zaqar-bench:", err)
		return exitFailed
	}
	r.WriteText(stdout, *top)
	return exitOK
}

func compare(args []string, stdout, stderr io.Writer) int {
	if len(args) != 2 {
		fmt.Fprintln(stderr, "usage: zaqar-bench compare A.json B.json")
		return exitUsage
	}
	a, err := bench.Load(args[0])
	if err != nil {
		fmt.Fprintln(stderr, "zaqar-bench:", err)
		return exitUsage
	}
	b, err := bench.Load(args[1])
	if err != nil {
		fmt.Fprintln(stderr, "zaqar-bench:", err)
		return exitUsage
	}
	bench.Compare(stdout, a, b, args[0], args[1])
	return exitOK
}

// loadSamples reads the original zaqar-bench's messages file: a list of
// {"weight": w, "doc": {"ttl": seconds, "body": value}}.
func loadSamples(path string) ([]loadgen.Sample, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("messages_path: %w", err)
	}
	var docs []struct {
		Weight float64 `json:"weight"`
		Doc    struct {
			TTL  int             `json:"ttl"`
			Body json.RawMessage `json:"body"`
		} `json:"doc"`
	}
	if err := json.Unmarshal(b, &docs); err != nil || len(docs) == 0 {
		return nil, fmt.Errorf("messages_path %s: want a non-empty JSON list of {\"weight\", \"doc\": {\"ttl\", \"body\"}}", path)
	}
	samples := make([]loadgen.Sample, len(docs))
	for i, d := range docs {
		samples[i] = loadgen.Sample{Weight: d.Weight, TTL: d.Doc.TTL, Body: d.Doc.Body}
	}
	return samples, nil
}
