package e2e

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// failoverLoad drives producers and consumers over several server nodes
// and keeps a delivery ledger and a timeline of every answer, so that a
// failover test can tell what was acknowledged, what was delivered and
// what a client saw while Redis changed masters.
type failoverLoad struct {
	t     *testing.T
	nodes []*proc
	queue string
	start time.Time

	stopProducers chan struct{}
	producing     sync.WaitGroup
	consuming     sync.WaitGroup
	producersDone atomic.Bool

	mu        sync.Mutex
	acked     map[string]time.Time // message key -> when its post got 201
	sent      map[string]time.Time // message key -> when its acknowledged post was sent
	delivered map[string][]time.Time
	events    []answer // every answer, in arrival order
}

// answer is one response as a client saw it.
type answer struct {
	at     time.Duration // since the load started
	node   int
	op     string
	status int // 0: no HTTP answer at all
	body   string
}

func startFailoverLoad(t *testing.T, nodes []*proc, queue string, producers, consumers int) *failoverLoad {
	l := &failoverLoad{t: t, nodes: nodes, queue: queue, start: time.Now(), stopProducers: make(chan struct{}),
		acked: map[string]time.Time{}, sent: map[string]time.Time{}, delivered: map[string][]time.Time{}}
	for w := 0; w < producers; w++ {
		l.producing.Add(1)
		go l.produce(w)
	}
	for w := 0; w < consumers; w++ {
		l.consuming.Add(1)
		go l.consume(w)
	}
	return l
}

func (l *failoverLoad) record(node int, op string, status int, body []byte) {
	a := answer{at: time.Since(l.start), node: node, op: op, status: status}
	if status/100 != 2 {
		a.body = string(body)
	}
	l.mu.Lock()
	l.events = append(l.events, a)
	l.mu.Unlock()
}

// produce posts one message per request, alternating nodes, each with a
// key of its own; a key is acknowledged only by a 201.
func (l *failoverLoad) produce(w int) {
	defer l.producing.Done()
	for n := 0; ; n++ {
		select {
		case <-l.stopProducers:
			return
		default:
		}
		node := (w + n) % len(l.nodes)
		key := fmt.Sprintf("%d.%d", w, n)
		sent := time.Now()
		code, body := l.nodes[node].request("POST", "/v2/queues/"+l.queue+"/messages",
			`{"messages":[{"body":{"k":"`+key+`"},"ttl":600}]}`)
		l.record(node, "post", code, body)
		if code == 201 {
			l.mu.Lock()
			l.acked[key], l.sent[key] = time.Now(), sent
			l.mu.Unlock()
		} else {
			time.Sleep(20 * time.Millisecond) // back off as a client would on 503
		}
	}
}

// consume claims, records each delivery and deletes it with its claim,
// retrying a delete that got 503 (the client does not know whether it
// happened) until it gets an answer. It stops once producers are done
// and the queue answered empty three times.
func (l *failoverLoad) consume(w int) {
	defer l.consuming.Done()
	empty := 0
	for n := 0; empty < 3; n++ {
		node := (w + n) % len(l.nodes)
		code, body := l.nodes[node].request("POST", "/v2/queues/"+l.queue+"/claims?limit=5", `{"ttl":60,"grace":60}`)
		l.record(node, "claim", code, body)
		if code == 204 && l.producersDone.Load() {
			empty++
			continue
		}
		if code != 201 {
			time.Sleep(20 * time.Millisecond) // empty queue or 503: back off
			continue
		}
		empty = 0
		var claimed struct {
			Messages []struct {
				Href string
				Body struct{ K string }
			}
		}
		if err := json.Unmarshal(body, &claimed); err != nil {
			l.t.Errorf("claim answer: %v: %s", err, body)
			return
		}
		for _, m := range claimed.Messages {
			l.mu.Lock()
			l.delivered[m.Body.K] = append(l.delivered[m.Body.K], time.Now())
			l.mu.Unlock()
			for try := 0; try < 200; try++ {
				code, body := l.nodes[node].request("DELETE", m.Href, "")
				l.record(node, "delete", code, body)
				if code != 503 && code != 0 {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
}

// finish stops producers, lets consumers drain, and returns the keys still
// in the queue (claimed or not).
func (l *failoverLoad) finish(node *proc) map[string]bool {
	close(l.stopProducers)
	l.producing.Wait()
	l.producersDone.Store(true)
	l.consuming.Wait()
	left := map[string]bool{}
	path := "/v2/queues/" + l.queue + "/messages?echo=true&include_claimed=true&limit=20"
	for page := 0; page < 10000; page++ {
		code, body := node.request("GET", path, "")
		if code != 200 {
			return left // 204: empty
		}
		var doc struct {
			Messages []struct{ Body struct{ K string } }
			Links    []struct{ Href string }
		}
		if err := json.Unmarshal(body, &doc); err != nil || len(doc.Messages) == 0 {
			return left
		}
		for _, m := range doc.Messages {
			left[m.Body.K] = true
		}
		path = doc.Links[0].Href
	}
	return left
}

// ledgerReport is the delivery account of a failover run, split at a
// moment (the promotion): before it, asynchronous replication may lose
// what was acknowledged; after it, nothing may be lost or delivered twice.
// window counts the posts sent at or after windowFrom and acknowledged
// before split: a post whose answer merely arrived after windowFrom may
// have been confirmed before it.
type ledgerReport struct {
	acked, window, lostBefore, lostAfter, dupBefore, dupAfter, remaining int
}

func (l *failoverLoad) ledger(left map[string]bool, windowFrom, split time.Time) ledgerReport {
	l.mu.Lock()
	defer l.mu.Unlock()
	var r ledgerReport
	for key, at := range l.acked {
		r.acked++
		if !l.sent[key].Before(windowFrom) && at.Before(split) {
			r.window++
		}
		if left[key] {
			r.remaining++
		}
		lost := len(l.delivered[key]) == 0 && !left[key]
		dup := len(l.delivered[key]) > 1
		after := at.After(split)
		switch {
		case lost && after:
			r.lostAfter++
		case lost:
			r.lostBefore++
		}
		switch {
		case dup && after:
			r.dupAfter++
		case dup:
			r.dupBefore++
		}
	}
	return r
}

// outage summarises the answers: the window in which clients got
// failures, the counts by kind, and any answer that is neither a success
// nor Zaqar's 503 document (returned for the test to judge).
type outage struct {
	first, last time.Duration // first and last failure (0, 0: none)
	failures    map[string]int
	odd         []answer
}

func (l *failoverLoad) outage(from time.Duration) outage {
	l.mu.Lock()
	defer l.mu.Unlock()
	o := outage{failures: map[string]int{}}
	for _, a := range l.events {
		if a.status/100 == 2 || a.at < from {
			continue
		}
		if o.first == 0 || a.at < o.first {
			o.first = a.at
		}
		if a.at > o.last {
			o.last = a.at
		}
		o.failures[fmt.Sprintf("%s %d", a.op, a.status)]++
		if a.status != 503 || !isZaqarError(a.body) {
			o.odd = append(o.odd, a)
		}
	}
	return o
}

// isZaqarError: Zaqar's error document, {"title": ..., "description": ...}.
func isZaqarError(body string) bool {
	var doc struct{ Title, Description string }
	return json.Unmarshal([]byte(body), &doc) == nil && doc.Title != "" && doc.Description != ""
}

// successAfter reports when a node first answered a post or claim with
// success after at, and whether it did.
func (l *failoverLoad) successAfter(node int, at time.Duration) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, a := range l.events {
		if a.node == node && a.at > at && a.status/100 == 2 && a.op != "delete" {
			return a.at, true
		}
	}
	return 0, false
}

func (o outage) String() string {
	kinds := make([]string, 0, len(o.failures))
	for k, n := range o.failures {
		kinds = append(kinds, fmt.Sprintf("%s x%d", k, n))
	}
	sort.Strings(kinds)
	return fmt.Sprintf("failures from %s to %s: %s", o.first.Round(time.Millisecond), o.last.Round(time.Millisecond), strings.Join(kinds, ", "))
}
