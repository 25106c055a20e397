package engine

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/zaqar-go/zaqar/storage"
)

// existing returns the queue if it exists. Safe from any goroutine.
func (e *Engine) existing(project, name string) (*partition, *queue) {
	p := e.partition(project, name)
	q := p.queue(qkey(project, name))
	if q == nil || q.meta.Load() == nil {
		return p, nil
	}
	return p, q
}

// CreateQueue implements storage.QueueStore.
func (e *Engine) CreateQueue(ctx context.Context, project, name string, meta storage.Metadata) (bool, error) {
	p := e.partition(project, name)
	created := false
	err := p.do(func(now int64) error {
		if q := p.queue(qkey(project, name)); q != nil && q.exists {
			return nil
		}
		created = true
		p.emit(&record{Type: recQueueCreate, Project: project, Queue: name, Time: now, Meta: encodeMeta(meta)})
		return nil
	})
	return created, err
}

// GetQueueMetadata implements storage.QueueStore.
func (e *Engine) GetQueueMetadata(ctx context.Context, project, name string) (storage.Metadata, error) {
	if err := e.usable(); err != nil {
		return nil, err
	}
	_, q := e.existing(project, name)
	if q == nil {
		return nil, storage.ErrQueueNotFound
	}
	m := q.meta.Load()
	if m == nil {
		return nil, storage.ErrQueueNotFound
	}
	return m.Clone(), nil
}

// SetQueueMetadata implements storage.QueueStore.
func (e *Engine) SetQueueMetadata(ctx context.Context, project, name string, meta storage.Metadata) error {
	p := e.partition(project, name)
	return p.do(func(now int64) error {
		if q := p.queue(qkey(project, name)); q == nil || !q.exists {
			return storage.ErrQueueNotFound
		}
		p.emit(&record{Type: recQueueMeta, Project: project, Queue: name, Time: now, Meta: encodeMeta(meta)})
		return nil
	})
}

// DeleteQueue implements storage.QueueStore.
func (e *Engine) DeleteQueue(ctx context.Context, project, name string) error {
	p := e.partition(project, name)
	return p.do(func(now int64) error {
		q := p.queue(qkey(project, name))
		if q == nil || (!q.exists && len(q.entries) == 0 && !q.gap.open()) {
			return nil
		}
		p.emit(&record{Type: recQueueDelete, Project: project, Queue: name, Time: now})
		return nil
	})
}

// ListQueues implements storage.QueueStore. It walks the queues of every
// partition, so it costs O(queues on the node); queue listing is not a
// hot path.
func (e *Engine) ListQueues(ctx context.Context, project string, opts storage.ListQueuesOptions) ([]storage.QueueInfo, error) {
	if err := e.usable(); err != nil {
		return nil, err
	}
	var names []*queue
	marker := opts.ListMarker()
	for _, p := range e.parts {
		p.queues.Range(func(_, v any) bool {
			q := v.(*queue)
			if q.project != project || q.name <= marker || !opts.KindMatches(q.name) || q.meta.Load() == nil {
				return true
			}
			if opts.Name != "" && !strings.Contains(storage.PublicName(q.name), opts.Name) {
				return true
			}
			if len(opts.Filter) > 0 && !q.meta.Load().Matches(opts.Filter) {
				return true
			}
			names = append(names, q)
			return true
		})
	}
	sort.Slice(names, func(i, j int) bool { return names[i].name < names[j].name })
	if opts.Limit > 0 && len(names) > opts.Limit {
		names = names[:opts.Limit]
	}
	out := make([]storage.QueueInfo, len(names))
	for i, q := range names {
		out[i].Name = q.name
		if opts.Detailed {
			if m := q.meta.Load(); m != nil {
				out[i].Metadata = m.Clone()
			} else {
				out[i].Metadata = storage.Metadata{}
			}
		}
	}
	return out, nil
}

// CountQueues implements storage.QueueStore.
func (e *Engine) CountQueues(ctx context.Context, project string) (int64, error) {
	if err := e.usable(); err != nil {
		return 0, err
	}
	var n int64
	for _, p := range e.parts {
		p.queues.Range(func(_, v any) bool {
			q := v.(*queue)
			if q.project == project && q.meta.Load() != nil && !storage.IsTopicKey(q.name) {
				n++
			}
			return true
		})
	}
	return n, nil
}

// QueueStats implements storage.QueueStore.
func (e *Engine) QueueStats(ctx context.Context, project, name string) (storage.QueueStats, error) {
	if err := e.usable(); err != nil {
		return storage.QueueStats{}, err
	}
	p, q := e.existing(project, name)
	if q == nil {
		return storage.QueueStats{Partition: p.id}, storage.ErrQueueNotFound
	}
	now := e.now()
	st := storage.QueueStats{Partition: p.id}
	v := q.view()
	var oldest, newest *entry
	for _, en := range v.entries {
		if !en.visible(now) {
			continue
		}
		st.Total++
		if en.liveClaim(now) != nil {
			st.Claimed++
		} else if en.delayUntil > now {
			st.Delayed++
		}
		if oldest == nil {
			oldest = en
		}
		newest = en
	}
	if v.gap.open() {
		// Messages of the gap are counted, not read: they hold no claims.
		st.Total += v.gap.total(now)
		st.Delayed += v.gap.delays.pending(now)
		qk := qkey(project, name)
		visible := func(found **entry) func(*entry) bool {
			return func(en *entry) bool {
				if v.gap.skips(en.seq) || !en.visible(now) {
					return true
				}
				*found = en
				return false
			}
		}
		if oldest == nil || oldest.seq >= v.gap.to {
			var first *entry
			if err := p.scanGap(qk, v.gap.from, v.gap.to, false, visible(&first)); err != nil {
				return st, fmt.Errorf("%w: %v", storage.ErrUnavailable, err)
			}
			if first != nil {
				oldest = first
			}
		}
		if newest == nil || newest.seq < v.gap.from {
			var last *entry
			if err := p.scanGap(qk, v.gap.from, v.gap.to, true, visible(&last)); err != nil {
				return st, fmt.Errorf("%w: %v", storage.ErrUnavailable, err)
			}
			if last != nil {
				newest = last
			}
		}
	}
	st.Free = st.Total - st.Claimed
	if oldest != nil {
		st.Oldest = &storage.MessageStat{ID: messageID(oldest.seq, oldest.nonce), Created: time.Unix(0, oldest.created)}
		st.Newest = &storage.MessageStat{ID: messageID(newest.seq, newest.nonce), Created: time.Unix(0, newest.created)}
	}
	return st, nil
}

// PurgeQueue implements storage.QueueStore.
func (e *Engine) PurgeQueue(ctx context.Context, project, name string, opts storage.PurgeOptions) error {
	p := e.partition(project, name)
	var flag uint64
	if opts.Messages {
		flag |= purgeMessages
	}
	if opts.Subscriptions {
		flag |= purgeSubscriptions
	}
	if flag == 0 {
		return nil
	}
	return p.do(func(now int64) error {
		if q := p.queue(qkey(project, name)); q == nil {
			return nil
		}
		p.emit(&record{Type: recPurge, Project: project, Queue: name, Time: now, Flag: flag})
		return nil
	})
}

func (e *Engine) usable() error {
	if e.closed.Load() {
		return errClosed
	}
	return nil
}
