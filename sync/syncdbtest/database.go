package syncdbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/peterldowns/pgtestdb"
)

// maxConns is the size of the pools returned by New and Empty.
const maxConns = 20

// New creates a fresh database for the test, cloned from the template
// migrated with tvsync's migrations and the sets given to [Main], and
// returns a pool (at most 20 connections) on it. The first call of the
// package builds the template, or finds it on the server from an earlier
// run. When the test ends the pool is closed, and the database dropped if
// the test passed; a failed test's database is kept and its name logged.
// It fails the test if [Main] has not run.
func New(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return openPool(t, URL(t))
}

// URL creates a fresh database for the test as [New] does and returns its
// connection URL, for code that opens its own connections (child processes,
// database/sql, a pool of another size). When the test ends the database is
// dropped if the test passed, terminating connections still open on it; a
// failed test's database is kept and its name logged.
func URL(t testing.TB) string {
	t.Helper()
	a := server(t)
	conf := pgtestdb.Config{
		DriverName:                "pgx",
		Host:                      a.Hostname(),
		Port:                      a.Port(),
		User:                      a.User.Username(),
		Database:                  "postgres",
		Options:                   "sslmode=disable",
		ForceTerminateConnections: true,
	}
	if pw, ok := a.User.Password(); ok {
		conf.Password = pw
	}
	if db := strings.TrimPrefix(a.Path, "/"); db != "" {
		conf.Database = db
	}
	if a.RawQuery != "" {
		conf.Options = a.RawQuery
	}
	db := pgtestdb.Custom(t, conf, migrator)
	logKept(t, db.Database)
	return db.URL()
}

// Empty creates a fresh, unmigrated database for the test and returns a
// pool (at most 20 connections) on it, for tests of migrations themselves.
// When the test ends the pool is closed, and the database dropped if the
// test passed; a failed test's database is kept and its name logged.
func Empty(t testing.TB) *pgxpool.Pool {
	t.Helper()
	server(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, ServerURL("postgres"))
	if err != nil {
		t.Fatalf("syncdbtest: connect to the server: %v", err)
	}
	defer conn.Close(ctx)
	var suffix [8]byte
	_, _ = rand.Read(suffix[:])
	name := "syncdbtest_empty_" + hex.EncodeToString(suffix[:])
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("syncdbtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, ServerURL("postgres"))
		if err != nil {
			t.Errorf("syncdbtest: connect to drop database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("syncdbtest: drop database %s: %v", name, err)
		}
	})
	logKept(t, name)
	return openPool(t, ServerURL(name))
}

// ServerURL returns the superuser URL of database db on the package's
// server, for tests that need an administrative connection (for example to
// the "postgres" database, or to a kept database by name). It panics if
// [Main] has not run.
func ServerURL(db string) string {
	if admin == nil {
		panic("syncdbtest: no server: call os.Exit(syncdbtest.Main(m, opts)) from TestMain")
	}
	u := *admin
	u.Path = "/" + db
	u.RawPath = ""
	return u.String()
}

// openPool opens a pool of maxConns connections on dbURL, closed when the
// test ends, before the database's own cleanup (registered earlier) drops it.
func openPool(t testing.TB, dbURL string) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		t.Fatalf("syncdbtest: parse database URL %q: %v", redact(dbURL), err)
	}
	cfg.MaxConns = maxConns
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("syncdbtest: open pool on %q: %v", redact(dbURL), err)
	}
	t.Cleanup(pool.Close)
	if err := pool.Ping(ctx); err != nil {
		t.Fatalf("syncdbtest: ping %q: %v", redact(dbURL), err)
	}
	return pool
}

// logKept logs, when the test ends failed, that database name stays on the
// server for inspection.
func logKept(t testing.TB, name string) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("syncdbtest: kept database %s of the failed test for inspection", name)
		}
	})
}

// server returns the server's superuser URL, failing the test if Main has
// not run.
func server(t testing.TB) *url.URL {
	t.Helper()
	if admin == nil || migrator == nil {
		t.Fatalf("syncdbtest: no server: call os.Exit(syncdbtest.Main(m, opts)) from TestMain")
	}
	return admin
}

// redact returns dbURL with its password, if any, masked.
func redact(dbURL string) string {
	u, err := url.Parse(dbURL)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
