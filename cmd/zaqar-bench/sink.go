package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// sink is a webhook receiver for measuring notification delivery: it
// answers every POST with 200, counts requests and bytes, and prints the
// totals when it stops (after --duration, or on SIGINT/SIGTERM).
//
//	zaqar-bench sink --bind 127.0.0.1:9000 [--duration 30s]
func sink(args []string, stdout, stderr io.Writer, ready chan<- string) int {
	fs := flag.NewFlagSet("zaqar-bench sink", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bind := fs.String("bind", "127.0.0.1:0", "address to listen on")
	duration := fs.Duration("duration", 0, "stop after this long (0 = until SIGINT/SIGTERM)")
	status := fs.Int("status", 200, "status to answer")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		return exitUsage
	}
	ln, err := net.Listen("tcp", *bind)
	if err != nil {
		fmt.Fprintln(stderr, "zaqar-bench sink:", err)
		return exitUsage
	}
	var requests, bytes atomic.Int64
	var first, last atomic.Int64
	srv := &fasthttp.Server{Name: "zaqar-bench-sink", Handler: func(ctx *fasthttp.RequestCtx) {
		now := time.Now().UnixNano()
		first.CompareAndSwap(0, now)
		last.Store(now)
		requests.Add(1)
		bytes.Add(int64(len(ctx.Request.Body())))
		ctx.SetStatusCode(*status)
	}}
	go srv.Serve(ln)
	fmt.Fprintf(stdout, "sink listening on http://%s\n", ln.Addr())
	if ready != nil {
		ready <- ln.Addr().String()
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	<-ctx.Done()
	srv.Shutdown()
	n := requests.Load()
	span := time.Duration(last.Load() - first.Load())
	rate := 0.0
	if span > 0 {
		rate = float64(n) / span.Seconds()
	}
	fmt.Fprintf(stdout, "sink: %d requests, %d bytes, %.0f req/s between the first and the last\n", n, bytes.Load(), rate)
	return exitOK
}
