// Package bench is tvsync's side-by-side benchmark suite: it loads one data
// set with internal/seed into a database of its own, then measures tvsync's
// explicit sync against the alternatives on the same data (raw pgx, the
// seed's per-row loop, row and statement triggers, INSERT … SELECT,
// materialized views, documents built at read time) and renders the result
// as a markdown table and a PNG chart.
//
// Every measurement is a function of its own (MeasureBatchSync,
// MeasureWritePath, MeasureFullRebuild, MeasureReadPath, MeasureDeferredLag,
// MeasureWideCrossover), used both by Run (the `tvsync bench` command and
// `make bench`) and by the thin Go benchmarks of bench_test.go.
package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tvsync/tvsync/internal/migrate"
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
)

// ParseScale returns the scale named name: "main", "1m" or "tiny".
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

// StartServer returns the URL of an administrative connection to a
// PostgreSQL server for the suite: databaseURL when it is set (the suite
// then creates and drops databases of its own on that server, so the role
// needs CREATEDB), else a throwaway server started with pgserver. Call stop
// when done; it stops the throwaway server.
func StartServer(ctx context.Context, databaseURL string, logger *slog.Logger) (adminURL string, stop func(), err error) {
	if databaseURL != "" {
		return databaseURL, func() {}, nil
	}
	logger.InfoContext(ctx, "bench: starting a throwaway PostgreSQL server")
	srv, err := pgserver.Start(ctx, pgserver.Options{Logger: logger, Settings: ServerSettings})
	if err != nil {
		return "", nil, fmt.Errorf("bench: start PostgreSQL: %w", err)
	}
	return srv.URL("postgres"), func() { _ = srv.Stop() }, nil
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
}

// Env is a seeded, fully synced benchmark database, plus a clone of it for
// the measurements that write (write path, triggers, deferred lag), so
// those never disturb the others. Close drops both.
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
	// PostIDs and UserIDs are every seeded post and user, in id order.
	PostIDs, UserIDs []uuid.UUID
	// ServerVersion is the server's version string.
	ServerVersion string
	// SetupTimes records how long each setup phase took.
	SetupTimes []Phase

	log      *slog.Logger
	admin    *pgxpool.Pool
	dbs      []string
	adminURL string
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

// Phase is a named duration.
type Phase struct {
	Name     string
	Duration time.Duration
}

// Setup creates a fresh database on the server of opts.AdminURL, migrates
// it, seeds it with opts.Scale, full-syncs every tv_ table, runs ANALYZE,
// and clones it for the write measurements. On error everything created so
// far is dropped.
func Setup(ctx context.Context, opts Options) (env *Env, err error) {
	if opts.Scale.Name == "" {
		opts.Scale = ScaleMain
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	admin, err := pgxpool.New(ctx, opts.AdminURL)
	if err != nil {
		return nil, fmt.Errorf("bench: connect to the admin URL: %w", err)
	}
	env = &Env{Scale: opts.Scale, log: logger, admin: admin, adminURL: opts.AdminURL}
	defer func() {
		if err != nil {
			env.Close()
			env = nil
		}
	}()
	if err := admin.QueryRow(ctx, "SHOW server_version").Scan(&env.ServerVersion); err != nil {
		return env, fmt.Errorf("bench: read server version: %w", err)
	}
	suffix := randomSuffix()
	name := "tvsync_bench_" + suffix
	phase := env.phase(ctx, "create and migrate database "+name)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return env, fmt.Errorf("bench: create database %s: %w", name, err)
	}
	env.dbs = append(env.dbs, name)
	main, err := env.open(ctx, name)
	if err != nil {
		return env, err
	}
	env.URL, env.Pool = main.URL, main.Pool
	if _, err := migrate.Up(ctx, env.Pool, nil); err != nil {
		return env, fmt.Errorf("bench: migrate %s: %w", name, err)
	}
	phase()

	sc := opts.Scale.Seed
	phase = env.phase(ctx, fmt.Sprintf("seed %d users, %d posts, %d comments, %d likes (COPY)", sc.Users, sc.Posts, sc.Comments, sc.Likes))
	sc.Progress = func(table string, done, total int) {
		if done == total || done%(10*seed.ProgressInterval) == 0 {
			logger.InfoContext(ctx, "bench: seeding", slog.String("table", table), slog.Int("rows", done), slog.Int("total", total))
		}
	}
	if _, err := seed.Load(ctx, env.Pool, sc); err != nil {
		return env, fmt.Errorf("bench: seed: %w", err)
	}
	phase()

	env.Engine = tvsync.New(env.Pool, tvsync.Config{Logger: logger, SlowThreshold: -1})
	for _, entity := range []string{tvsync.EntityUser, tvsync.EntityPost, tvsync.EntityComment} {
		phase = env.phase(ctx, "initial full sync of tv_"+entity)
		if _, err := env.Engine.FullSync(ctx, entity, tvsync.FullOptions{}); err != nil {
			return env, fmt.Errorf("bench: initial full sync of %s: %w", entity, err)
		}
		phase()
	}
	phase = env.phase(ctx, "VACUUM ANALYZE")
	if _, err := env.Pool.Exec(ctx, "VACUUM ANALYZE"); err != nil {
		return env, fmt.Errorf("bench: vacuum analyze: %w", err)
	}
	phase()
	if env.PostIDs, err = ids(ctx, env.Pool, "SELECT id FROM tb_post ORDER BY id"); err != nil {
		return env, err
	}
	if env.UserIDs, err = ids(ctx, env.Pool, "SELECT id FROM tb_user ORDER BY id"); err != nil {
		return env, err
	}

	if !opts.NoWriteClone {
		phase = env.phase(ctx, "clone the database for the write measurements")
		env.Pool.Close() // a template must have no other connection
		clone := name + "_write"
		if _, err := admin.Exec(ctx, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s STRATEGY FILE_COPY",
			pgx.Identifier{clone}.Sanitize(), pgx.Identifier{name}.Sanitize())); err != nil {
			return env, fmt.Errorf("bench: clone %s into %s: %w", name, clone, err)
		}
		env.dbs = append(env.dbs, clone)
		if main, err = env.open(ctx, name); err != nil {
			return env, err
		}
		env.Pool = main.Pool
		env.Engine = tvsync.New(env.Pool, tvsync.Config{Logger: logger, SlowThreshold: -1})
		if env.Write, err = env.open(ctx, clone); err != nil {
			return env, err
		}
		env.Write.Engine = tvsync.New(env.Write.Pool, tvsync.Config{Logger: logger, SlowThreshold: -1})
		phase()
	}
	env.Repo = repository.New(env.Pool, env.Engine, repository.Options{Logger: logger})
	return env, nil
}

// open connects to database name of the admin URL's server.
func (env *Env) open(ctx context.Context, name string) (*DB, error) {
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
// to call on a partly set-up Env.
func (env *Env) Close() {
	if env == nil {
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
