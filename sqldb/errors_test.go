package sqldb_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zaqar-go/zaqar/sqldb"
	"github.com/zaqar-go/zaqar/sqldb/sqltest"
)

func open(t *testing.T, uri string, o sqldb.Options) *sqldb.DB {
	t.Helper()
	db, err := sqldb.Open(context.Background(), uri, o)
	if err != nil {
		t.Fatalf("open %s: %v", uri, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func mustExec(t *testing.T, db *sqldb.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.ExecContext(context.Background(), db.Rebind(q), args...); err != nil {
		t.Fatalf("%s: %v", q, db.Classify(err))
	}
}

// schema creates a parent/child pair with a named unique constraint.
func schema(t *testing.T, db *sqldb.DB) {
	suffix := ""
	if db.Dialect == sqldb.MySQL {
		suffix = " ENGINE=InnoDB"
	}
	mustExec(t, db, "CREATE TABLE parent (id INTEGER NOT NULL PRIMARY KEY, code VARCHAR(20) NOT NULL, CONSTRAINT uq_parent_code UNIQUE (code))"+suffix)
	mustExec(t, db, "CREATE TABLE child (id INTEGER NOT NULL PRIMARY KEY, parent_id INTEGER NOT NULL, CONSTRAINT fk_child_parent FOREIGN KEY (parent_id) REFERENCES parent (id))"+suffix)
}

func init() { sqldb.RegisterConstraint("uq_parent_code", "code") }

func TestTypedErrors(t *testing.T) {
	for _, d := range sqltest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			db := open(t, sqltest.FreshURI(t, d), sqldb.DefaultOptions())
			schema(t, db)
			ctx := context.Background()
			mustExec(t, db, "INSERT INTO parent (id, code) VALUES (1, 'a')")

			_, err := db.ExecContext(ctx, db.Rebind("INSERT INTO parent (id, code) VALUES (2, 'a')"))
			var dup *sqldb.DuplicateError
			if !errors.As(db.Classify(err), &dup) {
				t.Fatalf("duplicate unique value: got %v, want *DuplicateError", err)
			}
			if !dup.HasColumn("code") {
				t.Fatalf("duplicate error names columns %v (constraint %q), want code", dup.Columns, dup.Constraint)
			}

			_, err = db.ExecContext(ctx, db.Rebind("INSERT INTO parent (id, code) VALUES (1, 'b')"))
			if !errors.As(db.Classify(err), &dup) {
				t.Fatalf("duplicate primary key: got %v, want *DuplicateError", err)
			}

			_, err = db.ExecContext(ctx, db.Rebind("INSERT INTO child (id, parent_id) VALUES (1, 99)"))
			var ref *sqldb.ReferenceError
			if !errors.As(db.Classify(err), &ref) {
				t.Fatalf("dangling reference: got %v, want *ReferenceError", err)
			}
			mustExec(t, db, "INSERT INTO child (id, parent_id) VALUES (1, 1)")
			_, err = db.ExecContext(ctx, db.Rebind("DELETE FROM parent WHERE id = 1"))
			if !errors.As(db.Classify(err), &ref) {
				t.Fatalf("delete of a referenced row: got %v, want *ReferenceError", err)
			}
			if d != sqldb.SQLite && ref.Constraint != "fk_child_parent" {
				t.Fatalf("reference error constraint %q, want fk_child_parent", ref.Constraint)
			}
			// The typed errors keep the driver error for logs.
			if errors.Unwrap(ref) == nil {
				t.Fatal("reference error does not wrap the driver error")
			}
		})
	}
}

// TestDeadlockIsTyped makes two transactions lock two rows in opposite
// order; the database must abort one, and the abort must classify as a
// DeadlockError. SQLite serialises writers, so it has no such deadlock.
func TestDeadlockIsTyped(t *testing.T) {
	for _, d := range []sqldb.Dialect{sqldb.MySQL, sqldb.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			db := open(t, sqltest.FreshURI(t, d), sqldb.DefaultOptions())
			schema(t, db)
			mustExec(t, db, "INSERT INTO parent (id, code) VALUES (1, 'a'), (2, 'b')")
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			tx1, err := db.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			tx2, err := db.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			upd := db.Rebind("UPDATE parent SET code = code WHERE id = ?")
			if _, err := tx1.ExecContext(ctx, upd, 1); err != nil {
				t.Fatal(err)
			}
			if _, err := tx2.ExecContext(ctx, upd, 2); err != nil {
				t.Fatal(err)
			}
			errs := make([]error, 2)
			var wg sync.WaitGroup
			wg.Add(2)
			go func() { defer wg.Done(); _, errs[0] = tx1.ExecContext(ctx, upd, 2) }()
			go func() { defer wg.Done(); _, errs[1] = tx2.ExecContext(ctx, upd, 1) }()
			// One of them blocks until the other is aborted; roll back the
			// loser so the winner can finish.
			wg.Wait()
			tx1.Rollback()
			tx2.Rollback()
			deadlocks := 0
			for _, err := range errs {
				var dl *sqldb.DeadlockError
				if errors.As(db.Classify(err), &dl) {
					deadlocks++
				} else if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
			}
			if deadlocks != 1 {
				t.Fatalf("got %d deadlock errors (%v), want exactly 1", deadlocks, errs)
			}
		})
	}
}

// TestSQLiteForeignKeysOnEveryConnection holds several pooled connections
// at once and checks each one enforces foreign keys and runs in WAL mode.
func TestSQLiteForeignKeysOnEveryConnection(t *testing.T) {
	db := open(t, sqltest.FreshURI(t, sqldb.SQLite), sqldb.DefaultOptions())
	schema(t, db)
	ctx := context.Background()
	const n = 4
	for i := 0; i < n; i++ {
		conn, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		var fk int
		var journal string
		if err := conn.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil {
			t.Fatal(err)
		}
		if err := conn.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&journal); err != nil {
			t.Fatal(err)
		}
		if fk != 1 || journal != "wal" {
			t.Fatalf("connection %d: foreign_keys=%d journal_mode=%s, want 1 and wal", i, fk, journal)
		}
		_, err = conn.ExecContext(ctx, "INSERT INTO child (id, parent_id) VALUES (?, 42)", 100+i)
		var ref *sqldb.ReferenceError
		if !errors.As(db.Classify(err), &ref) {
			t.Fatalf("connection %d accepted a dangling reference: %v", i, err)
		}
	}
	if got := db.Stats().OpenConnections; got < n {
		t.Fatalf("test held %d connections, want %d distinct ones", got, n)
	}
}

func captureLog() (*slog.Logger, *bytes.Buffer, *sync.Mutex) {
	var mu sync.Mutex
	buf := &bytes.Buffer{}
	return slog.New(slog.NewTextHandler(lockedWriter{buf, &mu}, nil)), buf, &mu
}

type lockedWriter struct {
	b  *bytes.Buffer
	mu *sync.Mutex
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func TestMySQLSQLModeWarning(t *testing.T) {
	uri := sqltest.FreshURI(t, sqldb.MySQL)
	for _, tc := range []struct {
		mode string
		warn bool
	}{{"ANSI", true}, {"NO_ENGINE_SUBSTITUTION", true}, {"TRADITIONAL", false}, {"STRICT_ALL_TABLES", false}} {
		log, buf, mu := captureLog()
		o := sqldb.DefaultOptions()
		o.MySQLSQLMode, o.Logger = tc.mode, log
		db := open(t, uri, o)
		var mode string
		if err := db.QueryRow("SELECT @@SESSION.sql_mode").Scan(&mode); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		warned := strings.Contains(buf.String(), "not strict")
		mu.Unlock()
		if warned != tc.warn {
			t.Fatalf("sql_mode %s (session %q): warned=%v, want %v; log: %s", tc.mode, mode, warned, tc.warn, buf)
		}
		if tc.mode == "TRADITIONAL" && !strings.Contains(mode, "STRICT_ALL_TABLES") {
			t.Fatalf("session sql_mode %q, want the strict mode set on the connection", mode)
		}
	}
}

func TestMySQLUnsafeURISettingsWarn(t *testing.T) {
	uri := sqltest.FreshURI(t, sqldb.MySQL)
	log, buf, mu := captureLog()
	o := sqldb.DefaultOptions()
	o.Logger = log
	db := open(t, uri+"?charset=utf8&multiStatements=true&local_infile=1&bogus=1", o)
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	for _, want := range []string{"charset=utf8 is replaced by utf8mb4", "multiStatements", "local_infile", `option \"bogus\"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	var cs string
	if err := db.QueryRow("SELECT @@character_set_connection").Scan(&cs); err != nil {
		t.Fatal(err)
	}
	if cs != "utf8mb4" {
		t.Fatalf("connection charset %s, want utf8mb4", cs)
	}
	// Multi statements stay off whatever the URI says.
	if _, err := db.Exec("SELECT 1; SELECT 2"); err == nil {
		t.Fatal("a multi-statement query was accepted")
	}
}

func TestURIForms(t *testing.T) {
	ctx := context.Background()
	for _, uri := range []string{"sqlite://", "sqlite:///:memory:"} {
		db := open(t, uri, sqldb.DefaultOptions())
		if db.Dialect != sqldb.SQLite {
			t.Fatalf("%s: dialect %s", uri, db.Dialect)
		}
		// The in-memory database must survive across statements (one
		// connection) and enforce foreign keys too.
		schema(t, db)
		_, err := db.ExecContext(ctx, "INSERT INTO child (id, parent_id) VALUES (1, 5)")
		var ref *sqldb.ReferenceError
		if !errors.As(db.Classify(err), &ref) {
			t.Fatalf("%s: dangling reference accepted: %v", uri, err)
		}
	}
	for _, bad := range []string{"", "nonsense", "oracle://x/y", "sqlite:///x.db?mode=ro", "mysql://root@127.0.0.1/test?sql_mode=A';DROP"} {
		if db, err := sqldb.Open(ctx, bad, sqldb.DefaultOptions()); err == nil {
			db.Close()
			t.Errorf("%q accepted", bad)
		}
	}
	// A password never appears in an error.
	_, err := sqldb.Open(ctx, "postgresql://u:s3cret@127.0.0.1:1/db?connect_timeout=1", sqldb.DefaultOptions())
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("error %v", err)
	}
	var ce *sqldb.ConnectionError
	if !errors.As(err, &ce) {
		t.Fatalf("refused connection classified as %T (%v), want *ConnectionError", errors.Unwrap(err), err)
	}
}

func TestRebind(t *testing.T) {
	pg := &sqldb.DB{Dialect: sqldb.Postgres}
	if got := pg.Rebind("a = ? AND b = ?"); got != "a = $1 AND b = $2" {
		t.Fatal(got)
	}
	my := &sqldb.DB{Dialect: sqldb.MySQL}
	if got := my.Rebind("a = ?"); got != "a = ?" {
		t.Fatal(got)
	}
}
