// Package bench is tvsync's side-by-side benchmark suite: it loads one data
// set with internal/seed into a template database (kept between runs on
// request, so large data sets are seeded once), clones it, then measures
// tvsync's explicit sync against the alternatives on the same data (raw
// pgx, the seed's per-row loop, row and statement triggers, INSERT …
// SELECT, materialized views, documents built at read time), locally and
// through a proxy that adds a network's round trip, and renders the result
// as a markdown report and a PNG chart.
//
// Every comparison alternates its variants run by run in one sitting and is
// judged on the median of the per-run ratios; every run records the load
// average beside its figures.
//
// Every measurement is a function of its own (MeasureBatchSync,
// MeasureWritePath, MeasureFullRebuild, MeasureReadPath, MeasureDeferredLag,
// MeasureWideCrossover, MeasureScale), used both by Run (the `tvsync-bench`
// command and `make bench`) and by the thin Go benchmarks of bench_test.go.
package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tvsync/tvsync/blog"
	"github.com/tvsync/tvsync/internal/pgserver"
	"github.com/tvsync/tvsync/internal/seed"
	"github.com/tvsync/tvsync/repository"
	tvsync "github.com/tvsync/tvsync/sync"
)

// Scale is the size of the seeded data set.
type Scale struct {
	// Name labels the scale in the report ("main", "1m", "tiny").
	Name string
	// Seed says how many rows of each table are generated.
	Seed seed.Options
}

// The scales the suite knows.
var (
	// ScaleMain is the main scale: 10k users, 100k posts, 500k comments,
	// 200k likes. Every measurement runs on it.
	ScaleMain = Scale{Name: "main", Seed: seed.Options{Users: 10_000, Posts: 100_000, Comments: 500_000, Likes: 200_000}}
	// Scale1M is the large scale: 100k users, 1M posts, 5M comments, 2M
	// likes. Only the full rebuild and the peak memory run on it.
	Scale1M = Scale{Name: "1m", Seed: seed.Options{Users: 100_000, Posts: 1_000_000, Comments: 5_000_000, Likes: 2_000_000}}
	// ScaleTiny is the smoke-test scale: every measurement in seconds.
	ScaleTiny = Scale{Name: "tiny", Seed: seed.Options{Users: 50, Posts: 300, Comments: 1_500, Likes: 400}}
	// ScaleTiny10 is ten times ScaleTiny: the larger side of the tiny
	// scale's scale table.
	ScaleTiny10 = Scale{Name: "tiny10", Seed: seed.Options{Users: 500, Posts: 3_000, Comments: 15_000, Likes: 4_000}}
)

// ParseScale returns the scale named name: "main", "1m" or "tiny".
// ("tiny10" is only the larger side of the tiny scale table.)
func ParseScale(name string) (Scale, error) {
	switch strings.ToLower(name) {
	case "", "main", "100k":
		return ScaleMain, nil
	case "1m":
		return Scale1M, nil
	case "tiny":
		return ScaleTiny, nil
	}
	return Scale{}, fmt.Errorf("bench: unknown scale %q (want main, 1m or tiny)", name)
}

// ServerSettings are the settings of the throwaway server StartServer
// starts, on top of pgserver's (fsync, synchronous_commit and
// full_page_writes off). They are reported with the results.
var ServerSettings = map[string]string{
	"shared_buffers": "1GB",
	"work_mem":       "16MB",
}

// DefaultDataDir returns where the data set of scale is kept between runs
// when no directory is given: /var/tmp/tvsync-bench-1m for the 1M scale
// (seeding it takes longer than the run), none for the others.
func DefaultDataDir(scale Scale) string {
	if scale.Name == Scale1M.Name {
		return "/var/tmp/tvsync-bench-1m"
	}
	return ""
}

// StartServer returns the URL of an administrative connection to a
// PostgreSQL server for the suite: databaseURL when it is set (the suite
// then creates and drops databases of its own on that server, so the role
// needs CREATEDB); else, with dataDir, a server on the persistent cluster
// in dataDir (created on first use, owned by the postgres user when run as
// root) that keeps its template databases for the next run; else a
// throwaway server. Call stop when done; it stops the server it started
// (and keeps dataDir).
func StartServer(ctx context.Context, databaseURL, dataDir string, logger *slog.Logger) (adminURL string, stop func(), err error) {
	adminURL, _, stop, err = StartServerWithReplica(ctx, databaseURL, dataDir, logger)
	return adminURL, stop, err
}

// StartServerWithReplica is StartServer that also returns, when it started
// the server itself, a ReplicaStarter of it (nil on databaseURL's server).
func StartServerWithReplica(ctx context.Context, databaseURL, dataDir string, logger *slog.Logger) (adminURL string, replica ReplicaStarter, stop func(), err error) {
	if databaseURL != "" {
		return databaseURL, nil, func() {}, nil
	}
	if dataDir != "" {
		logger.InfoContext(ctx, "bench: starting PostgreSQL on a kept data directory", slog.String("dir", dataDir))
	} else {
		logger.InfoContext(ctx, "bench: starting a throwaway PostgreSQL server")
	}
	srv, err := pgserver.Start(ctx, pgserver.Options{Logger: logger, Settings: ServerSettings, DataDir: dataDir})
	if err != nil {
		return "", nil, nil, fmt.Errorf("bench: start PostgreSQL: %w", err)
	}
	if dataDir != "" {
		if err := dropLeftovers(ctx, srv.URL("postgres"), logger); err != nil {
			_ = srv.Stop()
			return "", nil, nil, err
		}
	}
	replica = func(ctx context.Context) (string, func(), error) {
		r, err := srv.StartReplica(ctx, ServerSettings)
		if err != nil {
			return "", nil, fmt.Errorf("bench: start a replica: %w", err)
		}
		return r.URL("postgres"), func() { _ = r.Stop() }, nil
	}
	return srv.URL("postgres"), replica, func() { _ = srv.Stop() }, nil
}

// dropLeftovers drops the benchmark databases an interrupted run left on a
// kept cluster (clones, and templates that were not kept), which would
// otherwise pile up: a clone of the 1M data set takes gigabytes. Kept
// templates (TemplateName) stay. Only for a cluster the suite owns: on a
// server of --database-url another run may be using them.
func dropLeftovers(ctx context.Context, adminURL string, logger *slog.Logger) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("bench: connect to the kept cluster: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, err := conn.Query(ctx, "SELECT datname FROM pg_database WHERE datname LIKE 'tvsync\\_bench\\_%' ORDER BY datname")
	if err != nil {
		return fmt.Errorf("bench: list leftover databases: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("bench: list leftover databases: %w", err)
	}
	kept := map[string]bool{}
	for _, s := range []Scale{ScaleMain, Scale1M, ScaleTiny, ScaleTiny10} {
		kept[TemplateName(s)] = true
	}
	for _, name := range names {
		if kept[name] {
			continue
		}
		logger.InfoContext(ctx, "bench: dropping a database an interrupted run left", slog.String("database", name))
		if _, err := conn.Exec(ctx, "DROP DATABASE "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			return fmt.Errorf("bench: drop leftover database %s: %w", name, err)
		}
	}
	return nil
}

// Options configures Setup.
type Options struct {
	// AdminURL is a connection to any database of the server, as a role
	// allowed to create databases.
	AdminURL string
	// Scale is the data set to load; the zero value means ScaleMain.
	Scale Scale
	// Logger receives progress lines; nil discards them.
	Logger *slog.Logger
	// NoWriteClone skips the clone database the write-path, trigger and
	// lag measurements run in (only the main database is set up).
	NoWriteClone bool
	// KeepTemplate keeps the seeded and synced data set on the server as
	// the template database TemplateName(Scale), for later runs to clone
	// instead of seeding again; a kept template built from other
	// migrations or other row counts is rebuilt. Without it the template
	// is dropped with the Env.
	KeepTemplate bool
}

// Env is a seeded, fully synced benchmark database, plus a clone of it for
// the measurements that write (write path, triggers, deferred lag), so
// those never disturb the others; both are cloned from a template database
// holding the data set (see Options.KeepTemplate). Close drops both.
type Env struct {
	// Scale is the loaded data set.
	Scale Scale
	// URL is the main database's connection URL.
	URL string
	// Pool, Engine and Repo work on the main database. The pool allows 24
	// connections; the engine writes sync_log like any application's.
	Pool   *pgxpool.Pool
	Engine *tvsync.Engine
	Repo   *repository.Repository
	// Write is the clone used by write-path and lag measurements (nil
	// with Options.NoWriteClone).
	Write *DB
	// PostIDs are every seeded post, in id order, without the HotPosts;
	// UserIDs every seeded user.
	PostIDs, UserIDs []uuid.UUID
	// HotPosts are the posts the suite adds with many comments
	// (HotPostComments), fewest comments first.
	HotPosts []HotPost
	// ServerVersion is the server's version string.
	ServerVersion string
	// SetupTimes records how long each setup phase of this run took.
	SetupTimes []Phase
	// Template describes the template database the data set came from.
	Template TemplateInfo
	// Network is the delay the proxy of a Networked view adds each way;
	// zero for a direct Env.
	Network time.Duration

	log      *slog.Logger
	admin    *pgxpool.Pool
	dbs      []string
	adminURL string
	closers  []func()
}

// DB is one benchmark database: a pool and an engine on it.
type DB struct {
	// Name is the database name; URL its connection URL.
	Name, URL string
	// Pool allows 24 connections.
	Pool *pgxpool.Pool
	// Engine syncs the blog entities on Pool.
	Engine *tvsync.Engine
}

// HotPost is a post with many comments, added to every data set.
type HotPost struct {
	ID       uuid.UUID
	Comments int
}

// Phase is a named duration.
type Phase struct {
	Name     string
	Duration time.Duration
}

// Setup creates the data set of opts.Scale on the server of opts.AdminURL
// (or reuses the kept template, see Options.KeepTemplate), then clones it
// into the main database and, unless opts.NoWriteClone, into the write
// clone. On error everything created so far is dropped (a kept template
// only if it was not complete).
func Setup(ctx context.Context, opts Options) (env *Env, err error) {
	if opts.Scale.Name == "" {
		opts.Scale = ScaleMain
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	env = &Env{Scale: opts.Scale, log: logger, adminURL: opts.AdminURL}
	if env.admin, err = env.openAdmin(ctx); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			env.Close()
			env = nil
		}
	}()
	if err := env.admin.QueryRow(ctx, "SHOW server_version").Scan(&env.ServerVersion); err != nil {
		return env, fmt.Errorf("bench: read server version: %w", err)
	}
	tmpl, err := env.template(ctx, opts.KeepTemplate)
	if err != nil {
		return env, err
	}

	name := "tvsync_bench_" + randomSuffix()
	main, err := env.clone(ctx, tmpl, name, "clone the data set into "+name)
	if err != nil {
		return env, err
	}
	env.URL, env.Pool = main.URL, main.Pool
	env.Engine = blog.MustNewEngine(env.Pool, tvsync.Config{Logger: logger, SlowThreshold: -1})
	env.Repo = repository.New(env.Pool, env.Engine, repository.Options{Logger: logger})
	if env.HotPosts, err = hotPosts(ctx, env.Pool); err != nil {
		return env, err
	}
	if env.PostIDs, err = ids(ctx, env.Pool, "SELECT id FROM tb_post WHERE id <> ALL($1) ORDER BY id", hotIDs(env.HotPosts)); err != nil {
		return env, err
	}
	if env.UserIDs, err = ids(ctx, env.Pool, "SELECT id FROM tb_user ORDER BY id"); err != nil {
		return env, err
	}
	if !opts.NoWriteClone {
		if env.Write, err = env.clone(ctx, tmpl, name+"_write", "clone the data set for the write measurements"); err != nil {
			return env, err
		}
		env.Write.Engine = blog.MustNewEngine(env.Write.Pool, tvsync.Config{Logger: logger, SlowThreshold: -1})
	}
	return env, nil
}

// clone creates database name from template tmpl (a file copy) and opens
// it; the database is dropped by Close.
func (env *Env) clone(ctx context.Context, tmpl, name, phase string) (*DB, error) {
	done := env.phase(ctx, phase)
	if _, err := env.admin.Exec(ctx, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s STRATEGY FILE_COPY",
		pgx.Identifier{name}.Sanitize(), pgx.Identifier{tmpl}.Sanitize())); err != nil {
		return nil, fmt.Errorf("bench: clone %s into %s: %w", tmpl, name, err)
	}
	env.dbs = append(env.dbs, name)
	d, err := env.open(ctx, name, connOptions{})
	if err != nil {
		return nil, err
	}
	done()
	return d, nil
}

// connOptions says how open connects.
type connOptions struct {
	// proxy, if set, carries every connection.
	proxy *Proxy
	// appName is the connections' application_name (shown in
	// pg_stat_activity).
	appName string
	// maxConns is the pool size; zero means 24.
	maxConns int32
}

// open connects to database name of the admin URL's server.
func (env *Env) open(ctx context.Context, name string, o connOptions) (*DB, error) {
	u, err := url.Parse(env.adminURL)
	if err != nil {
		return nil, fmt.Errorf("bench: parse admin URL: %w", err)
	}
	u.Path = "/" + name
	cfg, err := pgxpool.ParseConfig(u.String())
	if err != nil {
		return nil, fmt.Errorf("bench: parse URL of %s: %w", name, err)
	}
	cfg.MaxConns = 24
	if o.maxConns > 0 {
		cfg.MaxConns = o.maxConns
	}
	if o.appName != "" {
		cfg.ConnConfig.RuntimeParams["application_name"] = o.appName
	}
	if o.proxy != nil {
		addr := o.proxy.Addr()
		cfg.ConnConfig.DialFunc = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", addr)
		}
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("bench: connect to %s: %w", name, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("bench: connect to %s: %w", name, err)
	}
	return &DB{Name: name, URL: u.String(), Pool: pool}, nil
}

// Networked returns a view of env whose pools (of the main database and of
// the write clone) reach the server through a Proxy that delays every chunk
// of bytes by delay in each direction: the same databases, engines and
// repository, with a network between client and server. Close the view
// (its pools and proxy) before env; it drops no database.
func (env *Env) Networked(ctx context.Context, delay time.Duration) (_ *Env, err error) {
	cfg, err := pgxpool.ParseConfig(env.adminURL)
	if err != nil {
		return nil, fmt.Errorf("bench: parse admin URL: %w", err)
	}
	network, addr := pgconn.NetworkAddress(cfg.ConnConfig.Host, cfg.ConnConfig.Port)
	proxy, err := StartProxy(context.WithoutCancel(ctx), network, addr, ProxyOptions{Delay: delay})
	if err != nil {
		return nil, err
	}
	view := *env
	view.admin, view.dbs, view.SetupTimes, view.Network = nil, nil, nil, delay
	view.closers = []func(){proxy.Close}
	defer func() {
		if err != nil {
			view.Close()
		}
	}()
	main, err := view.open(ctx, dbName(env.URL), connOptions{proxy: proxy})
	if err != nil {
		return nil, err
	}
	view.closers = append(view.closers, main.Pool.Close)
	view.Pool = main.Pool
	view.Engine = blog.MustNewEngine(view.Pool, tvsync.Config{Logger: env.log, SlowThreshold: -1})
	view.Repo = repository.New(view.Pool, view.Engine, repository.Options{Logger: env.log})
	if env.Write != nil {
		var w *DB
		if w, err = view.open(ctx, env.Write.Name, connOptions{proxy: proxy}); err != nil {
			return nil, err
		}
		view.closers = append(view.closers, w.Pool.Close)
		w.Engine = blog.MustNewEngine(w.Pool, tvsync.Config{Logger: env.log, SlowThreshold: -1})
		view.Write = w
	}
	// The view's pools are closed by its closers, not by the Pool/Write
	// fields, so that closing a view never closes env's pools.
	return &view, nil
}

// dbName returns the database name of a connection URL.
func dbName(dbURL string) string {
	u, err := url.Parse(dbURL)
	if err != nil {
		return ""
	}
	return strings.TrimPrefix(u.Path, "/")
}

// phase logs the start of a setup phase and returns the function that logs
// and records its end.
func (env *Env) phase(ctx context.Context, name string) func() {
	env.log.InfoContext(ctx, "bench: "+name)
	start := time.Now()
	return func() {
		d := time.Since(start)
		env.SetupTimes = append(env.SetupTimes, Phase{Name: name, Duration: d})
		env.log.InfoContext(ctx, "bench: done", slog.String("phase", name), slog.Duration("took", d.Round(time.Millisecond)))
	}
}

// Close closes the pools and drops the databases Setup created. It is safe
// to call on a partly set-up Env. On a Networked view it closes the view's
// pools and proxy only.
func (env *Env) Close() {
	if env == nil {
		return
	}
	if len(env.closers) > 0 {
		for i := len(env.closers) - 1; i >= 0; i-- {
			env.closers[i]()
		}
		return
	}
	if env.Write != nil {
		env.Write.Pool.Close()
	}
	if env.Pool != nil {
		env.Pool.Close()
	}
	if env.admin == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, name := range env.dbs {
		if _, err := env.admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			env.log.WarnContext(ctx, "bench: drop database", slog.String("database", name), slog.Any("error", err))
		}
	}
	env.admin.Close()
}

// ids runs a query listing uuids.
func ids(ctx context.Context, conn interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, sql string, args ...any) ([]uuid.UUID, error) {
	rows, err := conn.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("bench: %s: %w", sql, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, fmt.Errorf("bench: %s: %w", sql, err)
	}
	return out, nil
}

func randomSuffix() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// errNoWriteDB is returned by the write measurements on an Env set up
// with NoWriteClone.
var errNoWriteDB = errors.New("bench: this measurement needs the write clone (Options.NoWriteClone was set)")

// openAdmin opens a pool on the admin URL.
func (env *Env) openAdmin(ctx context.Context) (*pgxpool.Pool, error) {
	pool, err := pgxpool.New(ctx, env.adminURL)
	if err != nil {
		return nil, fmt.Errorf("bench: connect to the admin URL: %w", err)
	}
	return pool, nil
}
