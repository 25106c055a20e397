// Package storagetest is the conformance suite every storage.Store must
// pass, so behaviour cannot drift between the embedded engine, the Redis
// store and pooled stores. It uses only the storage interfaces and a fake
// clock: no sleeps, and assertions hold whether or not a background reaper
// has run.
package storagetest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zaqar-go/zaqar/internal/testenv"
	"github.com/zaqar-go/zaqar/storage"
)

// Factory opens a fresh store driven by clock; it registers its own
// cleanup (Close) with t.
type Factory func(t *testing.T, clock storage.Clock) storage.Store

// FakeClock is the project's test clock (testenv.Clock) under the names
// the conformance suite and the stores' tests have always used; new tests
// use testenv.NewClock directly.
type FakeClock struct{ testenv.Clock }

// NewFakeClock starts at start.
func NewFakeClock(start time.Time) *FakeClock {
	c := &FakeClock{}
	c.Set(start)
	return c
}

// Advance moves the clock forward (testenv.Clock's Add).
func (c *FakeClock) Advance(d time.Duration) { c.Add(d) }

var projectSeq atomic.Int64

// env is what each subtest gets: a store, its clock and a unique project.
type env struct {
	t       *testing.T
	s       storage.Store
	clock   *FakeClock
	project string
	ctx     context.Context
}

// Run runs the whole suite.
func Run(t *testing.T, newStore Factory) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clock := NewFakeClock(time.Unix(1_800_000_000, 0))
			e := &env{t: t, s: newStore(t, clock.Now), clock: clock, ctx: context.Background(),
				project: fmt.Sprintf("conformance-%d-%d", time.Now().UnixNano(), projectSeq.Add(1))}
			tc.fn(e)
		})
	}
}

type testCase struct {
	name string
	fn   func(e *env)
}

var cases []testCase

func register(name string, fn func(e *env)) { cases = append(cases, testCase{name, fn}) }

// helpers

func (e *env) post(queue, client string, bodies ...string) []string {
	e.t.Helper()
	msgs := make([]storage.NewMessage, len(bodies))
	for i, b := range bodies {
		msgs[i] = storage.NewMessage{Body: []byte(b), TTL: 300}
	}
	ids, err := e.s.PostMessages(e.ctx, e.project, queue, client, msgs)
	if err != nil {
		e.t.Fatalf("post: %v", err)
	}
	if len(ids) != len(bodies) {
		e.t.Fatalf("post returned %d ids for %d messages", len(ids), len(bodies))
	}
	return ids
}

func (e *env) list(queue string, o storage.ListMessagesOptions) ([]storage.Message, string) {
	e.t.Helper()
	if o.Limit == 0 {
		o.Limit = 100
	}
	msgs, marker, err := e.s.ListMessages(e.ctx, e.project, queue, o)
	if err != nil {
		e.t.Fatalf("list: %v", err)
	}
	return msgs, marker
}

func (e *env) all(queue string) []storage.Message {
	e.t.Helper()
	m, _ := e.list(queue, storage.ListMessagesOptions{Echo: true, IncludeClaimed: true, IncludeDelayed: true})
	return m
}

func (e *env) claim(queue string, limit int, ttl, grace int64) storage.Claim {
	e.t.Helper()
	c, err := e.s.CreateClaim(e.ctx, e.project, queue, storage.ClaimOptions{TTL: ttl, Grace: grace, Limit: limit})
	if err != nil {
		e.t.Fatalf("claim: %v", err)
	}
	if (c.ID == "") != (len(c.Messages) == 0) {
		e.t.Fatalf("claim id %q with %d messages", c.ID, len(c.Messages))
	}
	return c
}

func ids(msgs []storage.Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.ID
	}
	return out
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
