// Command tvsync operates tvsync on a PostgreSQL database: it runs the
// migrations, syncs entities, seeds demo data, runs the deferred-sync worker
// and reports on sync health.
//
// Usage:
//
//	tvsync [--database-url URL] [--log-level debug|info|warn|error] COMMAND [flags]
//
// The database comes from --database-url or DATABASE_URL. Only "tvsync
// demo" starts a throwaway PostgreSQL when neither is set.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgxpool"

	tvsync "github.com/tvsync/tvsync/sync"
)

// errUsage marks errors caused by how the command was called (exit status 2).
var errUsage = errors.New("usage")

// errDrift marks a verification that found drift (exit status 1, no usage).
var errDrift = errors.New("drift found")

// command is one subcommand.
type command struct {
	summary string
	run     func(ctx context.Context, app *app, args []string) error
}

var commands = map[string]command{}

// app carries what every command shares.
type app struct {
	stdout, stderr io.Writer
	databaseURL    string
	logLevel       slog.Level
	log            *slog.Logger
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes the command line args and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr}
	global := flag.NewFlagSet("tvsync", flag.ContinueOnError)
	global.SetOutput(stderr)
	global.StringVar(&a.databaseURL, "database-url", os.Getenv("DATABASE_URL"), "PostgreSQL URL (default $DATABASE_URL)")
	level := global.String("log-level", "info", "log level: debug, info, warn or error")
	global.Usage = func() { usage(stderr, global) }
	if err := global.Parse(args); err != nil {
		return 2
	}
	if err := a.logLevel.UnmarshalText([]byte(*level)); err != nil {
		fmt.Fprintf(stderr, "tvsync: --log-level %q: want debug, info, warn or error\n", *level)
		return 2
	}
	a.log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: a.logLevel}))
	if global.NArg() == 0 {
		usage(stderr, global)
		return 2
	}
	name, rest := global.Arg(0), global.Args()[1:]
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "tvsync: unknown command %q\n\n", name)
		usage(stderr, global)
		return 2
	}
	if err := cmd.run(ctx, a, rest); err != nil {
		switch {
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errDrift):
			return 1
		case errors.Is(err, errUsage):
			fmt.Fprintf(stderr, "tvsync %s: %v\n", name, err)
			return 2
		}
		fmt.Fprintf(stderr, "tvsync %s: %v\n", name, err)
		return 1
	}
	return 0
}

func usage(w io.Writer, global *flag.FlagSet) {
	fmt.Fprintln(w, "usage: tvsync [--database-url URL] [--log-level LEVEL] COMMAND [flags]")
	fmt.Fprintln(w, "\ncommands:")
	names := make([]string, 0, len(commands))
	for name := range commands {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(w, "  %-10s %s\n", name, commands[name].summary)
	}
	fmt.Fprintln(w, "\nglobal flags:")
	global.PrintDefaults()
	fmt.Fprintln(w, "\nRun 'tvsync COMMAND -h' for a command's flags.")
}

// flags returns a flag set for a subcommand that also accepts --database-url.
func (a *app) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("tvsync "+name, flag.ContinueOnError)
	fs.SetOutput(a.stderr)
	fs.StringVar(&a.databaseURL, "database-url", a.databaseURL, "PostgreSQL URL (default $DATABASE_URL)")
	return fs
}

// parse parses a subcommand's flags and rejects stray arguments.
func parse(fs *flag.FlagSet, args []string, maxArgs int) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > maxArgs {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args()[maxArgs:])
	}
	return nil
}

// connect opens a pool on the lasting database the command needs.
func (a *app) connect(ctx context.Context) (*pgxpool.Pool, error) {
	if a.databaseURL == "" {
		return nil, fmt.Errorf("%w: no database: set DATABASE_URL or pass --database-url (only 'tvsync demo' starts a throwaway PostgreSQL)", errUsage)
	}
	return openPool(ctx, a.databaseURL)
}

func openPool(ctx context.Context, url string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("%w: database URL: %v", errUsage, redact(err))
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to %s:%d/%s: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database, err)
	}
	return pool, nil
}

// redact keeps passwords out of URL parse errors.
func redact(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "://"); i >= 0 {
		if j := strings.Index(msg[i:], "@"); j > 0 {
			msg = msg[:i+3] + "…" + msg[i+j:]
		}
	}
	return msg
}

// selectEntities returns the entities an --entity flag selects: the named
// one (a usage error naming the value if it is not registered) or, when
// name is empty, all of them.
func selectEntities(engine *tvsync.Engine, name string) ([]string, error) {
	if name == "" {
		return engine.Entities(), nil
	}
	if _, err := engine.Entity(name); err != nil {
		return nil, fmt.Errorf("%w: --entity: %v", errUsage, err)
	}
	return []string{name}, nil
}

// engine returns a sync engine over pool that logs through the app's logger.
func (a *app) engine(pool *pgxpool.Pool) *tvsync.Engine {
	return tvsync.New(pool, tvsync.Config{Logger: a.log})
}
