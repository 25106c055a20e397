// Command backlog measures the embedded engine's memory and restart time
// with a large backlog: it fills a data directory through the engine's Go
// API (no HTTP) with the collector set as zaqar-server sets it, reporting the process's resident set while it does, then
// starts itself again on the same directory and reports the time from
// start to the first answered claim, the resident set of the restarted
// process and whether the backlog drains in order.
//
//	go run ./bench/backlog -dir /var/tmp/backlog -messages 50000000 -queues 1000
//
// The directory is removed first. Not part of the test suite: a 50-million
// message run writes about 8 GB and takes many minutes.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/zaqar-go/zaqar/engine"
	"github.com/zaqar-go/zaqar/internal/collector"
	"github.com/zaqar-go/zaqar/storage"
	"github.com/zaqar-go/zaqar/wal"
)

var (
	dir      = flag.String("dir", "", "data directory (removed first)")
	messages = flag.Int("messages", 50_000_000, "messages to post")
	queues   = flag.Int("queues", 1, "queues the messages are spread over")
	bodySize = flag.Int("body", 100, "body bytes")
	batch    = flag.Int("batch", 20, "messages per post")
	workers  = flag.Int("workers", 8, "concurrent posters")
	window   = flag.Int("window", engine.DefaultIndexWindow, "index window (messages per queue head)")
	restart  = flag.Bool("restart", false, "internal: measure a restart of -dir")
	cpuProf  = flag.String("cpuprofile", "", "write a CPU profile of the start (-reopen) to this file")
	memProf  = flag.String("memprofile", "", "write a heap profile to this file when the fill is 80% done")
	reopen   = flag.Bool("reopen", false, "only measure a start on the existing -dir (open, first claim, stats): changes nothing, so it can be repeated")
)

func main() {
	flag.Parse()
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "backlog: -dir is required")
		os.Exit(2)
	}
	// The collector as zaqar-server runs it by default (GOGC 400, a soft
	// memory limit from the engine's options): the environment wins.
	gc, err := collector.Tune(0, options().Memory())
	if err != nil {
		fmt.Fprintln(os.Stderr, "backlog: no memory limit:", err)
	}
	if !*restart {
		fmt.Printf("collector: GOGC %d, memory limit %s (%s)\n", gc.GCPercent, mib(gc.MemoryLimit), gc.Basis)
	}
	if *restart || *reopen {
		err = measureRestart()
	} else {
		err = fill()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "backlog:", err)
		os.Exit(1)
	}
}

func options() engine.Options {
	o := engine.DefaultOptions(*dir)
	o.IndexWindow = *window
	// Filling is not what is measured: no fsync per post.
	o.Fsync = wal.SyncNever
	o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return o
}

func queueName(i int) string { return fmt.Sprintf("q%04d", i%*queues) }

// body is message n's body: its number, then padding.
func body(n int) []byte {
	b := []byte(fmt.Sprintf("%020d", n))
	for len(b) < *bodySize {
		b = append(b, 'x')
	}
	return b
}

func fill() error {
	if err := os.RemoveAll(*dir); err != nil {
		return err
	}
	e, err := engine.Open(options())
	if err != nil {
		return err
	}
	ctx := context.Background()
	var next atomic.Int64
	var peak, peakAnon atomic.Int64
	stop := make(chan struct{})
	go sampleRSS(&peak, &peakAnon, stop)
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, *workers)
	posts := (*messages + *batch - 1) / *batch
	for w := 0; w < *workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msgs := make([]storage.NewMessage, *batch)
			for {
				i := int(next.Add(1)) - 1
				if i >= posts {
					return
				}
				n := min(*batch, *messages-i*(*batch))
				for j := 0; j < n; j++ {
					msgs[j] = storage.NewMessage{Body: body(i*(*batch) + j), TTL: 14 * 24 * 3600}
				}
				// Consecutive posts go to one queue in turn, so that
				// each queue's messages are numbered in posting order.
				if _, err := e.PostMessages(ctx, "p", queueName(i), "3a1d6a3e-0000-4000-8000-000000000001", msgs[:n]); err != nil {
					errs <- err
					return
				}
				if *memProf != "" && i == posts*4/5 {
					if err := writeHeapProfile(*memProf); err != nil {
						errs <- err
						return
					}
				}
				if i%(posts/20+1) == 0 {
					fmt.Printf("  posted %d messages, %s, RSS %s (%s)\n", i*(*batch), time.Since(start).Round(time.Second), mib(rss()), rssSplit())
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	took := time.Since(start)
	close(stop)
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Printf("fill: %d messages of %d bytes over %d queues (window %d) in %s (%.0f msg/s); peak RSS %s (anonymous %s); after GC: RSS %s (%s), Go heap in use %s\n",
		*messages, *bodySize, *queues, *window, took.Round(time.Second), float64(*messages)/took.Seconds(),
		mib(peak.Load()), mib(peakAnon.Load()), mib(rss()), rssSplit(), mib(int64(ms.HeapInuse)))
	if err := e.Close(); err != nil {
		return err
	}
	// Without fsync the fill leaves gigabytes of dirty pages: writing them
	// back is the fill's cost, not the start's (an fsync during the start
	// would wait for them on ext4).
	synced := time.Now()
	syscall.Sync()
	fmt.Printf("fill: closed; writeback of the data directory took %s\n", time.Since(synced).Round(time.Millisecond))
	// A process of its own, as a restarted server would be.
	args := append([]string{"-restart"}, os.Args[1:]...)
	cmd := exec.Command(os.Args[0], args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	return cmd.Run()
}

func measureRestart() error {
	ctx := context.Background()
	if *cpuProf != "" {
		f, err := os.Create(*cpuProf)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	start := time.Now()
	e, err := engine.Open(options())
	if err != nil {
		return err
	}
	defer e.Close()
	opened := time.Since(start)
	claimed := queueName(0)
	if *reopen {
		claimed = queueName(*queues - 1) // the first queue may have been drained by the restart after the fill
	}
	c, err := e.CreateClaim(ctx, "p", claimed, storage.ClaimOptions{TTL: 60, Grace: 60, Limit: 10})
	if err != nil {
		return err
	}
	ready := time.Since(start)
	if len(c.Messages) != 10 {
		return fmt.Errorf("first claim after restart got %d messages", len(c.Messages))
	}
	// Released, so that the drain below starts from the first message.
	if err := e.DeleteClaim(ctx, "p", claimed, c.ID); err != nil {
		return err
	}
	fmt.Printf("restart: open %s, first claim answered %s after start; RSS %s (%s)\n",
		opened.Round(time.Millisecond), ready.Round(time.Millisecond), mib(rss()), rssSplit())
	var total int64
	for i := 0; i < *queues; i++ {
		st, err := e.QueueStats(ctx, "p", queueName(i))
		if err != nil {
			return err
		}
		total += st.Total
	}
	if *reopen {
		fmt.Printf("reopen: stats count %d messages, %s after start\n", total, time.Since(start).Round(time.Millisecond))
		return nil
	}
	if total != int64(*messages) {
		return fmt.Errorf("stats count %d messages, want %d", total, *messages)
	}
	// Drain part of the first queue: in order, nothing skipped. A queue
	// numbers its messages 1, 2, 3... in the first 16 hex digits of their
	// ids, and nothing was deleted.
	drainStart := time.Now()
	var prev uint64
	drained := 0
	for drained < 200_000 {
		msgs, err := e.PopMessages(ctx, "p", queueName(0), 20)
		if err != nil {
			return err
		}
		if len(msgs) == 0 {
			break
		}
		for _, m := range msgs {
			seq, err := strconv.ParseUint(m.ID[:16], 16, 64)
			if err != nil || seq != prev+1 || len(m.Body) != *bodySize {
				return fmt.Errorf("drained message %s (%d bytes) after sequence %d", m.ID, len(m.Body), prev)
			}
			prev = seq
		}
		drained += len(msgs)
	}
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Printf("restart: stats count %d messages; popped %d of queue %s in order in %s; RSS %s (%s), Go heap in use %s\n",
		total, drained, queueName(0), time.Since(drainStart).Round(time.Millisecond), mib(rss()), rssSplit(), mib(int64(ms.HeapInuse)))
	return nil
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return pprof.Lookup("heap").WriteTo(f, 0)
}

// sampleRSS keeps the peaks of the resident set and of its anonymous part
// (the Go heap: what the memory limit is about) until stop is closed.
func sampleRSS(peak, peakAnon *atomic.Int64, stop chan struct{}) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if r := rss(); r > peak.Load() {
				peak.Store(r)
			}
			if r := status("RssAnon:"); r > peakAnon.Load() {
				peakAnon.Store(r)
			}
		}
	}
}

// rss is this process's resident set in bytes (/proc/self/status VmRSS).
func rss() int64 { return status("VmRSS:") }

// rssSplit is the resident set in anonymous memory (the Go heap and
// stacks) and in mapped files (Badger's tables and logs, page cache the
// kernel may take back).
func rssSplit() string {
	return fmt.Sprintf("anonymous %s, files %s", mib(status("RssAnon:")), mib(status("RssFile:")))
}

func status(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == field {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

func mib(b int64) string { return fmt.Sprintf("%d MiB", b>>20) }
