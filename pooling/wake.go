package pooling

import (
	"context"
	"errors"

	"github.com/zaqar-go/zaqar/storage"
)

var _ storage.Waker = (*Store)(nil)

// Changes implements storage.Waker by forwarding to the queue's pool,
// resolved as every other operation is (so a queue's waiters follow it
// to a new pool after a re-registration once they wait anew). A queue
// that has no pool yet, or that does not live in the virtual pool, is
// watched here: a post or create through this server that places it wakes
// its waiters, which then wait on its pool; a placement by another server
// is seen at the waiter's deadline. A pool whose store cannot wake, or a
// catalogue that does not answer, gives no channel: waiters answer at
// their deadline.
func (s *Store) Changes(project, queue string) (<-chan struct{}, func()) {
	ctx := context.Background()
	st, err := s.resolve(ctx, project, queue)
	switch {
	case errors.Is(err, errNotRegistered):
		return s.unregistered.Watch(cacheKey(project, queue))
	case err != nil:
		return storage.NoChanges()
	case st == s.o.Default && !s.resident(ctx, project, queue):
		// Not in the catalogue and not (yet) in the virtual pool: the
		// post that creates it may place it on a pool.
		return s.unregistered.Watch(cacheKey(project, queue))
	}
	if ch, done, ok := storage.Changes(st, project, queue); ok {
		return ch, done
	}
	return storage.NoChanges()
}

// resident reports whether an unregistered queue lives in the virtual
// pool (cached as resolveOrRegister caches it).
func (s *Store) resident(ctx context.Context, project, queue string) bool {
	key := cacheKey(project, queue)
	if v, ok := s.cache.Load(key); ok && v.(cached).pool == "" {
		return true
	}
	if _, err := s.o.Default.GetQueueMetadata(ctx, project, queue); err == nil {
		s.cacheResident(key)
		return true
	}
	return false
}
