// Package synccli is tvsync's operator command line as a kit: a team's
// main.go builds a binary with every generic command over its own entities
// and migrations, the way River's rivercli builds the river binary.
//
//	func main() {
//		synccli.Main(synccli.Config{
//			Name: "shop",
//			NewEngine: func(pool *pgxpool.Pool, cfg tvsync.Config) (*tvsync.Engine, error) {
//				return tvsync.NewEngine(pool, cfg, shop.Entities()...)
//			},
//			Migrations: []syncmigrate.Set{{Name: "shop", FS: shop.Migrations, VersionTable: "shop_migrations"}},
//		})
//	}
//
// migrate runs the kit's own migrations (set "tvsync": schema tvsync, see
// package syncmigrate) before the team's, each set in its own version table.
//
// The commands: migrate (up, down, status, redo), sync, verify [--repair],
// rebuild, explain, worker, status, stats, queue retry, sync-log prune and
// triggers, the offline generator gen (package syncgen: "gen --check" in CI),
// plus the binary's own (Config.Commands). The database comes from
// --database-url or DATABASE_URL; passwords are never printed (help shows no
// default, and URLs in errors and logs are redacted).
//
// Exit status: 0 on success and for help (--help, -h, help COMMAND); 1 when
// a command fails at run time, and when verify finds drift it did not
// repair; 2 for a usage error (unknown command or flag, bad flag value, bad
// ids), always reported before any connection is made; 130 when interrupted
// (SIGINT or SIGTERM; the worker instead stops cleanly and exits 0).
package synccli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
	"unicode"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/syncmigrate"
)

// Exit statuses of Execute.
const (
	// ExitOK is a command that succeeded, or help.
	ExitOK = 0
	// ExitFailure is a command that failed at run time, or a verify that
	// found drift it did not repair.
	ExitFailure = 1
	// ExitUsage is a command line that was wrong; nothing was done and no
	// connection was made.
	ExitUsage = 2
	// ExitInterrupted is a command stopped by SIGINT or SIGTERM.
	ExitInterrupted = 130
)

// Config configures a CLI. Name and NewEngine are required.
type Config struct {
	// Name is the program name, used in help and messages ("tvsync").
	Name string
	// Short is the one-line description of the program in help.
	Short string
	// NewEngine builds the sync engine over pool with the entities of the
	// binary; cfg carries the CLI's logger (and, for the worker, its
	// metrics observer). The kit never registers entities itself.
	NewEngine func(pool *pgxpool.Pool, cfg tvsync.Config) (*tvsync.Engine, error)
	// Migrations are the application's migration sets, applied in order by
	// "migrate up" after the kit's own set, syncmigrate.Own ("tvsync"),
	// which creates tvsync's objects in schema tvsync; "migrate down" rolls
	// back the latest migration of one set. They must pass
	// syncmigrate.CheckSets (so none is named "tvsync").
	Migrations []syncmigrate.Set
	// Namespace is the default of the --namespace flag: the namespace of
	// the application's rows of tvsync.sync_queue and tvsync.sync_log
	// (tvsync.Config.Namespace), which every command's engine, stats and
	// sync-log prune act on. Empty is the default namespace.
	Namespace string
	// Commands, if set, returns the binary's own commands (a demo, a seed),
	// which get the shared flags, logger and connection through app. Give
	// them a RunE (not Run, and no PersistentPreRun): the kit wraps it to
	// check the global flags and build the logger first, and maps its
	// error to the exit status (Usagef: 2, ExitError: its code, others: 1).
	Commands func(app *App) []*cobra.Command
	// Stdin, Stdout and Stderr default to the process's.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// stderr is where Main reports an invalid Config: Stderr, or the process's.
func (c Config) stderr() io.Writer {
	if c.Stderr != nil {
		return c.Stderr
	}
	return os.Stderr
}

// CLI is a configured command line. Build it with New and run it with
// Execute or Main.
type CLI struct {
	cfg Config
}

// New returns the CLI for cfg, or an error naming the first invalid field
// of cfg: a Name that is empty or not one word, a nil NewEngine, Migrations
// that fail syncmigrate.CheckSets (one named "tvsync", two sharing a
// version table, ...), or Commands that return a command the kit already
// has (or none at all). Nil Stdin, Stdout and Stderr become the process's.
func New(cfg Config) (*CLI, error) {
	if cfg.Stdin == nil {
		cfg.Stdin = os.Stdin
	}
	if cfg.Stdout == nil {
		cfg.Stdout = os.Stdout
	}
	if cfg.Stderr == nil {
		cfg.Stderr = os.Stderr
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &CLI{cfg: cfg}, nil
}

// validate returns an error naming the first invalid field of c.
func (c Config) validate() error {
	switch {
	case c.Name == "":
		return errors.New("synccli: Config.Name is required (the program name)")
	case strings.ContainsFunc(c.Name, unicode.IsSpace):
		return fmt.Errorf("synccli: Config.Name %q: want one word, the program name", c.Name)
	case c.NewEngine == nil:
		return errors.New("synccli: Config.NewEngine is required (it registers the binary's entities)")
	}
	if err := syncmigrate.CheckSets(c.Migrations); err != nil {
		return fmt.Errorf("synccli: Config.Migrations: %w", err)
	}
	if c.Commands == nil {
		return nil
	}
	kitApp := newApp(c.withoutCommands())
	kit := map[string]bool{}
	for _, cmd := range kitApp.root.Commands() {
		kit[cmd.Name()] = true
	}
	for i, cmd := range c.Commands(kitApp) {
		switch {
		case cmd == nil:
			return fmt.Errorf("synccli: Config.Commands: command %d is nil", i)
		case kit[cmd.Name()]:
			return fmt.Errorf("synccli: Config.Commands: command %q is one of the kit's", cmd.Name())
		}
		kit[cmd.Name()] = true
	}
	return nil
}

// withoutCommands is c without its own commands.
func (c Config) withoutCommands() Config {
	c.Commands = nil
	return c
}

// Main runs the CLI on the process's arguments and exits with its status;
// an invalid cfg (see New) is reported on Stderr with ExitFailure.
// The first SIGINT or SIGTERM cancels the running command (which then exits
// 130, or 0 for a worker that stopped cleanly); a second one kills the
// process.
func Main(cfg Config) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second signal gets the default behaviour: exit at once
	}()
	cli, err := New(cfg)
	if err != nil {
		fmt.Fprintln(cfg.stderr(), err)
		stop()
		os.Exit(ExitFailure)
	}
	code := cli.Execute(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

// Command returns a fresh root command with every command of the CLI, for
// documentation and tests. Run commands through Execute, which maps errors
// to exit statuses.
func (c *CLI) Command() *cobra.Command {
	return newApp(c.cfg).root
}

// Execute runs the command line args (without the program name) and returns
// the exit status. Cancelling ctx interrupts the command.
func (c *CLI) Execute(ctx context.Context, args []string) int {
	a := newApp(c.cfg)
	a.ctx = ctx
	a.root.SetArgs(args)
	cmd, err := a.root.ExecuteContextC(ctx)
	if err == nil {
		return ExitOK
	}
	path := c.cfg.Name
	if cmd != nil {
		path = cmd.CommandPath()
	}
	if !a.started {
		// cobra rejected the command line before running anything: an
		// unknown command or flag, a bad flag value, stray arguments.
		err = &usageError{msg: err.Error()}
	}
	switch {
	case ctx.Err() != nil:
		fmt.Fprintf(a.stderr, "%s: interrupted\n", path)
		return ExitInterrupted
	case errors.Is(err, ErrUsage):
		fmt.Fprintf(a.stderr, "%s: %s\nRun '%s --help' for usage.\n", path, message(err), path)
		return ExitUsage
	}
	var exit *ExitError
	if errors.As(err, &exit) {
		fmt.Fprintf(a.stderr, "%s: %s\n", path, message(exit.Err))
		return exit.Code
	}
	fmt.Fprintf(a.stderr, "%s: %s%s\n", path, message(err), a.hint(ctx, err))
	return ExitFailure
}

// message is err's text as shown to the operator: passwords redacted, and
// without the library's own "tvsync: " prefix after the command's.
func message(err error) string {
	return Redact(strings.TrimPrefix(err.Error(), "tvsync: "))
}

// hint suggests the fix for errors an operator can fix at once. A table or
// schema that does not exist (42P01, 3F000) means an unmigrated database
// only when a migration is pending: hint asks the database, and when every
// set is applied says so instead, pointing at the name (a schema missing
// from the declaration, or a search_path the statement relied on).
func (a *App) hint(ctx context.Context, err error) string {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || (pgErr.Code != "42P01" && pgErr.Code != "3F000") { // undefined_table, invalid_schema_name
		return ""
	}
	pending, perr := a.pending(context.WithoutCancel(ctx))
	switch {
	case perr != nil:
		a.log.DebugContext(ctx, "could not check the migrations", slog.Any("error", perr))
		return fmt.Sprintf("\nis the database migrated? run `%s migrate status`", a.name)
	case len(pending) > 0:
		return fmt.Sprintf("\nthe database is not migrated: run `%s migrate up` (pending: %s)", a.name, strings.Join(pending, ", "))
	}
	return "\nevery migration is applied: the statement names an object that does not exist under that name; " +
		"name it with its schema in tvsync.yaml (table: lib.tb_x) and regenerate, rather than rely on a search_path"
}

// pending names the migration sets that have a migration to apply.
func (a *App) pending(ctx context.Context) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	pool, err := a.Connect(ctx)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	ms, err := a.migrators(pool, a.sets())
	defer func() {
		for _, m := range ms {
			_ = m.Close()
		}
	}()
	if err != nil {
		return nil, err
	}
	var names []string
	for _, m := range ms {
		status, err := m.Status(ctx)
		if err != nil {
			return nil, fmt.Errorf("migrations %s: %w", m.Set().Name, err)
		}
		for _, st := range status {
			if !st.Applied {
				names = append(names, m.Set().Name)
				break
			}
		}
	}
	return names, nil
}

// ErrUsage is matched (with errors.Is) by every usage error: a command line
// that is wrong, reported before any connection is made (exit status 2).
var ErrUsage = errors.New("usage error")

// usageError is a usage error with its message.
type usageError struct{ msg string }

func (e *usageError) Error() string        { return e.msg }
func (e *usageError) Is(target error) bool { return target == ErrUsage }

// Usagef returns a usage error (exit status 2) with the formatted message,
// which should name the flag and the bad value. Commands return it before
// connecting to the database.
func Usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// ExitError makes Execute print Err and exit with Code, as verify does for
// drift (exit status 1).
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }
