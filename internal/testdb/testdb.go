// Package testdb gives each test its own freshly migrated PostgreSQL
// database.
//
// A test package opts in with
//
//	func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }
//
// which starts one throwaway server (see [pgserver]) for the whole package.
// Each call to [New] or [URL] then clones a database from a template that
// pgtestdb migrates once with tvsync's own migrations (package syncmigrate,
// schema tvsync) then the blog's, so a test gets an isolated, fully
// migrated database in milliseconds; [Empty] gives an unmigrated one. Databases of passing
// tests are dropped at cleanup; those of failing tests are kept (until the
// server stops) for inspection.
//
// Set TVSYNC_TEST_ADMIN_URL to the URL of a superuser on an already running
// server (for example "postgres://postgres:secret@localhost:5432/postgres")
// to use that server instead of starting one.
package testdb

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib" // registers database/sql driver "pgx" for pgtestdb
	"github.com/peterldowns/pgtestdb"

	"github.com/tvsync/tvsync/internal/migrate"
	"github.com/tvsync/tvsync/internal/pgserver"
	"github.com/tvsync/tvsync/migrations"
	"github.com/tvsync/tvsync/sync/syncmigrate"
)

// AdminURLEnv names the environment variable that, when set to the URL of a
// superuser on a running server, makes [Main] use that server instead of
// starting a throwaway one.
const AdminURLEnv = "TVSYNC_TEST_ADMIN_URL"

// maxConns is the size of the pool returned by [New].
const maxConns = 20

// admin is the superuser URL of the package's server, set by Main. Tests
// only read it, after Main has written it and before m.Run starts them.
var admin *url.URL

// Main starts the package's PostgreSQL server (or adopts the one named by
// TVSYNC_TEST_ADMIN_URL), runs the tests, stops the server and returns the
// exit code for os.Exit. Call it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }
func Main(m *testing.M) int {
	if raw := os.Getenv(AdminURLEnv); raw != "" {
		u, err := parseAdminURL(raw)
		if err != nil {
			fmt.Fprintf(os.Stderr, "testdb: %s: %v\n", AdminURLEnv, err)
			return 1
		}
		admin = u
		return m.Run()
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	srv, err := pgserver.Start(ctx, pgserver.Options{
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "testdb: start PostgreSQL (or set %s to use a running server): %v\n", AdminURLEnv, err)
		return 1
	}
	admin, err = url.Parse(srv.URL("postgres"))
	if err != nil { // cannot happen: pgserver builds the URL
		_ = srv.Stop()
		fmt.Fprintf(os.Stderr, "testdb: parse server URL %q: %v\n", srv.URL("postgres"), err)
		return 1
	}

	code := m.Run()
	if err := srv.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "testdb: stop PostgreSQL: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// New creates a fresh database for the test, cloned from the migrated
// template, and returns a pool (at most 20 connections) on it. The pool is
// closed, and the database dropped if the test passed, when the test ends.
func New(t testing.TB) *pgxpool.Pool {
	t.Helper()
	dbURL := URL(t)

	cfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		t.Fatalf("testdb: parse database URL %q: %v", dbURL, err)
	}
	cfg.MaxConns = maxConns
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("testdb: open pool on %q: %v", dbURL, err)
	}
	// Registered after URL's (pgtestdb's) cleanup, so it runs first: the pool
	// is closed before the database is dropped.
	t.Cleanup(pool.Close)
	if err := pool.Ping(ctx); err != nil {
		t.Fatalf("testdb: ping %q: %v", dbURL, err)
	}
	return pool
}

// URL creates a fresh database for the test, cloned from the migrated
// template, and returns its connection URL, for code that opens its own
// connections (child processes, database/sql, ...). The database is dropped
// when the test ends if it passed; connections still open are terminated.
func URL(t testing.TB) string {
	t.Helper()
	conf := pgtestdb.Config{
		DriverName:                "pgx",
		Host:                      server(t).Hostname(),
		Port:                      admin.Port(),
		User:                      admin.User.Username(),
		Database:                  "postgres",
		Options:                   "sslmode=disable",
		ForceTerminateConnections: true,
	}
	if pw, ok := admin.User.Password(); ok {
		conf.Password = pw
	}
	if db := trimSlash(admin.Path); db != "" {
		conf.Database = db
	}
	if admin.RawQuery != "" {
		conf.Options = admin.RawQuery
	}
	return pgtestdb.Custom(t, conf, setsMigrator{}).URL()
}

// setsMigrator is the pgtestdb migrator of the template: tvsync's own
// migrations, then the blog's, each with its version table, exactly as
// migrate.Up applies them.
type setsMigrator struct{}

// Hash identifies the template by both sets' files and version tables, so a
// change to either builds a new template.
func (setsMigrator) Hash() (string, error) {
	h := sha256.New()
	for _, set := range []struct {
		table string
		fsys  fs.FS
	}{{syncmigrate.VersionTable, syncmigrate.FS}, {"goose_db_version", migrations.FS}} {
		fmt.Fprintf(h, "set %s\n", set.table)
		err := fs.WalkDir(set.fsys, ".", func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := fs.ReadFile(set.fsys, path)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "%s %d\n%s\n", path, len(b), b)
			return nil
		})
		if err != nil {
			return "", fmt.Errorf("testdb: hash the migrations of %s: %w", set.table, err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Migrate applies both sets to the new template database.
func (setsMigrator) Migrate(ctx context.Context, _ *sql.DB, conf pgtestdb.Config) error {
	pool, err := pgxpool.New(ctx, conf.URL())
	if err != nil {
		return fmt.Errorf("testdb: open the template database: %w", err)
	}
	defer pool.Close()
	if _, err := migrate.Up(ctx, pool, nil); err != nil {
		return fmt.Errorf("testdb: migrate the template database: %w", err)
	}
	return nil
}

// Empty creates a fresh, unmigrated database for the test and returns a
// pool (at most 20 connections) on it, for tests of migrations themselves.
// The pool is closed when the test ends, and the database dropped if the
// test passed.
func Empty(t testing.TB) *pgxpool.Pool {
	t.Helper()
	server(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, ServerURL("postgres"))
	if err != nil {
		t.Fatalf("testdb: connect to the server: %v", err)
	}
	defer admin.Close(ctx)
	var suffix [8]byte
	_, _ = rand.Read(suffix[:])
	name := "testdb_empty_" + hex.EncodeToString(suffix[:])
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("testdb: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("testdb: kept database %s of the failed test", name)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin, err := pgx.Connect(ctx, ServerURL("postgres"))
		if err != nil {
			t.Errorf("testdb: connect to drop database %s: %v", name, err)
			return
		}
		defer admin.Close(ctx)
		if _, err := admin.Exec(ctx, "DROP DATABASE "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("testdb: drop database %s: %v", name, err)
		}
	})
	cfg, err := pgxpool.ParseConfig(ServerURL(name))
	if err != nil {
		t.Fatalf("testdb: parse database URL: %v", err)
	}
	cfg.MaxConns = maxConns
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("testdb: open pool on %s: %v", name, err)
	}
	t.Cleanup(pool.Close) // registered last, so it runs before the drop
	return pool
}

// ServerURL returns the superuser URL of database db on the package's
// server, for tests that need an administrative connection (for example to
// the "postgres" database). It panics if [Main] has not run.
func ServerURL(db string) string {
	if admin == nil {
		panic("testdb: no server: call testdb.Main from TestMain")
	}
	u := *admin
	u.Path = "/" + db
	u.RawPath = ""
	return u.String()
}

// server returns the server's superuser URL, failing the test if Main has
// not run.
func server(t testing.TB) *url.URL {
	t.Helper()
	if admin == nil {
		t.Fatalf("testdb: no server: call os.Exit(testdb.Main(m)) from TestMain")
	}
	return admin
}

// parseAdminURL validates a TVSYNC_TEST_ADMIN_URL value.
func parseAdminURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("parse URL: %w", err)
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return nil, fmt.Errorf("%q: scheme must be postgres:// or postgresql://", u.Redacted())
	}
	if u.Hostname() == "" || u.User == nil || u.User.Username() == "" {
		return nil, fmt.Errorf("%q: URL must name a host and a user", u.Redacted())
	}
	if u.Port() == "" {
		u.Host += ":5432"
	}
	return u, nil
}

func trimSlash(p string) string {
	if len(p) > 0 && p[0] == '/' {
		return p[1:]
	}
	return p
}
