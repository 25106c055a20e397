package sqldb

import (
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"regexp"
	"strings"
	"syscall"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// DuplicateError: a unique or primary key constraint rejected the change.
type DuplicateError struct {
	Constraint string   // constraint or index name when the database names it
	Columns    []string // the columns involved, when known
	Err        error
}

func (e *DuplicateError) Error() string {
	return "duplicate entry for " + strings.Join(e.Columns, ", ") + " (" + e.Constraint + "): " + e.Err.Error()
}
func (e *DuplicateError) Unwrap() error { return e.Err }

// HasColumn reports whether the violated constraint covers column.
func (e *DuplicateError) HasColumn(column string) bool {
	for _, c := range e.Columns {
		if strings.EqualFold(c, column) {
			return true
		}
	}
	return false
}

// ReferenceError: a foreign key constraint rejected the change (a
// reference to a missing row, or a delete of a still-referenced row).
type ReferenceError struct {
	Constraint string
	Table      string // the referencing table, when known
	Key        string // the referencing column, when known
	Err        error
}

func (e *ReferenceError) Error() string {
	return "foreign key violation (" + e.Constraint + " " + e.Table + "." + e.Key + "): " + e.Err.Error()
}
func (e *ReferenceError) Unwrap() error { return e.Err }

// DeadlockError: the database aborted the transaction to break a deadlock
// (or a lock wait timed out); it can be retried.
type DeadlockError struct{ Err error }

func (e *DeadlockError) Error() string { return "deadlock: " + e.Err.Error() }
func (e *DeadlockError) Unwrap() error { return e.Err }

// ConnectionError: the connection to the database was lost or could not be
// made.
type ConnectionError struct{ Err error }

func (e *ConnectionError) Error() string { return "database connection lost: " + e.Err.Error() }
func (e *ConnectionError) Unwrap() error { return e.Err }

// Classify turns a driver error into one of the typed errors, or returns
// it unchanged. It is idempotent.
func (db *DB) Classify(err error) error { return Classify(db.Dialect, err) }

// Classify is DB.Classify for a given dialect.
func Classify(d Dialect, err error) error {
	if err == nil {
		return nil
	}
	var (
		dup  *DuplicateError
		ref  *ReferenceError
		dead *DeadlockError
		conn *ConnectionError
	)
	if errors.As(err, &dup) || errors.As(err, &ref) || errors.As(err, &dead) || errors.As(err, &conn) {
		return err
	}
	var typed error
	switch d {
	case MySQL:
		typed = classifyMySQL(err)
	case Postgres:
		typed = classifyPostgres(err)
	case SQLite:
		typed = classifySQLite(err)
	}
	if typed != nil {
		return typed
	}
	if isConnectionLoss(err) {
		return &ConnectionError{Err: err}
	}
	return err
}

func isConnectionLoss(err error) bool {
	var netErr net.Error
	var opErr *net.OpError
	return errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed) ||
		errors.As(err, &opErr) || (errors.As(err, &netErr) && netErr.Timeout())
}

// MySQL: "Duplicate entry 'x' for key 'pools.uq_pools_uri'" (1062),
// "Cannot add or update a child row: a foreign key constraint fails
// (`test`.`pools`, CONSTRAINT `fk_pools_flavor` FOREIGN KEY (`flavor`)
// REFERENCES ..." (1452; 1451 for a delete of a referenced row).
var (
	mysqlDupKey = regexp.MustCompile(`for key '([^']+)'`)
	mysqlFK     = regexp.MustCompile("`([^`]+)`, CONSTRAINT `([^`]+)` FOREIGN KEY \\(`([^`]+)`\\)")
)

func classifyMySQL(err error) error {
	var me *mysql.MySQLError
	if !errors.As(err, &me) {
		return nil
	}
	switch me.Number {
	case 1062, 1586:
		e := &DuplicateError{Err: err}
		if m := mysqlDupKey.FindStringSubmatch(me.Message); m != nil {
			key := m[1]
			if i := strings.LastIndex(key, "."); i >= 0 {
				key = key[i+1:]
			}
			e.Constraint = key
			e.Columns = constraintColumns(key)
		}
		return e
	case 1451, 1452, 1216, 1217:
		e := &ReferenceError{Err: err}
		if m := mysqlFK.FindStringSubmatch(me.Message); m != nil {
			e.Table, e.Constraint, e.Key = m[1], m[2], m[3]
		}
		return e
	case 1213, 1205:
		return &DeadlockError{Err: err}
	case 2006, 2013, 1927, 1053, 1077, 1078, 1079, 1080:
		// server gone away, lost connection, connection killed, shutdown
		return &ConnectionError{Err: err}
	}
	return nil
}

// PostgreSQL reports the constraint by name and the columns in Detail:
// "Key (name)=(x) already exists." / "Key (flavor)=(x) is not present in
// table \"flavors\"."
var pgKeyColumns = regexp.MustCompile(`Key \(([^)]+)\)=`)

func classifyPostgres(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		cols := []string(nil)
		if m := pgKeyColumns.FindStringSubmatch(pe.Detail); m != nil {
			for _, c := range strings.Split(m[1], ",") {
				cols = append(cols, strings.Trim(strings.TrimSpace(c), `"`))
			}
		}
		switch {
		case pe.Code == "23505":
			return &DuplicateError{Constraint: pe.ConstraintName, Columns: cols, Err: err}
		case pe.Code == "23503":
			key := ""
			if len(cols) > 0 {
				key = cols[0]
			}
			return &ReferenceError{Constraint: pe.ConstraintName, Table: pe.TableName, Key: key, Err: err}
		case pe.Code == "40P01" || pe.Code == "40001" || pe.Code == "55P03":
			return &DeadlockError{Err: err}
		case strings.HasPrefix(pe.Code, "08") || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03":
			return &ConnectionError{Err: err}
		}
		return nil
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) || pgconn.SafeToRetry(err) || pgconn.Timeout(err) {
		return &ConnectionError{Err: err}
	}
	return nil
}

// SQLite names the columns: "UNIQUE constraint failed: pools.uri" and just
// "FOREIGN KEY constraint failed".
var sqliteUnique = regexp.MustCompile(`constraint failed: ([^()]+)`)

func classifySQLite(err error) error {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return nil
	}
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		e := &DuplicateError{Err: err}
		if m := sqliteUnique.FindStringSubmatch(se.Error()); m != nil {
			for _, c := range strings.Split(m[1], ",") {
				c = strings.TrimSpace(c)
				if i := strings.LastIndex(c, "."); i >= 0 {
					if e.Constraint == "" {
						e.Constraint = c[:i]
					}
					c = c[i+1:]
				}
				e.Columns = append(e.Columns, c)
			}
		}
		return e
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return &ReferenceError{Err: err}
	case sqlite3.SQLITE_CONSTRAINT_TRIGGER:
		// ON DELETE RESTRICT is enforced as a trigger-style check.
		if strings.Contains(se.Error(), "FOREIGN KEY") {
			return &ReferenceError{Err: err}
		}
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return &DeadlockError{Err: err}
	}
	return nil
}

// constraintColumns recovers the columns from this project's constraint
// naming convention (uq_<table>_<col>[_<col>], PRIMARY): MySQL names the
// key, not its columns.
func constraintColumns(key string) []string {
	if cols, ok := knownConstraints[key]; ok {
		return cols
	}
	return []string{key}
}

// knownConstraints lists the columns of named unique constraints, for
// MySQL, whose duplicate-key message names only the key. Schema owners
// register theirs with RegisterConstraint.
var knownConstraints = map[string][]string{}

// RegisterConstraint records the columns of a named unique constraint so
// that MySQL duplicate errors can report them. Call it from an init
// function; it is not safe for concurrent use with Classify.
func RegisterConstraint(name string, columns ...string) { knownConstraints[name] = columns }
