// Package testenv finds the real services (PostgreSQL, MariaDB, Redis) that
// driver tests run against. Addresses come from environment variables with
// the machine defaults. When a service is unreachable a test is skipped with a
// clear message, except under CI=true, where it fails: CI must never pass by
// skipping the database tests.
package testenv

import (
	"net"
	"os"
	"testing"
	"time"
)

// Defaults of the machines the suite runs on; override with the env vars.
const (
	DefaultPostgresURI = "postgresql://postgres@127.0.0.1:5432/test"
	DefaultMySQLURI    = "mysql+pymysql://root@127.0.0.1:3306/test"
	DefaultRedisURI    = "redis://127.0.0.1:6379"
)

// PostgresURI returns ZAQAR_TEST_POSTGRES_URI or the default, after checking
// that the server accepts TCP connections.
func PostgresURI(t testing.TB) string {
	return require(t, "ZAQAR_TEST_POSTGRES_URI", DefaultPostgresURI, "127.0.0.1:5432", "ZAQAR_TEST_POSTGRES_ADDR")
}

// MySQLURI returns ZAQAR_TEST_MYSQL_URI or the default (MariaDB on 3306).
func MySQLURI(t testing.TB) string {
	return require(t, "ZAQAR_TEST_MYSQL_URI", DefaultMySQLURI, "127.0.0.1:3306", "ZAQAR_TEST_MYSQL_ADDR")
}

// RedisURI returns ZAQAR_TEST_REDIS_URI or the default.
func RedisURI(t testing.TB) string {
	return require(t, "ZAQAR_TEST_REDIS_URI", DefaultRedisURI, "127.0.0.1:6379", "ZAQAR_TEST_REDIS_ADDR")
}

// InCI reports whether the suite runs in CI (CI=true), where missing
// services are failures rather than skips.
func InCI() bool { return os.Getenv("CI") == "true" }

// Unavailable skips the test, or fails it under CI, with the reason.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if InCI() {
		t.Fatalf("required service unavailable under CI=true: "+format, args...)
	}
	t.Skipf("skipping: "+format, args...)
}

func require(t testing.TB, uriVar, uriDefault, addrDefault, addrVar string) string {
	t.Helper()
	uri := os.Getenv(uriVar)
	if uri == "" {
		uri = uriDefault
	}
	addr := os.Getenv(addrVar)
	if addr == "" {
		addr = addrDefault
	}
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		Unavailable(t, "%s is not reachable at %s (%v); set %s/%s to point at a server", uriVar, addr, err, uriVar, addrVar)
		return ""
	}
	conn.Close()
	return uri
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
