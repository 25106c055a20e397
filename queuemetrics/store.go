package queuemetrics

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zaqar-go/zaqar/storage"
)

// DefaultLimit is how many queues get series unless Options say otherwise.
const DefaultLimit = 100

// Options configure the per-queue metrics ([metrics] in zaqar.conf).
type Options struct {
	// PerQueue exports series labelled by project and queue; without it
	// only the totals over all queues are exported.
	PerQueue bool
	// Limit is how many queues get series: those holding the most
	// messages, then the busiest. At least 1 when PerQueue is set.
	Limit int
	// Queues enumerates every queue of the store when the store can
	// (the embedded engine's EachQueue). Without it, the queues are those
	// this decorator has seen a message posted to or claimed from since
	// the server started.
	Queues func(fn func(project, queue string) bool)
	// Registry receives the collector; nil: none is registered.
	Registry prometheus.Registerer
	// Now is the clock for message ages; nil: time.Now.
	Now func() time.Time
}

// Validate reports a setting that cannot work.
func (o Options) Validate() error {
	if o.PerQueue && o.Limit < 1 {
		return errors.New("[metrics] per_queue_limit must be at least 1 when per_queue_metrics is on")
	}
	return nil
}

type key struct{ project, queue string }

// counts are one queue's counters since the server started.
type counts struct{ posted, claimed, deleted atomic.Int64 }

// Store counts the messages posted, claimed and deleted per queue and
// exports them with the queues' stats. It forwards storage.Waker, the
// only optional capability asked of the store the API is given.
//
// Concurrency: queues is guarded by mu (requests take the read lock to
// find their queue's counts, which are atomics); collection is
// serialised by collectMu.
type Store struct {
	storage.Store
	opts Options

	mu     sync.RWMutex
	queues map[key]*counts
	// Totals over all queues, kept apart so that they never decrease
	// when a queue is deleted and its counts dropped.
	posted, claimed, deleted atomic.Int64

	collectMu sync.Mutex
	last      time.Time
	cached    []prometheus.Metric
}

// Wrap returns s with per-queue counting, registering its collector in
// o.Registry.
func Wrap(s storage.Store, o Options) (*Store, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	m := &Store{Store: s, opts: o, queues: map[key]*counts{}}
	if o.Registry != nil {
		if err := o.Registry.Register(collector{m}); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// counts returns the queue's counters, creating them when create is set.
// Only successful posts and claims create them: a delete names a queue
// nobody checks, and counting those would let requests for made-up
// queues grow the map without bound. The collector creates them for
// every queue the store enumerates.
func (m *Store) counts(project, queue string, create bool) *counts {
	k := key{project, queue}
	m.mu.RLock()
	c := m.queues[k]
	m.mu.RUnlock()
	if c != nil || !create {
		return c
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if c = m.queues[k]; c == nil {
		c = &counts{}
		m.queues[k] = c
	}
	return c
}

// PostMessages implements storage.MessageStore.
func (m *Store) PostMessages(ctx context.Context, project, queue, clientID string, msgs []storage.NewMessage) ([]string, error) {
	ids, err := m.Store.PostMessages(ctx, project, queue, clientID, msgs)
	if err == nil && len(ids) > 0 {
		m.counts(project, queue, true).posted.Add(int64(len(ids)))
		m.posted.Add(int64(len(ids)))
	}
	return ids, err
}

// CreateClaim implements storage.ClaimStore.
func (m *Store) CreateClaim(ctx context.Context, project, queue string, opts storage.ClaimOptions) (storage.Claim, error) {
	c, err := m.Store.CreateClaim(ctx, project, queue, opts)
	if err == nil && len(c.Messages) > 0 {
		m.counts(project, queue, true).claimed.Add(int64(len(c.Messages)))
		m.claimed.Add(int64(len(c.Messages)))
	}
	return c, err
}

// PopMessages implements storage.MessageStore: a pop is a claim and a
// delete at once, and counts as both.
func (m *Store) PopMessages(ctx context.Context, project, queue string, n int) ([]storage.Message, error) {
	msgs, err := m.Store.PopMessages(ctx, project, queue, n)
	if err == nil && len(msgs) > 0 {
		c := m.counts(project, queue, true)
		c.claimed.Add(int64(len(msgs)))
		c.deleted.Add(int64(len(msgs)))
		m.claimed.Add(int64(len(msgs)))
		m.deleted.Add(int64(len(msgs)))
	}
	return msgs, err
}

// DeleteMessage implements storage.MessageStore. Like SQS's
// NumberOfMessagesDeleted, every successful delete counts, a repeated
// one too.
func (m *Store) DeleteMessage(ctx context.Context, project, queue, id, claimID string) error {
	err := m.Store.DeleteMessage(ctx, project, queue, id, claimID)
	if err == nil {
		m.deleted.Add(1)
		if c := m.counts(project, queue, false); c != nil {
			c.deleted.Add(1)
		}
	}
	return err
}

// DeleteMessages implements storage.MessageStore; every id of a
// successful bulk delete counts.
func (m *Store) DeleteMessages(ctx context.Context, project, queue string, ids, claimIDs []string) error {
	err := m.Store.DeleteMessages(ctx, project, queue, ids, claimIDs)
	if err == nil && len(ids) > 0 {
		m.deleted.Add(int64(len(ids)))
		if c := m.counts(project, queue, false); c != nil {
			c.deleted.Add(int64(len(ids)))
		}
	}
	return err
}

// DeleteQueue implements storage.QueueStore: the queue's series go with it.
func (m *Store) DeleteQueue(ctx context.Context, project, queue string) error {
	err := m.Store.DeleteQueue(ctx, project, queue)
	if err == nil {
		m.forget(key{project, queue})
	}
	return err
}

func (m *Store) forget(k key) {
	m.mu.Lock()
	delete(m.queues, k)
	m.mu.Unlock()
}

// Changes forwards storage.Waker to the wrapped store, so that long-poll
// waiters are woken through the decorator.
func (m *Store) Changes(project, queue string) (<-chan struct{}, func()) {
	if ch, done, ok := storage.Changes(m.Store, project, queue); ok {
		return ch, done
	}
	return storage.NoChanges()
}

// ClaimChanges forwards storage.ClaimWaker.
func (m *Store) ClaimChanges(project, queue string) (<-chan struct{}, func()) {
	if ch, done, ok := storage.ClaimChanges(m.Store, project, queue); ok {
		return ch, done
	}
	return storage.NoChanges()
}
