// Command zaqar-sql-db-manage applies or reports the management store's
// schema migrations (the server also applies them at start), as Zaqar's
// command of the same name does.
//
//	zaqar-sql-db-manage [--config-file PATH]... upgrade   apply pending migrations
//	zaqar-sql-db-manage [--config-file PATH]... current   print the schema version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/zaqar-go/zaqar/catalog"
	"github.com/zaqar-go/zaqar/config"
	"github.com/zaqar-go/zaqar/sqldb"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("zaqar-sql-db-manage", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var files config.FileList
	fs.Var(&files, "config-file", "configuration file (repeatable; later files win)")
	dir := fs.String("config-dir", "", "directory of *.conf files read after --config-file")
	uri := fs.String("uri", "", "override [drivers:management_store:sqlalchemy] uri")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: zaqar-sql-db-manage [--config-file PATH]... [--uri URI] upgrade|current\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 1 || (fs.Arg(0) != "upgrade" && fs.Arg(0) != "current") {
		fs.Usage()
		return 2
	}
	overrides := map[string]string{}
	if *uri != "" {
		overrides["drivers:management_store:sqlalchemy.uri"] = *uri
	}
	cfg, err := config.Load(files, *dir, os.Environ(), overrides)
	if err != nil {
		fmt.Fprintf(stderr, "zaqar-sql-db-manage: configuration error:\n%v\n", err)
		return 2
	}
	const sec = "drivers:management_store:sqlalchemy"
	o := sqldb.DefaultOptions()
	o.Logger = slog.New(slog.NewTextHandler(stderr, nil))
	o.MySQLSQLMode = cfg.String(sec, "mysql_sql_mode")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	db, err := sqldb.Open(ctx, cfg.String(sec, "uri"), o)
	if err != nil {
		fmt.Fprintf(stderr, "zaqar-sql-db-manage: %v\n", err)
		return 1
	}
	defer db.Close()
	if fs.Arg(0) == "upgrade" {
		applied, err := db.Migrate(ctx, catalog.Migrations())
		if err != nil {
			fmt.Fprintf(stderr, "zaqar-sql-db-manage: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "applied %d migration(s) %v\n", len(applied), applied)
	}
	v, err := db.SchemaVersion(ctx, catalog.Migrations())
	if err != nil {
		fmt.Fprintf(stderr, "zaqar-sql-db-manage: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "schema version %d\n", v)
	return 0
}
