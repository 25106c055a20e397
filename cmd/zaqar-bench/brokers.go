package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/zaqar-go/zaqar/bench/brokers"
)

// brokersCmd runs the same workloads against our server, Redis Streams and
// RabbitMQ quorum queues and prints one table (docs/brokers.md).
//
//	zaqar-bench brokers [--rounds 3] [--time 10s] [--systems zaqar,redis,rabbitmq] [--json FILE]
func brokersCmd(args []string, stdout, stderr io.Writer) int {
	cfg := brokers.DefaultConfig()
	fs := flag.NewFlagSet("zaqar-bench brokers", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&cfg.Rounds, "rounds", cfg.Rounds, "rounds; the table shows each figure's median")
	fs.DurationVar(&cfg.Duration, "time", cfg.Duration, "timed phase of each workload (T)")
	fs.IntVar(&cfg.Producers, "producers", cfg.Producers, "producers (P) of produce and of the backlog fill; mixed runs P/2")
	fs.IntVar(&cfg.Consumers, "consumers", cfg.Consumers, "consumers (C) of consume and mixed")
	fs.IntVar(&cfg.Backlog, "backlog", cfg.Backlog, "messages filled before consume is timed")
	fs.IntVar(&cfg.Body, "body", cfg.Body, "bytes per message body")
	fs.IntVar(&cfg.Batch, "batch", cfg.Batch, "messages per send and per take")
	fs.DurationVar(&cfg.DrainTimeout, "drain-timeout", cfg.DrainTimeout, "how long consumers may take to empty a queue after the timed phase")
	fs.DurationVar(&cfg.Warmup, "warmup", cfg.Warmup, "untimed mixed load on each system before round 1 (0 = none)")
	fs.DurationVar(&cfg.Settle, "settle", cfg.Settle, "pause after each measurement")
	systems := fs.String("systems", strings.Join(cfg.Systems, ","), "systems, comma-separated, in round 1's order")
	workloads := fs.String("workloads", strings.Join(cfg.Workloads, ","), "workloads, comma-separated, in the order each round runs them")
	fs.StringVar(&cfg.ZaqarURL, "zaqar", "", "URL of a running server (default: start --zaqar-server on a temp dir, fsync = always)")
	fs.StringVar(&cfg.ZaqarServer, "zaqar-server", "", "zaqar-server binary to start (default: bin/zaqar-server, ./zaqar-server or $PATH)")
	fs.IntVar(&cfg.ZaqarWait, "zaqar-wait", cfg.ZaqarWait, "seconds a claim long-polls (?wait=N); 0 polls with a 1-8 ms back-off (servers without long-poll)")
	fs.StringVar(&cfg.RedisServer, "redis-server", cfg.RedisServer, "redis-server binary; a private one runs on a free loopback port")
	fs.StringVar(&cfg.RabbitMQURL, "rabbitmq", cfg.RabbitMQURL, "RabbitMQ broker (loopback only)")
	jsonOut := fs.String("json", "", "also write every round's figures as JSON to this file ('-' = stdout instead of the table)")
	verbose := fs.Bool("v", false, "print every round's figures after the table")
	quiet := fs.Bool("quiet", false, "no line per measurement on stderr")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "zaqar-bench brokers: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	cfg.Systems, cfg.Workloads = list(*systems), list(*workloads)
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(stderr, "zaqar-bench brokers:", err)
		return exitUsage
	}
	if !*quiet {
		cfg.Progress = stderr
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := brokers.Run(ctx, cfg)
	if rep != nil && len(rep.Measurements) > 0 {
		if *jsonOut == "-" {
			rep.WriteJSON(stdout)
		} else {
			rep.WriteText(stdout, *verbose)
		}
		if *jsonOut != "" && *jsonOut != "-" {
			f, ferr := os.Create(*jsonOut)
			if ferr == nil {
				ferr = rep.WriteJSON(f)
				if cerr := f.Close(); ferr == nil {
					ferr = cerr
				}
			}
			if ferr != nil {
				fmt.Fprintln(stderr, "zaqar-bench brokers: json:", ferr)
				return exitFailed
			}
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "zaqar-bench brokers:", err)
		return exitFailed
	}
	if !rep.Clean() {
		fmt.Fprintln(stderr, "zaqar-bench brokers: delivery check failed (lost, duplicated, undrained or failed measurements: see the table)")
		return exitDelivery
	}
	return exitOK
}

// list splits a comma-separated flag value.
func list(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
