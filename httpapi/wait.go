package httpapi

import (
	"fmt"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/zaqar-go/zaqar/storage"
)

// Long-poll (?wait=N on claims and listings) is an extension beyond
// Zaqar, as SQS's WaitTimeSeconds: a request that would find nothing is
// held until the store reports a change of the queue (storage.Waker), the
// N seconds run out, or the server shuts down. It never polls: a waiter
// sleeps on a channel the store closes, so thousands of them cost memory
// and no CPU.

// MaxWaitCeiling bounds max_wait: proxies and load balancers commonly
// cut a request that has been silent for 60 s (nginx's
// proxy_read_timeout, cloud load balancers' idle timeouts).
const MaxWaitCeiling = 60

// waitParam reads ?wait= (seconds within 0..MaxWait, DefaultWait when
// absent or blank), answering Zaqar's errors itself.
func (a *API) waitParam(ctx *fasthttp.RequestCtx) (time.Duration, bool) {
	n, present, pe := queryInt(ctx, "wait")
	if pe != nil {
		invalidParam(ctx, pe)
		return 0, false
	}
	if !present {
		n = a.opts.DefaultWait
	}
	if n < 0 || n > a.opts.MaxWait {
		badRequest(ctx, fmt.Sprintf("Wait must be at least 0 and may not be greater than %d seconds.", a.opts.MaxWait))
		return 0, false
	}
	return time.Duration(n) * time.Second, true
}

// longPoll answers a request that may wait. try runs the store operation:
// when it has something to give (or fails) it writes the answer and
// reports true; otherwise it writes nothing and reports false. empty
// writes the answer of nothing found (204, an empty page). changes
// registers the waiter (storage.Changes, or storage.ClaimChanges for a
// claim).
//
// With wait 0 it is one try, as without long-poll. Otherwise the waiter
// registers for the queue's changes before each try, so that a change
// between the try and the wait is not lost, and tries again at each
// change. At the deadline it makes one final try, which catches what no
// store reports (a claim that ran out since the engine's last reaper
// pass, a queue placed by another server) and is all a store that cannot
// wake offers: its waiters answer at their deadline. Shutdown (Close, or
// the server's own) answers at once with nothing found.
func (a *API) longPoll(ctx *fasthttp.RequestCtx, rq *request, wait time.Duration,
	changes func(storage.Store, string, string) (<-chan struct{}, func(), bool), try func() bool, empty func()) {
	if wait <= 0 {
		if !try() {
			empty()
		}
		return
	}
	var shutdown <-chan struct{}
	if ctx.Conn() != nil { // a RequestCtx not served by a Server has no shutdown signal
		shutdown = ctx.Done()
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	a.metrics.waiting.Add(1)
	defer a.metrics.waiting.Add(-1)
	// Each registration is dropped only after the next is made and tried
	// with, so that the waiters of a queue woken together never all
	// leave its wake slot at once (the store keeps one slot instead of
	// removing it and making it again at every wake), and so that a
	// store waking claim waiters one at a time learns, when a woken one
	// is done, whether it left messages for the next.
	woken, current := func() {}, func() {}
	defer func() {
		current() // not woken: it goes first, so that the woken one's turn passes to another waiter
		woken()
	}()
	for {
		ch, done, _ := changes(a.store, rq.project, rq.queue) // nil: only the deadline ends the wait
		current = done
		found := try()
		if found {
			return
		}
		woken()
		woken = func() {}
		slept := time.Now()
		select {
		case <-ch:
			rq.waited += time.Since(slept)
			woken, current = done, func() {}
			continue
		case <-timer.C:
			rq.waited += time.Since(slept)
			if !try() {
				empty()
			}
		case <-a.closing:
			rq.waited += time.Since(slept)
			empty()
		case <-shutdown:
			rq.waited += time.Since(slept)
			empty()
		}
		return
	}
}

// Close answers every long-poll waiter at once with nothing found, and
// makes later requests answer without waiting. The server calls it before
// its graceful shutdown, which would otherwise wait for waits to run out.
// The store stays usable.
func (a *API) Close() { a.closeOnce.Do(func() { close(a.closing) }) }
