package notify

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/zaqar-go/zaqar/engine"
	"github.com/zaqar-go/zaqar/httpapi"
	"github.com/zaqar-go/zaqar/internal/testenv"
	"github.com/zaqar-go/zaqar/storage"
	"github.com/zaqar-go/zaqar/wal"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

const clientID = "3a1d6a3e-0000-4000-8000-000000000001"

// env is the HTTP API over an engine wrapped by a Notifier.
type env struct {
	t      testing.TB
	n      *Notifier
	client *fasthttp.Client
	reg    *prometheus.Registry

	mu     sync.Mutex
	delays []time.Duration // every retry delay the notifier asked for
}

func newEnv(t testing.TB, clock storage.Clock, mut func(*Options)) *env {
	t.Helper()
	eo := engine.DefaultOptions(t.TempDir())
	eo.Fsync, eo.Partitions, eo.Logger, eo.Clock = wal.SyncNever, 2, quiet, clock
	store, err := engine.Open(eo)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, reg: prometheus.NewRegistry()}
	o := Options{Logger: quiet, Registry: e.reg, Workers: 4,
		// Delays are recorded, then shortened 1000x: the policy's
		// minutes run in milliseconds.
		After: func(d time.Duration, f func()) {
			e.mu.Lock()
			e.delays = append(e.delays, d)
			e.mu.Unlock()
			time.AfterFunc(d/1000, f)
		}}
	if mut != nil {
		mut(&o)
	}
	n, err := Wrap(store, o)
	if err != nil {
		t.Fatal(err)
	}
	e.n = n
	ao := httpapi.DefaultOptions()
	ao.Logger, ao.SignedURLKey = quiet, o.SecretKey
	api, err := httpapi.New(n, ao)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() }) // after the server's shutdown
	e.client = testenv.ServeInMemory(t, api.Handler())
	e.client.MaxConnsPerHost = 64
	return e
}

// do sends a request as client clientID of project "proj"; headers are
// extra "Name: value" strings.
func (e *env) do(method, path, body string, headers ...string) (int, []byte) {
	e.t.Helper()
	r := testenv.Do(e.t, e.client, method, path, body, append([]string{"Client-ID: " + clientID, "X-Project-ID: proj"}, headers...)...)
	return r.Status, []byte(r.Body)
}

func (e *env) must(status int, method, path, body string, headers ...string) []byte {
	e.t.Helper()
	code, b := e.do(method, path, body, headers...)
	if code != status {
		e.t.Fatalf("%s %s: %d %s, want %d", method, path, code, b, status)
	}
	return b
}

func (e *env) subscribe(queue, subscriber, options string) string {
	e.t.Helper()
	b := e.must(201, "POST", "/v2/queues/"+queue+"/subscriptions", `{"subscriber": "`+subscriber+`", "ttl": 3600, "options": `+options+`}`)
	var r struct {
		ID string `json:"subscription_id"`
	}
	json.Unmarshal(b, &r)
	return r.ID
}

func (e *env) post(queue string, bodies ...string) []string {
	e.t.Helper()
	msgs := ""
	for i, b := range bodies {
		if i > 0 {
			msgs += ","
		}
		msgs += `{"ttl": 300, "body": ` + b + `}`
	}
	var r struct {
		Resources []string `json:"resources"`
	}
	json.Unmarshal(e.must(201, "POST", "/v2/queues/"+queue+"/messages", `{"messages": [`+msgs+`]}`), &r)
	ids := make([]string, len(r.Resources))
	for i, h := range r.Resources {
		ids[i] = h[len(h)-32:]
	}
	return ids
}

func (e *env) counter(name string, labels map[string]string) float64 {
	mfs, _ := e.reg.Gather()
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if v, ok := labels[l.GetName()]; ok && v != l.GetValue() {
					continue next
				}
			}
			total += m.GetCounter().GetValue()
		}
	}
	return total
}

// receiver is a webhook endpoint that records what it gets; answer
// chooses each attempt's status.
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	bodies   []map[string]any
	headers  []http.Header
	attempts int
	answer   func(attempt int) int
	arrived  chan struct{}
}

func newReceiver(t testing.TB, answer func(attempt int) int) *receiver {
	r := &receiver{answer: answer, arrived: make(chan struct{}, 100000)}
	if r.answer == nil {
		r.answer = func(int) int { return 200 }
	}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.attempts++
		status := r.answer(r.attempts)
		if status < 300 {
			var doc map[string]any
			json.Unmarshal(b, &doc)
			r.bodies = append(r.bodies, doc)
			r.headers = append(r.headers, req.Header.Clone())
		}
		r.mu.Unlock()
		w.WriteHeader(status)
		if status < 300 {
			r.arrived <- struct{}{}
		}
	}))
	t.Cleanup(r.Close)
	return r
}

// wait blocks until n deliveries arrived (bounded).
func (r *receiver) wait(t testing.TB, n int) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for i := 0; i < n; i++ {
		select {
		case <-r.arrived:
		case <-deadline:
			r.mu.Lock()
			defer r.mu.Unlock()
			t.Fatalf("got %d of %d deliveries (%d attempts)", len(r.bodies), n, r.attempts)
		}
	}
}

func (r *receiver) snapshot() ([]map[string]any, []http.Header, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]map[string]any(nil), r.bodies...), append([]http.Header(nil), r.headers...), r.attempts
}

// eventually polls cond (bounded): for effects that have no signal of
// their own, such as a metric updated after a response.
func (e *env) eventually(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
