// Package pooling spreads queues over many message stores ("pools"), as
// Zaqar's pooling mode does. The SQL catalogue maps each (project, queue)
// to a pool; a queue is registered when it is created (PUT, or lazily by a
// message or subscription POST), on a pool chosen by weighted random choice
// among the pools of its flavor (_flavor metadata), and every later request
// on it goes to that pool's store. Store implements storage.Store, so the
// HTTP layer does not know whether it talks to one store or many.
package pooling

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/zaqar-go/zaqar/catalog"
	"github.com/zaqar-go/zaqar/storage"
)

// DefaultCacheTTL is how long a queue's pool is remembered by default.
const DefaultCacheTTL = 10 * time.Second

// Options configure a pooled store.
type Options struct {
	Catalog *catalog.Catalog
	// Open opens the store of a pool URI with the pool's options.
	Open func(uri string, settings map[string]any) (storage.Store, error)
	// Capabilities lists what a pool URI's store offers (see
	// backend.Capabilities); pools of one flavor must match.
	Capabilities func(uri string) ([]string, error)
	// Default is the "virtual pool" ([pooling:catalog] enable_virtual_pool):
	// queues that no pool can take live there, unregistered. nil = none.
	Default storage.Store
	// CacheTTL is how long a queue's pool is remembered without asking the
	// catalogue (Zaqar: 10 s). Other servers see re-registrations after it.
	CacheTTL time.Duration
	Logger   *slog.Logger
	// pick chooses an index in [0, n) (tests make it deterministic).
	pick func(n int64) int64
}

// Store is a storage.Store over the pools of a catalogue.
type Store struct {
	o   Options
	cat *catalog.Catalog
	log *slog.Logger

	mu      sync.Mutex
	open    map[string]storage.Store // by URI
	closers []storage.Store

	cache sync.Map // cacheKey -> cached

	// unregistered wakes long-poll waiters of queues that had no pool
	// when they started waiting, once this server places the queue.
	unregistered storage.Signals
}

type cached struct {
	pool  string // "" for a queue living unregistered in the default store
	store storage.Store
	until time.Time
}

// New builds the pooled store. Pool stores are opened on first use.
func New(o Options) (*Store, error) {
	if o.Catalog == nil || o.Open == nil || o.Capabilities == nil {
		return nil, errors.New("pooling: Catalog, Open and Capabilities are required")
	}
	if o.CacheTTL == 0 {
		o.CacheTTL = DefaultCacheTTL
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.pick == nil {
		o.pick = rand.Int64N
	}
	return &Store{o: o, cat: o.Catalog, log: o.Logger, open: map[string]storage.Store{}}, nil
}

// errNotRegistered is internal: the queue has no pool (and no virtual
// pool holds it).
var errNotRegistered = errors.New("pooling: queue not registered")

func cacheKey(project, queue string) string { return project + "\x00" + queue }

// unavailable folds catalogue outages into the storage contract's 503.
func unavailable(err error) error {
	if errors.Is(err, catalog.ErrUnavailable) {
		return fmt.Errorf("%w: %v", storage.ErrUnavailable, err)
	}
	return err
}

// storeOf opens (once) the store of a pool.
func (s *Store) storeOf(ctx context.Context, poolName string) (storage.Store, error) {
	p, err := s.cat.GetPool(ctx, poolName)
	if err != nil {
		return nil, unavailable(err)
	}
	return s.storeFor(p)
}

func (s *Store) storeFor(p catalog.Pool) (storage.Store, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.open[p.URI]; ok {
		return st, nil
	}
	st, err := s.o.Open(p.URI, p.Options)
	if err != nil {
		return nil, fmt.Errorf("%w: pool %s: %v", storage.ErrUnavailable, p.Name, err)
	}
	s.open[p.URI] = st
	s.closers = append(s.closers, st)
	return st, nil
}

// resolve finds the store of a registered queue.
func (s *Store) resolve(ctx context.Context, project, queue string) (storage.Store, error) {
	key := cacheKey(project, queue)
	if v, ok := s.cache.Load(key); ok {
		c := v.(cached)
		if time.Now().Before(c.until) {
			return c.store, nil
		}
		s.cache.Delete(key)
	}
	pool, err := s.cat.Lookup(ctx, project, queue)
	if errors.Is(err, catalog.ErrNotRegistered) {
		if s.o.Default != nil {
			return s.o.Default, nil
		}
		return nil, errNotRegistered
	}
	if err != nil {
		return nil, unavailable(err)
	}
	st, err := s.storeOf(ctx, pool)
	if err != nil {
		return nil, err
	}
	s.cache.Store(key, cached{pool: pool, store: st, until: time.Now().Add(s.o.CacheTTL)})
	return st, nil
}

// resolveOrRegister finds the queue's store, registering the queue on a
// pool of the flavor first when it has none.
func (s *Store) resolveOrRegister(ctx context.Context, project, queue, flavor string) (storage.Store, error) {
	st, err := s.resolve(ctx, project, queue)
	switch {
	case errors.Is(err, errNotRegistered):
	case err != nil:
		return nil, err
	case st != s.o.Default:
		return st, nil
	default:
		// Unregistered, with a virtual pool: a queue living there stays.
		// Known residents are cached, so that a post to one costs neither
		// a catalogue lookup nor a second read of its metadata.
		key := cacheKey(project, queue)
		if v, ok := s.cache.Load(key); ok && v.(cached).pool == "" {
			return st, nil
		}
		if _, err := st.GetQueueMetadata(ctx, project, queue); err == nil {
			s.cacheResident(key)
			return st, nil
		}
	}
	st, err = s.register(ctx, project, queue, flavor)
	if err == nil && st == s.o.Default {
		s.cacheResident(cacheKey(project, queue))
	}
	if err == nil {
		s.unregistered.Wake(cacheKey(project, queue))
	}
	return st, err
}

// cacheResident remembers that an unregistered queue lives in the virtual
// pool (the default store).
func (s *Store) cacheResident(key string) {
	s.cache.Store(key, cached{store: s.o.Default, until: time.Now().Add(s.o.CacheTTL)})
}

// register picks a pool of the flavor ("" = pools without a flavor) by
// weight and records the queue in the catalogue.
func (s *Store) register(ctx context.Context, project, queue, flavor string) (storage.Store, error) {
	if flavor != "" {
		if _, err := s.cat.GetFlavor(ctx, project, flavor); err != nil {
			if errors.Is(err, catalog.ErrFlavorNotFound) {
				return nil, &storage.FlavorNotFoundError{Flavor: flavor}
			}
			return nil, unavailable(err)
		}
	}
	pools, err := s.cat.PoolsOfFlavor(ctx, flavor)
	if err != nil {
		return nil, unavailable(err)
	}
	chosen, ok := s.weighted(pools)
	if !ok {
		if s.o.Default != nil {
			return s.o.Default, nil
		}
		return nil, fmt.Errorf("%w: No pools registered", storage.ErrUnavailable)
	}
	pool, err := s.cat.Register(ctx, project, queue, chosen.Name)
	if err != nil {
		return nil, unavailable(err)
	}
	s.cache.Delete(cacheKey(project, queue))
	if pool != chosen.Name {
		// Another server registered the queue first: use its choice.
		return s.resolve(ctx, project, queue)
	}
	return s.storeFor(chosen)
}

// weighted is Zaqar's select.weighted: pools of weight <= 0 never win; a
// uniform draw in [0, sum) falls in one pool's interval.
func (s *Store) weighted(pools []catalog.Pool) (catalog.Pool, bool) {
	var sum int64
	for _, p := range pools {
		if p.Weight > 0 {
			sum += p.Weight
		}
	}
	if sum == 0 {
		return catalog.Pool{}, false
	}
	x := s.o.pick(sum)
	for _, p := range pools {
		if p.Weight <= 0 {
			continue
		}
		if x < p.Weight {
			return p, true
		}
		x -= p.Weight
	}
	return catalog.Pool{}, false
}

// forget drops a cached mapping (after a deregistration).
func (s *Store) forget(project, queue string) { s.cache.Delete(cacheKey(project, queue)) }

// Ping checks the catalogue; pools are checked by Health.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.cat.Ping(ctx); err != nil {
		return unavailable(err)
	}
	return nil
}

// Close closes every opened pool store (not the catalogue or the default
// store, which the caller owns).
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, st := range s.closers {
		errs = append(errs, st.Close())
	}
	s.closers, s.open = nil, map[string]storage.Store{}
	return errors.Join(errs...)
}
