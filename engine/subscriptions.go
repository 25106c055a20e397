package engine

import (
	"context"
	"encoding/json"
	"sort"
	"time"

	"github.com/google/uuid"

	"github.com/zaqar-go/zaqar/storage"
)

// liveSubs returns the live subscriptions of a queue sorted by id (ids are
// UUIDv7, so that is creation order).
func (p *partition) liveSubs(qk string, now int64) []*storedSub {
	p.subsMu.RLock()
	defer p.subsMu.RUnlock()
	var out []*storedSub
	for _, s := range p.subs[qk] {
		if s.Expires > now {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (p *partition) sub(qk, id string, now int64) *storedSub {
	p.subsMu.RLock()
	defer p.subsMu.RUnlock()
	if s := p.subs[qk][id]; s != nil && s.Expires > now {
		return s
	}
	return nil
}

func subRecord(typ byte, project, queue string, now int64, s *storedSub) *record {
	b, err := json.Marshal(s)
	if err != nil {
		panic("BUG: subscription does not encode: " + err.Error())
	}
	return &record{Type: typ, Project: project, Queue: queue, Time: now, SubID: s.ID, Meta: b}
}

// CreateSubscription implements storage.SubscriptionStore.
func (e *Engine) CreateSubscription(ctx context.Context, project, name string, ns storage.NewSubscription) (storage.Subscription, bool, error) {
	p := e.partition(project, name)
	qk := qkey(project, name)
	var out *storedSub
	created := false
	err := p.do(func(now int64) error {
		for _, s := range p.liveSubs(qk, now) {
			if s.Subscriber == ns.Subscriber {
				out = s
				return nil
			}
		}
		id, err := uuid.NewV7()
		if err != nil {
			return err
		}
		out = &storedSub{ID: id.String(), Queue: name, Subscriber: ns.Subscriber, TTL: ns.TTL,
			Options: ns.Options.Clone(), Created: now, Expires: now + ns.TTL*int64(time.Second)}
		if out.Options == nil {
			out.Options = storage.Metadata{}
		}
		created = true
		p.emit(subRecord(recSubCreate, project, name, now, out))
		return nil
	})
	if err != nil {
		return storage.Subscription{}, false, err
	}
	return out.public(), created, nil
}

// GetSubscription implements storage.SubscriptionStore.
func (e *Engine) GetSubscription(ctx context.Context, project, name, id string) (storage.Subscription, error) {
	if err := e.usable(); err != nil {
		return storage.Subscription{}, err
	}
	s := e.partition(project, name).sub(qkey(project, name), id, e.now())
	if s == nil {
		return storage.Subscription{}, storage.ErrSubscriptionNotFound
	}
	return s.public(), nil
}

// ListSubscriptions implements storage.SubscriptionStore.
func (e *Engine) ListSubscriptions(ctx context.Context, project, name, marker string, limit int) ([]storage.Subscription, error) {
	if err := e.usable(); err != nil {
		return nil, err
	}
	var out []storage.Subscription
	for _, s := range e.partition(project, name).liveSubs(qkey(project, name), e.now()) {
		if s.ID <= marker {
			continue
		}
		if limit > 0 && len(out) >= limit {
			break
		}
		out = append(out, s.public())
	}
	return out, nil
}

// HasSubscriptions implements storage.SubscriptionPresence.
func (e *Engine) HasSubscriptions(ctx context.Context, project, name string) (bool, error) {
	if err := e.usable(); err != nil {
		return false, err
	}
	p := e.partition(project, name)
	p.subsMu.RLock()
	defer p.subsMu.RUnlock()
	return len(p.subs[qkey(project, name)]) > 0, nil
}

// UpdateSubscription implements storage.SubscriptionStore.
func (e *Engine) UpdateSubscription(ctx context.Context, project, name, id string, u storage.SubscriptionUpdate) error {
	return e.changeSub(project, name, id, func(p *partition, qk string, now int64, next *storedSub) error {
		if u.Subscriber != nil && *u.Subscriber != next.Subscriber {
			for _, s := range p.liveSubs(qk, now) {
				if s.Subscriber == *u.Subscriber {
					return storage.ErrDuplicate
				}
			}
			next.Subscriber = *u.Subscriber
		}
		if u.TTL != nil {
			next.TTL = *u.TTL
			next.Created = now
			next.Expires = now + *u.TTL*int64(time.Second)
		}
		if u.Options != nil {
			next.Options = u.Options.Clone()
		}
		return nil
	})
}

// changeSub applies change to a copy of a live subscription on the writer
// and logs the result. Stored subscriptions are immutable: readers may
// hold the old one.
func (e *Engine) changeSub(project, name, id string, change func(p *partition, qk string, now int64, next *storedSub) error) error {
	p := e.partition(project, name)
	qk := qkey(project, name)
	return p.do(func(now int64) error {
		cur := p.sub(qk, id, now)
		if cur == nil {
			return storage.ErrSubscriptionNotFound
		}
		next := *cur
		if err := change(p, qk, now, &next); err != nil {
			return err
		}
		p.emit(subRecord(recSubUpdate, project, name, now, &next))
		return nil
	})
}

// DeleteSubscription implements storage.SubscriptionStore.
func (e *Engine) DeleteSubscription(ctx context.Context, project, name, id string) error {
	p := e.partition(project, name)
	qk := qkey(project, name)
	return p.do(func(now int64) error {
		if p.sub(qk, id, now) != nil {
			p.emit(&record{Type: recSubDelete, Project: project, Queue: name, Time: now, SubID: id})
		}
		return nil
	})
}

// ConfirmSubscription implements storage.SubscriptionStore.
func (e *Engine) ConfirmSubscription(ctx context.Context, project, name, id string, confirmed bool) error {
	return e.changeSub(project, name, id, func(_ *partition, _ string, _ int64, next *storedSub) error {
		next.Confirmed = confirmed
		return nil
	})
}

// Metrics are cumulative counters for monitoring.
type Metrics struct {
	MessagesPosted, MessagesDeleted, MessagesClaimed uint64
	WALAppends, WALGroups, WALSyncs                  uint64
	WALSyncSeconds                                   float64
}

// Metrics returns the engine's counters.
func (e *Engine) Metrics() Metrics {
	m := Metrics{MessagesPosted: e.posted.Load(), MessagesDeleted: e.deleted.Load(), MessagesClaimed: e.claimed.Load()}
	for _, p := range e.parts {
		st := p.log.Stats()
		m.WALAppends += st.Appends
		m.WALGroups += st.Groups
		m.WALSyncs += st.Syncs
		m.WALSyncSeconds += st.SyncTotal.Seconds()
	}
	return m
}
