package sqldb

import (
	"context"
	"database/sql/driver"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"modernc.org/sqlite"
)

// target is what an SQLAlchemy URI resolves to.
type target struct {
	dialect    Dialect
	connector  driver.Connector
	singleConn bool
	warnings   []string
}

// parseURI maps Zaqar's SQLAlchemy-style URIs onto Go drivers:
//
//	sqlite://  sqlite:///:memory:  sqlite:///relative.db  sqlite:////abs/path.db
//	mysql[+pymysql|+mysqldb]://user:pass@host[:port]/db[?charset=..&unix_socket=..]
//	postgresql[+psycopg2]://user:pass@host[:port]/db[?sslmode=..]  (also postgres://)
func parseURI(uri string, o Options) (*target, error) {
	scheme, rest, ok := strings.Cut(uri, "://")
	if !ok {
		return nil, fmt.Errorf("sqldb: %q is not a database URI (scheme://...)", Redact(uri))
	}
	family, _, _ := strings.Cut(strings.ToLower(scheme), "+")
	switch family {
	case "sqlite", "sqlite3":
		return sqliteTarget(rest)
	case "mysql", "mariadb":
		return mysqlTarget(uri, o)
	case "postgresql", "postgres", "pgsql":
		return postgresTarget(uri)
	default:
		return nil, fmt.Errorf("sqldb: unsupported database %q (want sqlite, mysql or postgresql)", scheme)
	}
}

var memorySeq atomic.Int64

func sqliteTarget(rest string) (*target, error) {
	// SQLAlchemy: everything after the third slash is the path, so
	// "sqlite:////abs" is absolute and "sqlite:///rel" relative.
	path, query, _ := strings.Cut(strings.TrimPrefix(rest, "/"), "?")
	if query != "" {
		return nil, fmt.Errorf("sqldb: sqlite URI options are not supported: %q", query)
	}
	pragmas := "_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)&_txlock=immediate"
	t := &target{dialect: SQLite}
	var dsn string
	if path == "" || path == ":memory:" {
		// One connection only: every connection to ":memory:" is its own
		// database. The name keeps two in-memory catalogues of one process
		// apart.
		dsn = fmt.Sprintf("file:zaqar-memory-%d?mode=memory&%s", memorySeq.Add(1), pragmas)
		t.singleConn = true
	} else {
		dsn = "file:" + filepath.Clean(path) + "?" + pragmas + "&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)"
	}
	c, err := sqlite.NewConnector(dsn)
	if err != nil {
		return nil, fmt.Errorf("sqldb: sqlite: %w", err)
	}
	t.connector = c
	return t, nil
}

// mysqlParams are the pymysql/mysqlclient URI options we understand.
var mysqlParams = []string{"charset", "unix_socket", "connect_timeout", "read_timeout", "write_timeout", "ssl", "ssl_ca", "ssl_mode", "sql_mode", "local_infile", "allowAllFiles", "allowCleartextPasswords", "allowOldPasswords", "multiStatements", "tls"}

func mysqlTarget(uri string, o Options) (*target, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return nil, fmt.Errorf("sqldb: mysql URI: %w", err)
	}
	t := &target{dialect: MySQL}
	cfg := mysql.NewConfig()
	cfg.User = u.User.Username()
	cfg.Passwd, _ = u.User.Password()
	cfg.DBName = strings.TrimPrefix(u.Path, "/")
	cfg.Net, cfg.Addr = "tcp", u.Host
	if u.Port() == "" && u.Hostname() != "" {
		cfg.Addr = net.JoinHostPort(u.Hostname(), "3306")
	}
	cfg.Timeout = 5 * time.Second
	cfg.ReadTimeout = 30 * time.Second
	cfg.WriteTimeout = 30 * time.Second
	cfg.ParseTime = true
	// Liveness: before a pooled connection is reused the driver checks its
	// socket and reports a closed one as driver.ErrBadConn, which makes
	// database/sql discard it and take or dial another.
	cfg.CheckConnLiveness = true
	cfg.Logger = mysqlLogger{o.Logger}
	// utf8mb4 always: MySQL's "utf8" is a 3-byte subset that rejects or
	// mangles characters outside the BMP.
	cfg.Collation = "utf8mb4_bin"
	cfg.Params = map[string]string{}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("sqldb: mysql URI options: %w", err)
	}
	for k := range q {
		if !slices.Contains(mysqlParams, k) {
			t.warnings = append(t.warnings, fmt.Sprintf("option %q is not understood and is ignored", k))
		}
	}
	if cs := q.Get("charset"); cs != "" && !strings.EqualFold(cs, "utf8mb4") {
		t.warnings = append(t.warnings, fmt.Sprintf("charset=%s is replaced by utf8mb4", cs))
	}
	if s := q.Get("unix_socket"); s != "" {
		cfg.Net, cfg.Addr = "unix", s
	}
	for k, d := range map[string]*time.Duration{"connect_timeout": &cfg.Timeout, "read_timeout": &cfg.ReadTimeout, "write_timeout": &cfg.WriteTimeout} {
		if v := q.Get(k); v != "" {
			secs, err := time.ParseDuration(v + "s")
			if err != nil {
				return nil, fmt.Errorf("sqldb: mysql URI: %s=%q is not a number of seconds", k, v)
			}
			*d = secs
		}
	}
	unsafe := map[string]string{
		"local_infile":            "lets the server read any client file (LOAD DATA LOCAL)",
		"allowAllFiles":           "lets the server read any client file (LOAD DATA LOCAL)",
		"allowCleartextPasswords": "sends the password in clear text",
		"allowOldPasswords":       "uses the broken pre-4.1 password hash",
		"multiStatements":         "allows several statements per query (SQL injection amplifier)",
	}
	for k, why := range unsafe {
		if v := q.Get(k); v == "1" || strings.EqualFold(v, "true") {
			t.warnings = append(t.warnings, fmt.Sprintf("unsafe setting %s=%s ignored: it %s", k, v, why))
		}
	}
	if v := q.Get("tls"); strings.EqualFold(v, "skip-verify") {
		t.warnings = append(t.warnings, "unsafe setting tls=skip-verify: server certificate not verified")
		cfg.TLSConfig = "skip-verify"
	}
	mode := o.MySQLSQLMode
	if v := q.Get("sql_mode"); v != "" {
		mode = v
	}
	if mode != "" {
		if strings.ContainsAny(mode, "'\\;") {
			return nil, fmt.Errorf("sqldb: sql_mode %q has invalid characters", mode)
		}
		cfg.Params["sql_mode"] = "'" + mode + "'"
	}
	c, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("sqldb: mysql: %w", err)
	}
	t.connector = c
	return t, nil
}

func postgresTarget(uri string) (*target, error) {
	scheme, rest, _ := strings.Cut(uri, "://")
	family, _, _ := strings.Cut(scheme, "+")
	if family == "pgsql" {
		family = "postgresql"
	}
	cfg, err := pgx.ParseConfig(family + "://" + rest)
	if err != nil {
		return nil, fmt.Errorf("sqldb: postgresql URI: %v", redactErr(err))
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 5 * time.Second
	}
	// Pessimistic liveness: ping every connection when it is taken from
	// the pool (pgx pings only after a second idle by default), so one
	// killed by a server restart is replaced instead of failing a request.
	always := func(context.Context, stdlib.ShouldPingParams) bool { return true }
	return &target{dialect: Postgres, connector: stdlib.GetConnector(*cfg, stdlib.OptionShouldPing(always))}, nil
}

// redactErr keeps pgx's parse errors (which may echo the URI) free of
// passwords.
func redactErr(err error) string {
	s := err.Error()
	if i := strings.Index(s, "://"); i >= 0 {
		return Redact(s)
	}
	return s
}

// mysqlLogger sends the driver's own messages (such as "closing bad idle
// connection", the liveness check at work) to the server log at debug.
type mysqlLogger struct{ l *slog.Logger }

func (m mysqlLogger) Print(v ...any) { m.l.Debug("mysql driver: " + fmt.Sprint(v...)) }
