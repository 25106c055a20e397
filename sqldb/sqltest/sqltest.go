// Package sqltest gives tests a fresh, empty database on each supported
// engine: a SQLite file in the test's temp dir, and a new database on the
// machine's MariaDB and PostgreSQL (found through internal/testenv), dropped
// when the test ends.
package sqltest

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zaqar-go/zaqar/internal/testenv"
	"github.com/zaqar-go/zaqar/sqldb"
)

// Dialects lists the engines every catalogue test runs on.
var Dialects = []sqldb.Dialect{sqldb.SQLite, sqldb.MySQL, sqldb.Postgres}

var seq atomic.Int64

// FreshURI returns the URI of a new empty database of the dialect. On
// MariaDB and PostgreSQL it skips (or fails under CI=true) when the server
// is unreachable.
func FreshURI(t testing.TB, d sqldb.Dialect) string {
	t.Helper()
	name := fmt.Sprintf("zqt_%d_%d", time.Now().UnixNano()%1_000_000_000, seq.Add(1))
	switch d {
	case sqldb.SQLite:
		return "sqlite:///" + filepath.Join(t.TempDir(), name+".db")
	case sqldb.MySQL:
		return fresh(t, d, testenv.MySQLURI(t), name)
	case sqldb.Postgres:
		return fresh(t, d, testenv.PostgresURI(t), name)
	}
	t.Fatalf("unknown dialect %q", d)
	return ""
}

func fresh(t testing.TB, d sqldb.Dialect, base, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := sqldb.Open(ctx, base, sqldb.DefaultOptions())
	if err != nil {
		testenv.Unavailable(t, "%s at %s: %v", d, base, err)
		return ""
	}
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close()
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if d == sqldb.Postgres {
			// Connections of the code under test may still be open.
			admin.ExecContext(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name)
		}
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name); err != nil {
			t.Logf("drop database %s: %v", name, err)
		}
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse %s: %v", base, err)
	}
	u.Path = "/" + name
	return u.String()
}
