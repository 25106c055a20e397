// Package catalog is the SQL management store: pools (message stores),
// flavors (named groups of pools) and the catalogue that maps each
// (project, queue) to the pool that stores it. It runs on SQLite, MariaDB/
// MySQL and PostgreSQL through sqldb, whose typed errors it turns into the
// errors below; callers never see driver errors.
package catalog

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/zaqar-go/zaqar/sqldb"
	"github.com/zaqar-go/zaqar/storage"
)

//go:embed migrations
var migrations embed.FS

// Migrations are the versioned schema, one directory per dialect.
func Migrations() fs.FS {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return sub
}

var (
	ErrPoolNotFound   = errors.New("catalog: pool does not exist")
	ErrFlavorNotFound = errors.New("catalog: flavor does not exist")
	// ErrNotRegistered: the queue has no catalogue entry.
	ErrNotRegistered = errors.New("catalog: queue is not registered")
	// ErrPoolURIInUse: another pool already has this URI.
	ErrPoolURIInUse = errors.New("catalog: URI is used by another pool")
	// ErrFlavorNameTaken: another project owns a flavor of this name.
	ErrFlavorNameTaken = errors.New("catalog: flavor name is used by another project")
	// ErrUnavailable: the database cannot be reached.
	ErrUnavailable = errors.New("catalog: management store unavailable")
)

// MissingPoolError names a pool that does not exist; errors.Is matches
// ErrPoolNotFound.
type MissingPoolError struct{ Pool string }

func (e *MissingPoolError) Error() string        { return "Pool " + e.Pool + " does not exist" }
func (e *MissingPoolError) Is(target error) bool { return target == ErrPoolNotFound }

// PoolInUseError: the pool cannot be deleted.
type PoolInUseError struct {
	Pool   string
	Flavor string // set when it is the last pool of this flavor
	Queues bool   // set when queues are still registered to it
}

func (e *PoolInUseError) Error() string {
	if e.Flavor != "" {
		return fmt.Sprintf("catalog: pool %s is the last pool of flavor %s", e.Pool, e.Flavor)
	}
	return fmt.Sprintf("catalog: pool %s still holds queues", e.Pool)
}

// Pool is one message store.
type Pool struct {
	Name    string
	URI     string
	Weight  int64
	Flavor  string // "" = none
	Options map[string]any
}

// Flavor groups pools; its pool list is derived from the pools.
type Flavor struct {
	Name         string
	Project      string
	Capabilities map[string]any
	Pools        []string
}

// Catalog is the management store.
type Catalog struct {
	db *sqldb.DB
}

// Open connects, applies pending migrations and returns the catalogue.
func Open(ctx context.Context, uri string, o sqldb.Options) (*Catalog, error) {
	db, err := sqldb.Open(ctx, uri, o)
	if err != nil {
		return nil, err
	}
	if _, err := db.Migrate(ctx, Migrations()); err != nil {
		db.Close()
		return nil, err
	}
	return &Catalog{db: db}, nil
}

// DB exposes the connection pool (for health checks and tests).
func (c *Catalog) DB() *sqldb.DB { return c.db }

// Close closes the connection pool.
func (c *Catalog) Close() error { return c.db.Close() }

// Ping reports whether the database answers.
func (c *Catalog) Ping(ctx context.Context) error { return c.fail(c.db.PingContext(ctx)) }

// fail classifies err and folds connection loss into ErrUnavailable.
func (c *Catalog) fail(err error) error {
	err = c.db.Classify(err)
	var ce *sqldb.ConnectionError
	if errors.As(err, &ce) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

func (c *Catalog) exec(ctx context.Context, q sqlExecer, query string, args ...any) (int64, error) {
	res, err := q.ExecContext(ctx, c.db.Rebind(query), args...)
	if err != nil {
		return 0, c.fail(err)
	}
	n, err := res.RowsAffected()
	return n, c.fail(err)
}

type sqlExecer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func encodeJSON(m map[string]any) string { return storage.Metadata(m).Text() }

func decodeJSON(s string) map[string]any { return storage.ParseMetadata(s) }

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// ---- pools

// PutPool creates the pool or, when one of that name exists, overwrites
// it (Zaqar's PUT). ErrPoolURIInUse when another pool has the URI;
// ErrFlavorNotFound when the flavor does not exist.
func (c *Catalog) PutPool(ctx context.Context, p Pool) (created bool, err error) {
	_, err = c.GetPool(ctx, p.Name)
	switch {
	case errors.Is(err, ErrPoolNotFound):
		_, err = c.exec(ctx, c.db, "INSERT INTO pools (name, uri, weight, options, flavor) VALUES (?, ?, ?, ?, ?)",
			p.Name, p.URI, p.Weight, encodeJSON(p.Options), nullable(p.Flavor))
		if err == nil {
			return true, nil
		}
		// Another server created the same name first: overwrite it.
		if err := c.poolWriteError(err); errors.Is(err, ErrPoolURIInUse) || !isDuplicateName(err) {
			return false, err
		}
	case err != nil:
		return false, err
	}
	_, err = c.exec(ctx, c.db, "UPDATE pools SET uri = ?, weight = ?, options = ?, flavor = ? WHERE name = ?",
		p.URI, p.Weight, encodeJSON(p.Options), nullable(p.Flavor), p.Name)
	return false, c.poolWriteError(err)
}

func isDuplicateName(err error) bool {
	var dup *sqldb.DuplicateError
	return errors.As(err, &dup)
}

// poolWriteError maps constraint failures of a pool insert or update.
func (c *Catalog) poolWriteError(err error) error {
	var dup *sqldb.DuplicateError
	if errors.As(err, &dup) && dup.HasColumn("uri") {
		return fmt.Errorf("%w: %w", ErrPoolURIInUse, err)
	}
	var ref *sqldb.ReferenceError
	if errors.As(err, &ref) {
		return fmt.Errorf("%w: %w", ErrFlavorNotFound, err)
	}
	return err
}

// GetPool returns one pool.
func (c *Catalog) GetPool(ctx context.Context, name string) (Pool, error) {
	pools, err := c.queryPools(ctx, "WHERE name = ?", name)
	if err != nil {
		return Pool{}, err
	}
	if len(pools) == 0 {
		return Pool{}, &MissingPoolError{Pool: name}
	}
	return pools[0], nil
}

// ListPools returns up to limit pools with names after marker, by name.
func (c *Catalog) ListPools(ctx context.Context, marker string, limit int) ([]Pool, error) {
	return c.queryPools(ctx, "WHERE name > ? ORDER BY name LIMIT ?", marker, limit)
}

// PoolsOfFlavor returns the pools of a flavor ("" = pools without one).
func (c *Catalog) PoolsOfFlavor(ctx context.Context, flavor string) ([]Pool, error) {
	if flavor == "" {
		return c.queryPools(ctx, "WHERE flavor IS NULL ORDER BY name")
	}
	return c.queryPools(ctx, "WHERE flavor = ? ORDER BY name", flavor)
}

// AllPools returns every pool.
func (c *Catalog) AllPools(ctx context.Context) ([]Pool, error) {
	return c.queryPools(ctx, "ORDER BY name")
}

func (c *Catalog) queryPools(ctx context.Context, where string, args ...any) ([]Pool, error) {
	rows, err := c.db.QueryContext(ctx, c.db.Rebind("SELECT name, uri, weight, options, flavor FROM pools "+where), args...)
	if err != nil {
		return nil, c.fail(err)
	}
	defer rows.Close()
	var out []Pool
	for rows.Next() {
		var p Pool
		var opts string
		var flavor sql.NullString
		if err := rows.Scan(&p.Name, &p.URI, &p.Weight, &opts, &flavor); err != nil {
			return nil, c.fail(err)
		}
		p.Options, p.Flavor = decodeJSON(opts), flavor.String
		out = append(out, p)
	}
	return out, c.fail(rows.Err())
}

// PoolUpdate lists the fields to change; nil means unchanged.
type PoolUpdate struct {
	URI     *string
	Weight  *int64
	Flavor  *string // "" clears it
	Options map[string]any
}

// UpdatePool changes a pool. ErrPoolNotFound, ErrPoolURIInUse,
// ErrFlavorNotFound.
func (c *Catalog) UpdatePool(ctx context.Context, name string, u PoolUpdate) error {
	var sets []string
	var args []any
	if u.URI != nil {
		sets, args = append(sets, "uri = ?"), append(args, *u.URI)
	}
	if u.Weight != nil {
		sets, args = append(sets, "weight = ?"), append(args, *u.Weight)
	}
	if u.Flavor != nil {
		sets, args = append(sets, "flavor = ?"), append(args, nullable(*u.Flavor))
	}
	if u.Options != nil {
		sets, args = append(sets, "options = ?"), append(args, encodeJSON(u.Options))
	}
	if len(sets) == 0 {
		_, err := c.GetPool(ctx, name)
		return err
	}
	n, err := c.exec(ctx, c.db, "UPDATE pools SET "+strings.Join(sets, ", ")+" WHERE name = ?", append(args, name)...)
	if err != nil {
		return c.poolWriteError(err)
	}
	if n == 0 {
		// MySQL counts changed rows, not matched ones: tell "unchanged"
		// from "missing".
		if _, err := c.GetPool(ctx, name); err != nil {
			return err
		}
	}
	return nil
}

// DeletePool removes a pool. Deleting a missing pool is not an error. A
// pool that is the last of its flavor, or that still holds queues, is
// kept: *PoolInUseError.
func (c *Catalog) DeletePool(ctx context.Context, name string) error {
	p, err := c.GetPool(ctx, name)
	if errors.Is(err, ErrPoolNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if p.Flavor != "" {
		peers, err := c.PoolsOfFlavor(ctx, p.Flavor)
		if err != nil {
			return err
		}
		if len(peers) == 1 {
			return &PoolInUseError{Pool: name, Flavor: p.Flavor}
		}
	}
	_, err = c.exec(ctx, c.db, "DELETE FROM pools WHERE name = ?", name)
	var ref *sqldb.ReferenceError
	if errors.As(err, &ref) {
		return &PoolInUseError{Pool: name, Queues: true}
	}
	return err
}

// ---- flavors

// PutFlavor creates or replaces a flavor of the project and makes exactly
// the listed pools its members (pools left out lose the flavor).
// ErrPoolNotFound names a missing pool; ErrFlavorNameTaken when another
// project has the name.
func (c *Catalog) PutFlavor(ctx context.Context, f Flavor) (created bool, err error) {
	// Read, then insert or update: a failed INSERT would abort the whole
	// transaction on PostgreSQL. Two servers creating the same flavor at
	// once make one INSERT fail as a duplicate; that one retries and
	// updates.
	for attempt := 0; ; attempt++ {
		err = c.db.InTx(ctx, func(tx *sql.Tx) error {
			var owner string
			err := tx.QueryRowContext(ctx, c.db.Rebind("SELECT project FROM flavors WHERE name = ?"), f.Name).Scan(&owner)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				created = true
				if _, err := c.exec(ctx, tx, "INSERT INTO flavors (name, project, capabilities) VALUES (?, ?, ?)",
					f.Name, f.Project, encodeJSON(f.Capabilities)); err != nil {
					return err
				}
			case err != nil:
				return c.fail(err)
			case owner != f.Project:
				return ErrFlavorNameTaken
			default:
				created = false
				if _, err := c.exec(ctx, tx, "UPDATE flavors SET capabilities = ? WHERE name = ?",
					encodeJSON(f.Capabilities), f.Name); err != nil {
					return err
				}
			}
			return c.setMembers(ctx, tx, f.Name, f.Pools)
		})
		if attempt == 0 && created && isDuplicateName(err) {
			continue
		}
		return created, err
	}
}

func (c *Catalog) setMembers(ctx context.Context, tx *sql.Tx, flavor string, pools []string) error {
	if _, err := c.exec(ctx, tx, "UPDATE pools SET flavor = NULL WHERE flavor = ?", flavor); err != nil {
		return err
	}
	for _, p := range pools {
		n, err := c.exec(ctx, tx, "UPDATE pools SET flavor = ? WHERE name = ?", flavor, p)
		if err != nil {
			return err
		}
		if n == 0 {
			// MySQL reports 0 changed rows when the value is unchanged; a
			// duplicate name in the list lands here.
			var one int
			err := tx.QueryRowContext(ctx, c.db.Rebind("SELECT 1 FROM pools WHERE name = ?"), p).Scan(&one)
			if errors.Is(err, sql.ErrNoRows) {
				return &MissingPoolError{Pool: p}
			}
			if err != nil {
				return c.fail(err)
			}
		}
	}
	return nil
}

// GetFlavor returns a flavor of the project with its pools.
func (c *Catalog) GetFlavor(ctx context.Context, project, name string) (Flavor, error) {
	fl, err := c.queryFlavors(ctx, "WHERE name = ? AND project = ?", name, project)
	if err != nil {
		return Flavor{}, err
	}
	if len(fl) == 0 {
		return Flavor{}, ErrFlavorNotFound
	}
	return fl[0], nil
}

// ListFlavors returns up to limit flavors of the project after marker.
func (c *Catalog) ListFlavors(ctx context.Context, project, marker string, limit int) ([]Flavor, error) {
	return c.queryFlavors(ctx, "WHERE project = ? AND name > ? ORDER BY name LIMIT ?", project, marker, limit)
}

func (c *Catalog) queryFlavors(ctx context.Context, where string, args ...any) ([]Flavor, error) {
	rows, err := c.db.QueryContext(ctx, c.db.Rebind("SELECT name, project, capabilities FROM flavors "+where), args...)
	if err != nil {
		return nil, c.fail(err)
	}
	var out []Flavor
	for rows.Next() {
		var f Flavor
		var caps string
		if err := rows.Scan(&f.Name, &f.Project, &caps); err != nil {
			rows.Close()
			return nil, c.fail(err)
		}
		f.Capabilities = decodeJSON(caps)
		out = append(out, f)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, c.fail(err)
	}
	for i := range out {
		pools, err := c.PoolsOfFlavor(ctx, out[i].Name)
		if err != nil {
			return nil, err
		}
		out[i].Pools = make([]string, len(pools))
		for j, p := range pools {
			out[i].Pools[j] = p.Name
		}
	}
	return out, nil
}

// DeleteFlavor removes a flavor; its pools lose the flavor (ON DELETE SET
// NULL). A missing flavor is not an error.
func (c *Catalog) DeleteFlavor(ctx context.Context, project, name string) error {
	_, err := c.exec(ctx, c.db, "DELETE FROM flavors WHERE name = ? AND project = ?", name, project)
	return err
}

// ---- catalogue

// Lookup returns the pool a queue is registered to. ErrNotRegistered.
func (c *Catalog) Lookup(ctx context.Context, project, queue string) (string, error) {
	var pool string
	err := c.db.QueryRowContext(ctx, c.db.Rebind("SELECT pool FROM catalogue WHERE project = ? AND queue = ?"), project, queue).Scan(&pool)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotRegistered
	}
	return pool, c.fail(err)
}

// Register maps a queue to a pool. When the queue is already registered
// (another server won a race) it returns the existing pool.
func (c *Catalog) Register(ctx context.Context, project, queue, pool string) (string, error) {
	_, err := c.exec(ctx, c.db, "INSERT INTO catalogue (project, queue, pool) VALUES (?, ?, ?)", project, queue, pool)
	if err == nil {
		return pool, nil
	}
	if isDuplicateName(err) {
		return c.Lookup(ctx, project, queue)
	}
	var ref *sqldb.ReferenceError
	if errors.As(err, &ref) {
		return "", &MissingPoolError{Pool: pool}
	}
	return "", err
}

// Deregister removes a queue's entry; a missing one is not an error.
func (c *Catalog) Deregister(ctx context.Context, project, queue string) error {
	_, err := c.exec(ctx, c.db, "DELETE FROM catalogue WHERE project = ? AND queue = ?", project, queue)
	return err
}

// ListQueues returns up to limit registered storage names of the
// project after marker, by name: those of topics (storage.TopicKey) when
// topics is set, else those of queues.
func (c *Catalog) ListQueues(ctx context.Context, project, marker string, limit int, topics bool) ([]string, error) {
	kind := "NOT LIKE"
	if topics {
		kind = "LIKE"
	}
	rows, err := c.db.QueryContext(ctx, c.db.Rebind("SELECT queue FROM catalogue WHERE project = ? AND queue > ? AND queue "+kind+
		" ? ORDER BY queue LIMIT ?"), project, marker, storage.TopicPrefix+"%", limit)
	if err != nil {
		return nil, c.fail(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var q string
		if err := rows.Scan(&q); err != nil {
			return nil, c.fail(err)
		}
		out = append(out, q)
	}
	return out, c.fail(rows.Err())
}

// CountQueues counts the project's registered queues, topics left out.
func (c *Catalog) CountQueues(ctx context.Context, project string) (int64, error) {
	var n int64
	err := c.db.QueryRowContext(ctx, c.db.Rebind("SELECT COUNT(*) FROM catalogue WHERE project = ? AND queue NOT LIKE ?"),
		project, storage.TopicPrefix+"%").Scan(&n)
	return n, c.fail(err)
}

// QueueCountOfPool counts the queues registered to a pool.
func (c *Catalog) QueueCountOfPool(ctx context.Context, pool string) (int64, error) {
	var n int64
	err := c.db.QueryRowContext(ctx, c.db.Rebind("SELECT COUNT(*) FROM catalogue WHERE pool = ?"), pool).Scan(&n)
	return n, c.fail(err)
}
