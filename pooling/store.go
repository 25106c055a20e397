package pooling

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/zaqar-go/zaqar/catalog"
	"github.com/zaqar-go/zaqar/storage"
)

var _ storage.Store = (*Store)(nil)

// CreateQueue registers the queue on a pool of its _flavor and creates it
// there.
func (s *Store) CreateQueue(ctx context.Context, project, queue string, meta storage.Metadata) (bool, error) {
	flavor, _ := meta.String(storage.MetaFlavor)
	st, err := s.resolveOrRegister(ctx, project, queue, flavor)
	if err != nil {
		return false, err
	}
	return st.CreateQueue(ctx, project, queue, meta)
}

func (s *Store) GetQueueMetadata(ctx context.Context, project, queue string) (storage.Metadata, error) {
	st, err := s.resolve(ctx, project, queue)
	if errors.Is(err, errNotRegistered) {
		return nil, storage.ErrQueueNotFound
	}
	if err != nil {
		return nil, err
	}
	return st.GetQueueMetadata(ctx, project, queue)
}

// SetQueueMetadata replaces the metadata. A changed _flavor re-registers
// the queue on a pool of the new flavor, as Zaqar does: messages already
// stored stay in the old pool.
func (s *Store) SetQueueMetadata(ctx context.Context, project, queue string, meta storage.Metadata) error {
	st, err := s.resolve(ctx, project, queue)
	if errors.Is(err, errNotRegistered) {
		return storage.ErrQueueNotFound
	}
	if err != nil {
		return err
	}
	old, err := st.GetQueueMetadata(ctx, project, queue)
	if err != nil {
		return err
	}
	oldFlavor, _ := old.String(storage.MetaFlavor)
	newFlavor, _ := meta.String(storage.MetaFlavor)
	if oldFlavor == newFlavor {
		return st.SetQueueMetadata(ctx, project, queue, meta)
	}
	if newFlavor != "" {
		if _, err := s.cat.GetFlavor(ctx, project, newFlavor); errors.Is(err, catalog.ErrFlavorNotFound) {
			return &storage.FlavorNotFoundError{Flavor: newFlavor}
		} else if err != nil {
			return unavailable(err)
		}
	}
	if err := s.cat.Deregister(ctx, project, queue); err != nil {
		return unavailable(err)
	}
	s.forget(project, queue)
	next, err := s.register(ctx, project, queue, newFlavor)
	if err != nil {
		return err
	}
	if next == st {
		return st.SetQueueMetadata(ctx, project, queue, meta)
	}
	if _, err := next.CreateQueue(ctx, project, queue, meta); err != nil {
		return err
	}
	return next.SetQueueMetadata(ctx, project, queue, meta)
}

// DeleteQueue removes the catalogue entry first, then the data (Zaqar's
// order: a half-done delete leaves orphaned data, never a dangling entry).
// Subscriptions outlive their queue (storage contract), so a queue that
// still has some keeps its entry: they stay reachable on its pool, and a
// re-created queue lands there again.
func (s *Store) DeleteQueue(ctx context.Context, project, queue string) error {
	st, err := s.resolve(ctx, project, queue)
	if errors.Is(err, errNotRegistered) {
		return nil
	}
	if err != nil {
		return err
	}
	subs, err := st.ListSubscriptions(ctx, project, queue, "", 1)
	if err != nil {
		return err
	}
	if st != s.o.Default && len(subs) == 0 {
		if err := s.cat.Deregister(ctx, project, queue); err != nil {
			return unavailable(err)
		}
	}
	if st == s.o.Default || len(subs) == 0 {
		s.forget(project, queue)
	}
	return st.DeleteQueue(ctx, project, queue)
}

// ListQueues pages through the catalogue (one merged, name-ordered listing
// over all pools), reading each queue's metadata from its pool. Virtual-pool queues are merged in by name.
func (s *Store) ListQueues(ctx context.Context, project string, opts storage.ListQueuesOptions) ([]storage.QueueInfo, error) {
	var virtual []storage.QueueInfo
	if s.o.Default != nil {
		vo := opts
		vo.Detailed = true
		v, err := s.o.Default.ListQueues(ctx, project, vo)
		if err != nil {
			return nil, err
		}
		virtual = v
	}
	out, err := storage.PageQueues(opts,
		func(marker string, n int) ([]string, error) {
			names, err := s.cat.ListQueues(ctx, project, marker, n, opts.Topics)
			return names, unavailable(err)
		},
		func(names []string) ([]storage.Metadata, error) {
			// Read the metadata even for a plain listing: an entry kept
			// for subscriptions may outlive its queue.
			metas := make([]storage.Metadata, len(names))
			for i, name := range names {
				meta, err := s.GetQueueMetadata(ctx, project, name)
				if err != nil && !errors.Is(err, storage.ErrQueueNotFound) {
					return nil, err
				}
				metas[i] = meta
			}
			return metas, nil
		})
	if err != nil {
		return nil, err
	}
	if len(virtual) > 0 {
		out = mergeByName(out, virtual, opts)
	}
	return out, nil
}

func mergeByName(a, b []storage.QueueInfo, opts storage.ListQueuesOptions) []storage.QueueInfo {
	all := append(a, b...)
	slices.SortFunc(all, func(x, y storage.QueueInfo) int { return strings.Compare(x.Name, y.Name) })
	all = slices.CompactFunc(all, func(x, y storage.QueueInfo) bool { return x.Name == y.Name })
	if len(all) > opts.Limit {
		all = all[:opts.Limit]
	}
	if !opts.Detailed {
		for i := range all {
			all[i].Metadata = nil
		}
	}
	return all
}

// CountQueues counts catalogue entries: a deleted queue whose
// subscriptions keep its entry is still counted.
func (s *Store) CountQueues(ctx context.Context, project string) (int64, error) {
	n, err := s.cat.CountQueues(ctx, project)
	if err != nil {
		return 0, unavailable(err)
	}
	if s.o.Default != nil {
		m, err := s.o.Default.CountQueues(ctx, project)
		if err != nil {
			return 0, err
		}
		n += m
	}
	return n, nil
}

func (s *Store) QueueStats(ctx context.Context, project, queue string) (storage.QueueStats, error) {
	st, err := s.resolve(ctx, project, queue)
	if errors.Is(err, errNotRegistered) {
		return storage.QueueStats{Partition: -1}, storage.ErrQueueNotFound
	}
	if err != nil {
		return storage.QueueStats{Partition: -1}, err
	}
	return st.QueueStats(ctx, project, queue)
}

func (s *Store) PurgeQueue(ctx context.Context, project, queue string, opts storage.PurgeOptions) error {
	st, err := s.resolve(ctx, project, queue)
	if errors.Is(err, errNotRegistered) {
		return storage.ErrQueueNotFound
	}
	if err != nil {
		return err
	}
	return st.PurgeQueue(ctx, project, queue, opts)
}

// PostMessages registers the queue lazily (no flavor), as Zaqar does.
func (s *Store) PostMessages(ctx context.Context, project, queue, clientID string, msgs []storage.NewMessage) ([]string, error) {
	st, err := s.resolveOrRegister(ctx, project, queue, "")
	if err != nil {
		return nil, err
	}
	return st.PostMessages(ctx, project, queue, clientID, msgs)
}

// PostPlaintext implements storage.PlaintextGuard through the queue's
// pool; a pool store without the guard is asked for the metadata first.
func (s *Store) PostPlaintext(ctx context.Context, project, queue, clientID string, msgs []storage.NewMessage) ([]string, error) {
	st, err := s.resolveOrRegister(ctx, project, queue, "")
	if err != nil {
		return nil, err
	}
	if g, ok := st.(storage.PlaintextGuard); ok {
		return g.PostPlaintext(ctx, project, queue, clientID, msgs)
	}
	meta, err := st.GetQueueMetadata(ctx, project, queue)
	if err != nil && !errors.Is(err, storage.ErrQueueNotFound) {
		return nil, err
	}
	if storage.EncryptionEnabled(meta) {
		return nil, storage.ErrEncryptionRequired
	}
	return st.PostMessages(ctx, project, queue, clientID, msgs)
}

// routed runs op on the queue's store; an unregistered queue answers as
// a missing queue does (missing), without a catalogue write.
func routed[T any](s *Store, ctx context.Context, project, queue string, missing func() (T, error), op func(storage.Store) (T, error)) (T, error) {
	st, err := s.resolve(ctx, project, queue)
	if errors.Is(err, errNotRegistered) {
		return missing()
	}
	if err != nil {
		var zero T
		return zero, err
	}
	return op(st)
}

func none[T any](err error) func() (T, error) {
	return func() (T, error) { var zero T; return zero, err }
}

func (s *Store) ListMessages(ctx context.Context, project, queue string, opts storage.ListMessagesOptions) ([]storage.Message, string, error) {
	type page struct {
		msgs   []storage.Message
		marker string
	}
	p, err := routed(s, ctx, project, queue, none[page](nil), func(st storage.Store) (page, error) {
		m, mk, err := st.ListMessages(ctx, project, queue, opts)
		return page{m, mk}, err
	})
	return p.msgs, p.marker, err
}

func (s *Store) GetMessage(ctx context.Context, project, queue, id string) (storage.Message, error) {
	return routed(s, ctx, project, queue, none[storage.Message](storage.ErrQueueNotFound), func(st storage.Store) (storage.Message, error) {
		return st.GetMessage(ctx, project, queue, id)
	})
}

func (s *Store) GetMessages(ctx context.Context, project, queue string, ids []string) ([]storage.Message, error) {
	return routed(s, ctx, project, queue, none[[]storage.Message](storage.ErrQueueNotFound), func(st storage.Store) ([]storage.Message, error) {
		return st.GetMessages(ctx, project, queue, ids)
	})
}

func (s *Store) DeleteMessage(ctx context.Context, project, queue, id, claimID string) error {
	_, err := routed(s, ctx, project, queue, none[struct{}](nil), func(st storage.Store) (struct{}, error) {
		return struct{}{}, st.DeleteMessage(ctx, project, queue, id, claimID)
	})
	return err
}

func (s *Store) DeleteMessages(ctx context.Context, project, queue string, ids, claimIDs []string) error {
	_, err := routed(s, ctx, project, queue, none[struct{}](nil), func(st storage.Store) (struct{}, error) {
		return struct{}{}, st.DeleteMessages(ctx, project, queue, ids, claimIDs)
	})
	return err
}

func (s *Store) PopMessages(ctx context.Context, project, queue string, n int) ([]storage.Message, error) {
	return routed(s, ctx, project, queue, none[[]storage.Message](nil), func(st storage.Store) ([]storage.Message, error) {
		return st.PopMessages(ctx, project, queue, n)
	})
}

// CreateClaim makes sure a dead letter queue the claim may move messages
// into is registered on the same pool, where the store creates it.
func (s *Store) CreateClaim(ctx context.Context, project, queue string, opts storage.ClaimOptions) (storage.Claim, error) {
	return routed(s, ctx, project, queue, none[storage.Claim](nil), func(st storage.Store) (storage.Claim, error) {
		if err := s.registerDeadLetterQueue(ctx, st, project, queue); err != nil {
			return storage.Claim{}, err
		}
		return st.CreateClaim(ctx, project, queue, opts)
	})
}

func (s *Store) registerDeadLetterQueue(ctx context.Context, st storage.Store, project, queue string) error {
	if st == s.o.Default {
		return nil
	}
	meta, err := st.GetQueueMetadata(ctx, project, queue)
	if err != nil {
		return nil // the claim itself reports a vanished queue
	}
	dl, ok := storage.DeadLetterOf(meta)
	if !ok {
		return nil
	}
	dlq := dl.Queue
	if _, err := s.resolve(ctx, project, dlq); !errors.Is(err, errNotRegistered) {
		return nil
	}
	pool, err := s.cat.Lookup(ctx, project, queue)
	if err != nil {
		return unavailable(err)
	}
	if _, err := s.cat.Register(ctx, project, dlq, pool); err != nil {
		return unavailable(err)
	}
	return nil
}

func (s *Store) GetClaim(ctx context.Context, project, queue, claimID string) (storage.Claim, error) {
	return routed(s, ctx, project, queue, none[storage.Claim](storage.ErrClaimNotFound), func(st storage.Store) (storage.Claim, error) {
		return st.GetClaim(ctx, project, queue, claimID)
	})
}

func (s *Store) UpdateClaim(ctx context.Context, project, queue, claimID string, ttl, grace int64) error {
	_, err := routed(s, ctx, project, queue, none[struct{}](storage.ErrClaimNotFound), func(st storage.Store) (struct{}, error) {
		return struct{}{}, st.UpdateClaim(ctx, project, queue, claimID, ttl, grace)
	})
	return err
}

func (s *Store) DeleteClaim(ctx context.Context, project, queue, claimID string) error {
	_, err := routed(s, ctx, project, queue, none[struct{}](nil), func(st storage.Store) (struct{}, error) {
		return struct{}{}, st.DeleteClaim(ctx, project, queue, claimID)
	})
	return err
}

// CreateSubscription registers the queue lazily, as PostMessages does.
func (s *Store) CreateSubscription(ctx context.Context, project, queue string, ns storage.NewSubscription) (storage.Subscription, bool, error) {
	st, err := s.resolveOrRegister(ctx, project, queue, "")
	if err != nil {
		return storage.Subscription{}, false, err
	}
	return st.CreateSubscription(ctx, project, queue, ns)
}

func (s *Store) GetSubscription(ctx context.Context, project, queue, id string) (storage.Subscription, error) {
	return routed(s, ctx, project, queue, none[storage.Subscription](storage.ErrSubscriptionNotFound), func(st storage.Store) (storage.Subscription, error) {
		return st.GetSubscription(ctx, project, queue, id)
	})
}

func (s *Store) ListSubscriptions(ctx context.Context, project, queue, marker string, limit int) ([]storage.Subscription, error) {
	return routed(s, ctx, project, queue, none[[]storage.Subscription](nil), func(st storage.Store) ([]storage.Subscription, error) {
		return st.ListSubscriptions(ctx, project, queue, marker, limit)
	})
}

// HasSubscriptions implements storage.SubscriptionPresence for the
// queue's pool (an unregistered queue has none).
func (s *Store) HasSubscriptions(ctx context.Context, project, queue string) (bool, error) {
	return routed(s, ctx, project, queue, none[bool](nil), func(st storage.Store) (bool, error) {
		return storage.HasSubscriptions(ctx, st, project, queue)
	})
}

func (s *Store) UpdateSubscription(ctx context.Context, project, queue, id string, u storage.SubscriptionUpdate) error {
	_, err := routed(s, ctx, project, queue, none[struct{}](storage.ErrSubscriptionNotFound), func(st storage.Store) (struct{}, error) {
		return struct{}{}, st.UpdateSubscription(ctx, project, queue, id, u)
	})
	return err
}

func (s *Store) DeleteSubscription(ctx context.Context, project, queue, id string) error {
	_, err := routed(s, ctx, project, queue, none[struct{}](nil), func(st storage.Store) (struct{}, error) {
		return struct{}{}, st.DeleteSubscription(ctx, project, queue, id)
	})
	return err
}

func (s *Store) ConfirmSubscription(ctx context.Context, project, queue, id string, confirmed bool) error {
	_, err := routed(s, ctx, project, queue, none[struct{}](storage.ErrSubscriptionNotFound), func(st storage.Store) (struct{}, error) {
		return struct{}{}, st.ConfirmSubscription(ctx, project, queue, id, confirmed)
	})
	return err
}
