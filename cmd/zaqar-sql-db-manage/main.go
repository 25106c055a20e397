// Command zaqar-sql-db-manage moves or reports the management store's
// schema (the server also applies pending migrations at start), with the
// subcommands of Zaqar's command of the same name:
//
//	zaqar-sql-db-manage [--config-file PATH]... [--uri URI] COMMAND
//
//	upgrade [--delta N] [REVISION|head]   apply migrations up to REVISION (default head)
//	downgrade [--delta N] [REVISION]      revert migrations down to REVISION (0 = none)
//	current, version                      print the schema version
//	history                               list every migration and whether it is applied
//	branches, check_migration             print the branches of the history (it has none)
//	stamp, revision                       refused: they edit Alembic's bookkeeping and
//	                                      scripts, which this server's migrations do not use
//
// Revisions are the migrations' numbers (1, 2, ...), as history lists them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/zaqar-go/zaqar/catalog"
	"github.com/zaqar-go/zaqar/config"
	"github.com/zaqar-go/zaqar/sqldb"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

const usage = "Usage: zaqar-sql-db-manage [--config-file PATH]... [--uri URI] upgrade|downgrade|current|version|history|branches|check_migration [--delta N] [REVISION]\n"

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("zaqar-sql-db-manage", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var files config.FileList
	fs.Var(&files, "config-file", "configuration file (repeatable; later files win)")
	dir := fs.String("config-dir", "", "directory of *.conf files read after --config-file")
	uri := fs.String("uri", "", "override [drivers:management_store:sqlalchemy] uri")
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() < 1 {
		fs.Usage()
		return 2
	}
	cmd := command{name: fs.Arg(0), stdout: stdout, stderr: stderr}
	switch cmd.name {
	case "upgrade", "downgrade", "current", "version", "history", "branches", "check_migration":
	case "stamp", "revision":
		fmt.Fprintf(stderr, "zaqar-sql-db-manage: %s edits Alembic's revision table and scripts; this server's schema is versioned by its own numbered migrations, applied with upgrade and reverted with downgrade\n", cmd.name)
		return 2
	default:
		fs.Usage()
		return 2
	}
	sub := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
	sub.SetOutput(stderr)
	delta := sub.Int("delta", 0, "move by this many migrations instead of to a revision")
	sub.Bool("sql", false, "accepted for compatibility; migrations are always applied, never printed")
	if err := sub.Parse(fs.Args()[1:]); err != nil || sub.NArg() > 1 {
		fs.Usage()
		return 2
	}
	cmd.delta, cmd.revision = *delta, sub.Arg(0)
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
	p, err := db.Migrations(catalog.Migrations())
	if err == nil {
		err = cmd.run(ctx, p)
	}
	var usageErr usageError
	switch {
	case errors.As(err, &usageErr):
		fmt.Fprintf(stderr, "zaqar-sql-db-manage: %v\n", err)
		return 2
	case err != nil:
		fmt.Fprintf(stderr, "zaqar-sql-db-manage: %v\n", err)
		return 1
	}
	return 0
}

// usageError is a command line that names no possible change.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

type command struct {
	name     string
	revision string // "" when not given
	delta    int
	stdout   io.Writer
	stderr   io.Writer
}

func (c command) run(ctx context.Context, p *goose.Provider) error {
	switch c.name {
	case "upgrade":
		if err := c.upgrade(ctx, p); err != nil {
			return err
		}
	case "downgrade":
		if err := c.downgrade(ctx, p); err != nil {
			return err
		}
	case "history":
		st, err := p.Status(ctx)
		if err != nil {
			return err
		}
		for _, s := range st {
			fmt.Fprintf(c.stdout, "%d %s %s\n", s.Source.Version, s.State, s.Source.Path)
		}
		return nil
	case "branches", "check_migration":
		// The migrations are one numbered line: nothing to report, as
		// Alembic prints nothing for a history without branches.
		return nil
	}
	v, err := p.GetDBVersion(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "schema version %d\n", v)
	return nil
}

func (c command) upgrade(ctx context.Context, p *goose.Provider) error {
	var results []*goose.MigrationResult
	var err error
	switch {
	case c.delta > 0:
		for i := 0; i < c.delta; i++ {
			r, err := p.UpByOne(ctx)
			if errors.Is(err, goose.ErrNoNextVersion) {
				break
			}
			if err != nil {
				return err
			}
			results = append(results, r)
		}
	case c.revision == "" || c.revision == "head" || c.revision == "heads":
		results, err = p.Up(ctx)
	default:
		v, perr := c.version()
		if perr != nil {
			return perr
		}
		results, err = p.UpTo(ctx, v)
	}
	c.report("applied", results)
	return err
}

func (c command) downgrade(ctx context.Context, p *goose.Provider) error {
	var results []*goose.MigrationResult
	var err error
	switch {
	case c.delta > 0:
		for i := 0; i < c.delta; i++ {
			r, err := p.Down(ctx)
			if errors.Is(err, goose.ErrNoNextVersion) {
				break
			}
			if err != nil {
				return err
			}
			results = append(results, r)
		}
	case c.revision == "":
		return usageError{"downgrade needs a revision or --delta"}
	default:
		v, perr := c.version()
		if perr != nil {
			return perr
		}
		results, err = p.DownTo(ctx, v)
	}
	c.report("reverted", results)
	return err
}

func (c command) version() (int64, error) {
	if c.revision == "base" {
		return 0, nil
	}
	v, err := strconv.ParseInt(c.revision, 10, 64)
	if err != nil || v < 0 {
		return 0, usageError{fmt.Sprintf("revision %q: want a migration number (see history), head or base", c.revision)}
	}
	return v, nil
}

func (c command) report(what string, results []*goose.MigrationResult) {
	versions := make([]int64, len(results))
	for i, r := range results {
		versions[i] = r.Source.Version
	}
	fmt.Fprintf(c.stdout, "%s %d migration(s) %v\n", what, len(results), versions)
}
