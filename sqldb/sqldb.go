// Package sqldb is the one SQL engine layer every SQL user of the server
// goes through. It reproduces the oslo.db behaviours Zaqar's SQL management
// store relies on, on database/sql:
//
//   - SQLAlchemy-style URIs (sqlite:///path, mysql+pymysql://..., postgresql://...)
//     mapped to pure-Go drivers (modernc.org/sqlite, go-sql-driver/mysql, pgx);
//   - SQLite: foreign keys and WAL journal on every pooled connection;
//   - pessimistic liveness: a pooled connection is checked before a statement
//     runs and a dead one is discarded and replaced, so a database restart or
//     an idle timeout never reaches a caller as an error;
//   - driver errors classified into typed errors (DuplicateError,
//     ReferenceError, DeadlockError, ConnectionError) for errors.As;
//   - MySQL/MariaDB: strict session sql_mode, utf8mb4, warnings for a
//     non-strict mode and for unsafe DSN settings;
//   - versioned schema migrations (goose) applied at start.
package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// Dialect names a supported database family.
type Dialect string

const (
	SQLite   Dialect = "sqlite"
	MySQL    Dialect = "mysql"
	Postgres Dialect = "postgres"
)

// Options tune the connection pool and the MySQL session.
type Options struct {
	Logger *slog.Logger
	// MySQLSQLMode is set as the session sql_mode on every MySQL/MariaDB
	// connection (oslo.db's mysql_sql_mode). Empty leaves the server's
	// mode alone, and a non-strict server mode is then warned about.
	MySQLSQLMode string
	// MaxOpenConns bounds the pool (SQLite in memory always uses one).
	MaxOpenConns int
	// ConnMaxIdleTime closes connections idle for longer (0 = never); keep
	// it below MySQL's wait_timeout.
	ConnMaxIdleTime time.Duration
}

// DefaultOptions are oslo.db's defaults where it has one.
func DefaultOptions() Options {
	return Options{MySQLSQLMode: "TRADITIONAL", MaxOpenConns: 10, ConnMaxIdleTime: time.Hour}
}

// DB is a connection pool for one database with its dialect.
type DB struct {
	*sql.DB
	Dialect Dialect
	log     *slog.Logger
}

// Open connects to the database named by an SQLAlchemy-style URI and checks
// that it answers.
func Open(ctx context.Context, uri string, o Options) (*DB, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	t, err := parseURI(uri, o)
	if err != nil {
		return nil, err
	}
	for _, w := range t.warnings {
		o.Logger.Warn("management store URI: " + w)
	}
	db := &DB{DB: sql.OpenDB(t.connector), Dialect: t.dialect, log: o.Logger}
	maxOpen := o.MaxOpenConns
	if maxOpen <= 0 {
		maxOpen = DefaultOptions().MaxOpenConns
	}
	if t.singleConn {
		// Each connection to ":memory:" would be a separate empty database.
		maxOpen = 1
		db.SetConnMaxIdleTime(0)
		db.SetConnMaxLifetime(0)
	} else {
		db.SetConnMaxIdleTime(o.ConnMaxIdleTime)
	}
	db.SetMaxOpenConns(maxOpen)
	db.SetMaxIdleConns(maxOpen)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqldb: connect to %s: %w", Redact(uri), db.Classify(err))
	}
	if db.Dialect == MySQL {
		if err := db.checkSQLMode(ctx); err != nil {
			db.Close()
			return nil, err
		}
	}
	return db, nil
}

// checkSQLMode warns, as oslo.db does, when the session runs without strict
// mode: MySQL then silently truncates or coerces bad values instead of
// failing the statement.
func (db *DB) checkSQLMode(ctx context.Context) error {
	var mode string
	if err := db.QueryRowContext(ctx, "SELECT @@SESSION.sql_mode").Scan(&mode); err != nil {
		return fmt.Errorf("sqldb: read sql_mode: %w", db.Classify(err))
	}
	upper := strings.ToUpper(mode)
	if !strings.Contains(upper, "TRADITIONAL") && !strings.Contains(upper, "STRICT_ALL_TABLES") {
		db.log.Warn("MySQL SQL mode is not strict; consider enabling TRADITIONAL or STRICT_ALL_TABLES",
			"sql_mode", mode)
	}
	return nil
}

// Rebind rewrites '?' placeholders for the dialect ($1, $2, ... for
// PostgreSQL). Queries in this project never contain a literal '?'.
func (db *DB) Rebind(query string) string {
	if db.Dialect != Postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

// migrationsFor picks the migrations of the dialect: the directory named
// after it (sqlite/, mysql/, postgres/) when present, else default/.
func (db *DB) migrationsFor(fsys fs.FS) (fs.FS, error) {
	dir := string(db.Dialect)
	if _, err := fs.Stat(fsys, dir); err != nil {
		dir = "default"
	}
	return fs.Sub(fsys, dir)
}

// Migrate applies every pending migration for the dialect (see
// migrationsFor), holding a database lock so that servers starting
// together migrate once.
func (db *DB) Migrate(ctx context.Context, fsys fs.FS) (applied []int64, err error) {
	p, err := db.Migrations(fsys)
	if err != nil {
		return nil, err
	}
	results, err := p.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqldb: migrate: %w", db.Classify(err))
	}
	for _, r := range results {
		applied = append(applied, r.Source.Version)
	}
	return applied, nil
}

// Migrations returns the migrations of the dialect (see migrationsFor)
// over the database, locked as Migrate's are, for tools that move the
// schema to a given version or list its history.
func (db *DB) Migrations(fsys fs.FS) (*goose.Provider, error) {
	sub, err := db.migrationsFor(fsys)
	if err != nil {
		return nil, err
	}
	opts := []goose.ProviderOption{goose.WithDisableGlobalRegistry(true), goose.WithTableName("schema_migrations")}
	var dialect goose.Dialect
	switch db.Dialect {
	case SQLite:
		dialect = goose.DialectSQLite3
	case MySQL:
		dialect = goose.DialectMySQL
		l, err := lock.NewMySQLTableLocker(lock.WithTableName("schema_migrations_lock"))
		if err != nil {
			return nil, err
		}
		opts = append(opts, goose.WithLocker(l))
	case Postgres:
		dialect = goose.DialectPostgres
		l, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return nil, err
		}
		opts = append(opts, goose.WithSessionLocker(l))
	}
	p, err := goose.NewProvider(dialect, db.DB, sub, opts...)
	if err != nil {
		return nil, fmt.Errorf("sqldb: migrations: %w", err)
	}
	return p, nil
}

// SchemaVersion returns the newest applied migration version (0 = none).
func (db *DB) SchemaVersion(ctx context.Context, fsys fs.FS) (int64, error) {
	sub, err := db.migrationsFor(fsys)
	if err != nil {
		return 0, err
	}
	dialect := map[Dialect]goose.Dialect{SQLite: goose.DialectSQLite3, MySQL: goose.DialectMySQL, Postgres: goose.DialectPostgres}[db.Dialect]
	p, err := goose.NewProvider(dialect, db.DB, sub, goose.WithDisableGlobalRegistry(true), goose.WithTableName("schema_migrations"))
	if err != nil {
		return 0, err
	}
	v, err := p.GetDBVersion(ctx)
	if err != nil {
		return 0, db.Classify(err)
	}
	return v, nil
}

// InTx runs fn in a transaction, committing when it returns nil. A
// deadlock aborts the transaction; it is retried a few times, as oslo.db's
// wrap_db_retry does, because the database already rolled it back.
func (db *DB) InTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		err = db.inTxOnce(ctx, fn)
		var dl *DeadlockError
		if !errors.As(err, &dl) {
			return err
		}
		time.Sleep(time.Duration(attempt+1) * 10 * time.Millisecond)
	}
	return err
}

func (db *DB) inTxOnce(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return db.Classify(err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return db.Classify(err)
	}
	return db.Classify(tx.Commit())
}

// Redact hides a password in a URI for logs and errors.
func Redact(uri string) string {
	at := strings.LastIndex(uri, "@")
	scheme := strings.Index(uri, "://")
	if at < 0 || scheme < 0 || at < scheme {
		return uri
	}
	userinfo := uri[scheme+3 : at]
	if i := strings.Index(userinfo, ":"); i >= 0 {
		return uri[:scheme+3] + userinfo[:i] + ":***" + uri[at:]
	}
	return uri
}
