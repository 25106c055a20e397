package pooling

import (
	"context"
	"errors"
	"slices"

	"github.com/zaqar-go/zaqar/catalog"
)

// CannotConnectError: a pool URI's store could not be opened or pinged.
type CannotConnectError struct {
	URI string
	Err error
}

func (e *CannotConnectError) Error() string { return "cannot connect to " + e.URI }
func (e *CannotConnectError) Unwrap() error { return e.Err }

var (
	// ErrCapabilitiesMismatch: a flavor's pools would offer different
	// features.
	ErrCapabilitiesMismatch = errors.New("pooling: pool capabilities differ from the flavor's other pools")
	// ErrEmptyPoolList: a flavor needs at least one pool.
	ErrEmptyPoolList = errors.New("pooling: empty pool list")
)

// connect opens the store of a pool URI and checks that it answers, as
// Zaqar's can_connect does before a pool is saved.
func (s *Store) connect(ctx context.Context, p catalog.Pool) error {
	if _, err := s.o.Capabilities(p.URI); err != nil {
		return &CannotConnectError{URI: p.URI, Err: err}
	}
	st, err := s.storeFor(p)
	if err != nil {
		return &CannotConnectError{URI: p.URI, Err: err}
	}
	if err := st.Ping(ctx); err != nil {
		return &CannotConnectError{URI: p.URI, Err: err}
	}
	return nil
}

// sameCapabilities checks uri against the other pools of flavor.
func (s *Store) sameCapabilities(ctx context.Context, flavor, self, uri string) error {
	if flavor == "" {
		return nil
	}
	want, err := s.o.Capabilities(uri)
	if err != nil {
		return err
	}
	peers, err := s.cat.PoolsOfFlavor(ctx, flavor)
	if err != nil {
		return unavailable(err)
	}
	for _, p := range peers {
		if p.Name == self {
			continue
		}
		have, err := s.o.Capabilities(p.URI)
		if err != nil || !slices.Equal(have, want) {
			return ErrCapabilitiesMismatch
		}
	}
	return nil
}

// PutPool creates or overwrites a pool after checking that its store
// answers and matches its flavor's other pools.
func (s *Store) PutPool(ctx context.Context, p catalog.Pool) (bool, error) {
	if err := s.connect(ctx, p); err != nil {
		return false, err
	}
	if err := s.sameCapabilities(ctx, p.Flavor, p.Name, p.URI); err != nil {
		return false, err
	}
	created, err := s.cat.PutPool(ctx, p)
	if err == nil && !created {
		s.forgetAll()
	}
	return created, unavailable(err)
}

// GetPool returns one pool.
func (s *Store) GetPool(ctx context.Context, name string) (catalog.Pool, error) {
	p, err := s.cat.GetPool(ctx, name)
	return p, unavailable(err)
}

// ListPools returns a page of pools.
func (s *Store) ListPools(ctx context.Context, marker string, limit int) ([]catalog.Pool, error) {
	p, err := s.cat.ListPools(ctx, marker, limit)
	return p, unavailable(err)
}

// UpdatePool changes a pool and returns it.
func (s *Store) UpdatePool(ctx context.Context, name string, u catalog.PoolUpdate) (catalog.Pool, error) {
	cur, err := s.cat.GetPool(ctx, name)
	if err != nil {
		return catalog.Pool{}, unavailable(err)
	}
	next := cur
	if u.URI != nil {
		next.URI = *u.URI
		if err := s.connect(ctx, next); err != nil {
			return catalog.Pool{}, err
		}
	}
	if u.Flavor != nil {
		next.Flavor = *u.Flavor
	}
	if err := s.sameCapabilities(ctx, next.Flavor, name, next.URI); err != nil {
		return catalog.Pool{}, err
	}
	if err := s.cat.UpdatePool(ctx, name, u); err != nil {
		return catalog.Pool{}, unavailable(err)
	}
	if u.URI != nil {
		s.forgetAll()
	}
	p, err := s.cat.GetPool(ctx, name)
	return p, unavailable(err)
}

// DeletePool removes a pool that holds no queues and is not the last of
// its flavor (*catalog.PoolInUseError otherwise).
func (s *Store) DeletePool(ctx context.Context, name string) error {
	return unavailable(s.cat.DeletePool(ctx, name))
}

// PutFlavor creates or replaces a flavor with exactly these pools, which
// must exist and offer the same capabilities.
func (s *Store) PutFlavor(ctx context.Context, f catalog.Flavor) (bool, error) {
	if len(f.Pools) == 0 {
		return false, ErrEmptyPoolList
	}
	var caps []string
	for i, name := range f.Pools {
		p, err := s.cat.GetPool(ctx, name)
		if err != nil {
			return false, unavailable(err)
		}
		c, err := s.o.Capabilities(p.URI)
		if err != nil {
			return false, err
		}
		if i == 0 {
			caps = c
		} else if !slices.Equal(c, caps) {
			return false, ErrCapabilitiesMismatch
		}
	}
	created, err := s.cat.PutFlavor(ctx, f)
	return created, unavailable(err)
}

// UpdateFlavor replaces an existing flavor's pool list.
func (s *Store) UpdateFlavor(ctx context.Context, project, name string, pools []string) (catalog.Flavor, error) {
	f, err := s.cat.GetFlavor(ctx, project, name)
	if err != nil {
		return catalog.Flavor{}, unavailable(err)
	}
	f.Pools = pools
	if _, err := s.PutFlavor(ctx, f); err != nil {
		return catalog.Flavor{}, err
	}
	return s.GetFlavor(ctx, project, name)
}

// GetFlavor returns a flavor of the project.
func (s *Store) GetFlavor(ctx context.Context, project, name string) (catalog.Flavor, error) {
	f, err := s.cat.GetFlavor(ctx, project, name)
	return f, unavailable(err)
}

// ListFlavors returns a page of the project's flavors.
func (s *Store) ListFlavors(ctx context.Context, project, marker string, limit int) ([]catalog.Flavor, error) {
	f, err := s.cat.ListFlavors(ctx, project, marker, limit)
	return f, unavailable(err)
}

// DeleteFlavor removes a flavor; its pools keep serving without one.
func (s *Store) DeleteFlavor(ctx context.Context, project, name string) error {
	return unavailable(s.cat.DeleteFlavor(ctx, project, name))
}

// FlavorCapabilities names what a flavor's pools offer (those of its first
// pool: all must match).
func (s *Store) FlavorCapabilities(ctx context.Context, f catalog.Flavor) []string {
	if len(f.Pools) == 0 {
		return []string{}
	}
	p, err := s.cat.GetPool(ctx, f.Pools[0])
	if err != nil {
		return []string{}
	}
	caps, err := s.o.Capabilities(p.URI)
	if err != nil {
		return []string{}
	}
	return caps
}

// PoolHealth reports, for Zaqar's pooled /v2/health, whether the catalogue
// and each pool's store answer.
func (s *Store) PoolHealth(ctx context.Context) (catalogReachable bool, pools map[string]bool) {
	pools = map[string]bool{}
	all, err := s.cat.AllPools(ctx)
	if err != nil {
		return false, pools
	}
	for _, p := range all {
		st, err := s.storeFor(p)
		pools[p.Name] = err == nil && st.Ping(ctx) == nil
	}
	return true, pools
}

func (s *Store) forgetAll() {
	s.cache.Range(func(k, _ any) bool { s.cache.Delete(k); return true })
}
