package synccli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/internal/engineapi"
)

// The kit's checks and key bounds the CLI shares with the engine (package
// engineapi): the namespace check, and the smallest id of a kind, where a
// listing starts.
var (
	checkNamespace = engineapi.Get[engineapi.Engine[*tvsync.Engine, tvsync.Beginner, tvsync.DB, tvsync.Change, tvsync.Token]]().CheckNamespace
	minID          = engineapi.Get[engineapi.Keys[tvsync.KeyKind, tvsync.ID]]().MinID
)

// App is what every command of one run shares: the global flags, the
// logger, the output streams and the way to the database. The binary's own
// commands (Config.Commands) receive it.
type App struct {
	name       string
	cfg        Config
	root       *cobra.Command
	ctx        context.Context // the context Execute was given, to tell an interrupt
	started    bool            // a command's RunE was reached: errors are no longer usage errors
	stdin      io.Reader
	stdout     io.Writer
	stderr     io.Writer
	log        *slog.Logger
	logLevel   string
	progress   string
	progressIv time.Duration
	urlFlag    string
	directFlag string
	namespace  string
}

// newApp builds the command tree of one run.
func newApp(cfg Config) *App {
	a := &App{name: cfg.Name, cfg: cfg, ctx: context.Background(), stdin: cfg.Stdin, stdout: cfg.Stdout, stderr: cfg.Stderr}
	a.log = slog.New(slog.DiscardHandler)
	root := &cobra.Command{
		Use:   cfg.Name,
		Short: cfg.Short,
		Long: strings.TrimSpace(cfg.Short + "\n\n" +
			"The database comes from --database-url or DATABASE_URL. Exit status: 0 on success or help, 1 when a command\n" +
			"fails (or verify finds drift), 2 for a usage error (reported before connecting), 130 when interrupted."),
		SilenceErrors:     true,
		SilenceUsage:      true,
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
		Args:              cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return Usagef("unknown command %q", args[0])
			}
			return Usagef("missing command")
		},
	}
	// Commands that only group subcommands are runnable (to report a missing
	// or unknown subcommand as a usage error), but their usage shows the
	// subcommands only.
	root.SetUsageTemplate(strings.Replace(root.UsageTemplate(), "{{if .Runnable}}", "{{if and .Runnable (not .HasAvailableSubCommands)}}", 1))
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{msg: err.Error()} })
	pf := root.PersistentFlags()
	pf.StringVar(&a.urlFlag, "database-url", "", "PostgreSQL URL (default: $DATABASE_URL; its password is never printed)")
	pf.StringVar(&a.directFlag, "direct-url", "", "direct URL of the primary (no PgBouncer) for the worker's LISTEN, rebuild and migrate (default: $DIRECT_DATABASE_URL, else the database URL)")
	pf.StringVar(&a.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	pf.StringVar(&a.namespace, "namespace", cfg.Namespace, "the application's namespace of queue and sync_log rows, when several share the database (default: none)")
	pf.StringVar(&a.progress, "progress", "auto", "progress of long commands: auto (a bar on a terminal, log lines otherwise), bar, log or none")
	pf.DurationVar(&a.progressIv, "progress-interval", 2*time.Second, "how often progress is logged as a line (--progress log)")
	a.root = root

	root.AddGroup(&cobra.Group{ID: "sync", Title: "Commands:"})
	for _, cmd := range []*cobra.Command{
		a.migrateCommand(), a.syncCommand(), a.verifyCommand(), a.rebuildCommand(), a.explainCommand(),
		a.workerCommand(), a.statusCommand(), a.statsCommand(), a.queueCommand(), a.syncLogCommand(), a.triggersCommand(), a.genCommand(),
	} {
		cmd.GroupID = "sync"
		root.AddCommand(cmd)
	}
	if cfg.Commands != nil {
		root.AddGroup(&cobra.Group{ID: "extra", Title: "Commands of " + cfg.Name + ":"})
		for _, cmd := range cfg.Commands(a) {
			cmd.GroupID = "extra"
			root.AddCommand(cmd)
		}
	}
	root.InitDefaultHelpCmd()
	for _, cmd := range root.Commands() {
		if cmd.Name() == "help" {
			cmd.Short = "show the help of any command"
		}
	}
	root.SetHelpCommandGroupID("sync")
	wrapRun(root, a)
	return a
}

// wrapRun makes every runnable command under cmd check the global flags
// and build the logger first, and marks the moment it starts: errors cobra
// returns before that (flag parsing, argument checks) are usage errors.
func wrapRun(cmd *cobra.Command, a *App) {
	if run := cmd.RunE; run != nil {
		cmd.RunE = func(c *cobra.Command, args []string) error {
			a.started = true
			if err := a.setup(); err != nil {
				return err
			}
			return run(c, args)
		}
		if cmd.Args == nil {
			cmd.Args = noArgs
		}
	}
	for _, sub := range cmd.Commands() {
		wrapRun(sub, a)
	}
}

// noArgs rejects positional arguments, naming them.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return Usagef("unexpected arguments %q", args)
	}
	return nil
}

// parentRun is the RunE of a command that only groups subcommands: called
// without one (or with an unknown one), it is a usage error.
func parentRun(cmd *cobra.Command, args []string) error {
	var names []string
	for _, sub := range cmd.Commands() {
		if sub.IsAvailableCommand() {
			names = append(names, sub.Name())
		}
	}
	if len(args) == 0 {
		return Usagef("missing subcommand: want %s", strings.Join(names, ", "))
	}
	return Usagef("unknown subcommand %q: want %s", args[0], strings.Join(names, ", "))
}

// setup checks the global flags and builds the logger.
func (a *App) setup() error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(a.logLevel)); err != nil {
		return Usagef("--log-level %q: want debug, info, warn or error", a.logLevel)
	}
	if !slices.Contains([]string{"auto", "bar", "log", "none"}, a.progress) {
		return Usagef("--progress %q: want auto, bar, log or none", a.progress)
	}
	if err := checkNamespace(a.namespace); err != nil {
		return Usagef("--namespace: %v", err)
	}
	if a.progressIv < 10*time.Millisecond || a.progressIv > time.Hour {
		return Usagef("--progress-interval %s: want 10ms to 1h", a.progressIv)
	}
	a.log = slog.New(&quietInterrupt{
		Handler: slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: level, ReplaceAttr: redactAttr}),
		ctx:     a.ctx,
	})
	return nil
}

// Name is the program name.
func (a *App) Name() string { return a.name }

// Stdin is the input stream of the run.
func (a *App) Stdin() io.Reader { return a.stdin }

// Stdout is where commands print their results.
func (a *App) Stdout() io.Writer { return a.stdout }

// Stderr is where logs, progress and errors go.
func (a *App) Stderr() io.Writer { return a.stderr }

// Logger is the run's logger (on Stderr, at --log-level, passwords redacted).
func (a *App) Logger() *slog.Logger { return a.log }

// DatabaseURL is the URL of --database-url, or else of DATABASE_URL; empty
// when neither is set. It may carry a password: never print it.
func (a *App) DatabaseURL() string {
	if a.urlFlag != "" {
		return a.urlFlag
	}
	return os.Getenv("DATABASE_URL")
}

// DirectURL is the URL of --direct-url, or else of DIRECT_DATABASE_URL;
// empty when neither is set. It names a direct session to the primary (no
// transaction pooler between), for the worker's LISTEN, rebuild and
// migrate. It may carry a password: never print it.
func (a *App) DirectURL() string {
	if a.directFlag != "" {
		return a.directFlag
	}
	return os.Getenv("DIRECT_DATABASE_URL")
}

// sessionURL is DirectURL when set, else DatabaseURL: the URL of the
// commands that need a real session.
func (a *App) sessionURL() string {
	if u := a.DirectURL(); u != "" {
		return u
	}
	return a.DatabaseURL()
}

// Open returns a pool on the database of DatabaseURL without connecting:
// a missing or malformed URL is a usage error. Check the rest of the
// command line, then call Ping (or let the first query connect).
func (a *App) Open(ctx context.Context) (*pgxpool.Pool, error) {
	url := a.DatabaseURL()
	if url == "" {
		return nil, Usagef("no database: set DATABASE_URL or pass --database-url")
	}
	return a.OpenURL(ctx, url)
}

// OpenURL is Open on a given URL.
func (a *App) OpenURL(ctx context.Context, url string) (*pgxpool.Pool, error) {
	cfg, err := parseDSN(url)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open a pool on %s: %w", describe(cfg), err)
	}
	return pool, nil
}

// connectSession is Connect on sessionURL: the pool of the commands that
// need a real session (rebuild, migrate).
func (a *App) connectSession(ctx context.Context) (*pgxpool.Pool, error) {
	url := a.sessionURL()
	if url == "" {
		return nil, Usagef("no database: set DATABASE_URL or pass --database-url")
	}
	pool, err := a.OpenURL(ctx, url)
	if err != nil {
		return nil, err
	}
	if err := Ping(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

// Connect is Open followed by Ping.
func (a *App) Connect(ctx context.Context) (*pgxpool.Pool, error) {
	pool, err := a.Open(ctx)
	if err != nil {
		return nil, err
	}
	if err := Ping(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

// Ping connects pool to its database, with an error that names the server
// (never the password).
func Ping(ctx context.Context, pool *pgxpool.Pool) error {
	if err := pool.Ping(ctx); err != nil {
		return fmt.Errorf("connect to %s: %w", describe(pool.Config()), err)
	}
	return nil
}

// describe names a pool's server and database.
func describe(cfg *pgxpool.Config) string {
	return fmt.Sprintf("%s:%d/%s", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database)
}

// Engine builds the binary's sync engine over pool, logging through the
// run's logger.
func (a *App) Engine(pool *pgxpool.Pool) (*tvsync.Engine, error) {
	return a.engineWith(pool, tvsync.Config{})
}

func (a *App) engineWith(pool *pgxpool.Pool, cfg tvsync.Config) (*tvsync.Engine, error) {
	cfg.Logger = a.log
	cfg.Namespace = a.namespace
	e, err := a.cfg.NewEngine(pool, cfg)
	if err != nil {
		return nil, fmt.Errorf("build the sync engine: %w", err)
	}
	return e, nil
}

// session is a command's database and engine, opened but not yet connected.
type session struct {
	pool   *pgxpool.Pool
	engine *tvsync.Engine
}

// open opens the pool and builds the engine without connecting, so that
// a command can still check its flags against the engine (its entities)
// and fail with a usage error before any connection.
func (a *App) open(ctx context.Context) (*session, error) {
	pool, err := a.Open(ctx)
	if err != nil {
		return nil, err
	}
	return a.sessionOn(pool)
}

// openSession is open on sessionURL, for the commands that need a real
// session (rebuild).
func (a *App) openSession(ctx context.Context) (*session, error) {
	url := a.sessionURL()
	if url == "" {
		return nil, Usagef("no database: set DATABASE_URL or pass --database-url")
	}
	pool, err := a.OpenURL(ctx, url)
	if err != nil {
		return nil, err
	}
	return a.sessionOn(pool)
}

// sessionOn builds the engine on pool; on error it closes pool.
func (a *App) sessionOn(pool *pgxpool.Pool) (*session, error) {
	engine, err := a.Engine(pool)
	if err != nil {
		pool.Close()
		return nil, err
	}
	return &session{pool: pool, engine: engine}, nil
}

// ping connects the session.
func (s *session) ping(ctx context.Context) error { return Ping(ctx, s.pool) }

func (s *session) close() { s.pool.Close() }

// entities returns the entities an --entity flag selects: the named one
// (a usage error naming the value if it is not registered) or, when name is
// empty, all of them.
func entities(engine *tvsync.Engine, name string) ([]string, error) {
	if name == "" {
		return engine.Entities(), nil
	}
	if _, err := engine.Entity(name); err != nil {
		return nil, Usagef("--entity %q: unknown entity (registered: %s)", name, strings.Join(engine.Entities(), ", "))
	}
	return []string{name}, nil
}

// checkRange is a usage error unless lo <= v <= hi.
func checkRange[T int | int64](flag string, v, lo, hi T) error {
	if v < lo || v > hi {
		return Usagef("--%s %d: want %d to %d", flag, v, lo, hi)
	}
	return nil
}

// checkFormat is a usage error unless format is table or json.
func checkFormat(format string) error {
	if format != "table" && format != "json" {
		return Usagef("--format %q: want table or json", format)
	}
	return nil
}
