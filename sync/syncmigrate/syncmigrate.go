// Package syncmigrate holds tvsync's own migrations, an embedded goose set
// that creates everything tvsync owns in the PostgreSQL schema tvsync: the
// outbox tvsync.sync_queue, the metrics table tvsync.sync_log, the document
// timestamp helper tvsync.ts(timestamptz), and this set's goose version
// table tvsync.tvsync_migrations.
//
// Apply them with one call, before the application's own migrations (whose
// views may call tvsync.ts):
//
//	if _, err := syncmigrate.Up(ctx, pool); err != nil { ... }
//
// They never create an object outside schema tvsync (no tb_ or tv_ table, no
// row in the application's goose_db_version), so they sit next to any
// application's migrations and any application table called sync_log or
// sync_queue. The synccli kit runs them first in "migrate up", as set
// "tvsync".
//
// The schema's name is fixed: sqlc compiles tvsync's statements into static,
// schema-qualified SQL, and qualified names are what make every statement
// tvsync runs immune to the caller's search_path.
package syncmigrate

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/tvsync/tvsync/internal/goosestore"
)

// Schema is the PostgreSQL schema holding every object tvsync owns.
const Schema = "tvsync"

// VersionTable is the goose version table of tvsync's migrations, inside
// Schema, apart from the application's goose_db_version.
const VersionTable = Schema + ".tvsync_migrations"

// FS holds tvsync's migration files (*.sql) in goose's format. sqlc reads
// the same files as part of its schema.
//
//go:embed *.sql
var FS embed.FS

// ErrQueueNotEmpty is returned by Migrator.Down, Migrator.DownTo and Down,
// unless forced, while tvsync.sync_queue holds rows: rolling back would drop
// them with the queue.
var ErrQueueNotEmpty = errors.New("syncmigrate: tvsync.sync_queue still holds rows")

// Migrator runs tvsync's migrations against one database. Close it when
// done.
type Migrator struct {
	*goose.Provider
	db *sql.DB
}

// New returns a migrator of tvsync's migrations on pool, recording them in
// VersionTable (creating schema tvsync with it when missing). A session-level
// advisory lock (goose's) keeps two processes from migrating the same
// database at once; a process waits for it up to five minutes. A nil logger
// discards goose's messages.
func New(pool *pgxpool.Pool, logger *slog.Logger) (*Migrator, error) {
	store, err := goosestore.New(VersionTable)
	if err != nil {
		return nil, fmt.Errorf("syncmigrate: %w", err)
	}
	// goose's default polls for the lock every 5s; every second, for the same
	// five minutes, lets replicas starting together finish sooner.
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
	if err != nil {
		return nil, fmt.Errorf("syncmigrate: session locker: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	db := stdlib.OpenDBFromPool(pool)
	p, err := goose.NewProvider(goose.DialectCustom, db, FS, goose.WithStore(store), goose.WithSessionLocker(locker), goose.WithSlog(logger))
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("syncmigrate: load migrations: %w", err)
	}
	return &Migrator{Provider: p, db: db}, nil
}

// Close releases the migrator's database handle (not the pool).
func (m *Migrator) Close() error { return m.db.Close() }

// Up applies every pending migration of tvsync's set on pool and returns
// what it applied. It changes nothing outside schema tvsync.
func Up(ctx context.Context, pool *pgxpool.Pool) ([]*goose.MigrationResult, error) {
	m, err := New(pool, nil)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	res, err := m.Provider.Up(ctx)
	if err != nil {
		return res, fmt.Errorf("syncmigrate: up: %w", err)
	}
	return res, nil
}

// Down rolls back the latest migration of tvsync's set on pool, with
// Migrator.Down's check of the queue unless force is set. It is the Down of
// synccli's "tvsync" migration set.
func Down(ctx context.Context, pool *pgxpool.Pool, force bool) (*goose.MigrationResult, error) {
	m, err := New(pool, nil)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	return m.Down(ctx, force)
}

// Down rolls back the latest migration. Unless force is set, it first checks
// that tvsync.sync_queue is empty (or does not exist) and otherwise returns
// an error wrapping ErrQueueNotEmpty, rolling nothing back: drain the queue
// (stop the writers, run a worker once) or force the loss. A row queued
// between the check and the rollback is not caught; stop the writers and
// the workers first. With nothing to roll back it returns an error wrapping
// goose.ErrNoNextVersion.
func (m *Migrator) Down(ctx context.Context, force bool) (*goose.MigrationResult, error) {
	if err := m.checkQueue(ctx, force); err != nil {
		return nil, err
	}
	r, err := m.Provider.Down(ctx)
	if err != nil {
		return r, fmt.Errorf("syncmigrate: down: %w", err)
	}
	return r, nil
}

// DownTo rolls back every migration above version, with Down's check of
// the queue unless force is set.
func (m *Migrator) DownTo(ctx context.Context, version int64, force bool) ([]*goose.MigrationResult, error) {
	if err := m.checkQueue(ctx, force); err != nil {
		return nil, err
	}
	res, err := m.Provider.DownTo(ctx, version)
	if err != nil {
		return res, fmt.Errorf("syncmigrate: down to %d: %w", version, err)
	}
	return res, nil
}

// checkQueue fails with ErrQueueNotEmpty, naming the count, when
// tvsync.sync_queue exists and holds rows, pending or dead.
func (m *Migrator) checkQueue(ctx context.Context, force bool) error {
	if force {
		return nil
	}
	var exists bool
	if err := m.db.QueryRowContext(ctx, "SELECT to_regclass('tvsync.sync_queue') IS NOT NULL").Scan(&exists); err != nil {
		return fmt.Errorf("syncmigrate: look for tvsync.sync_queue: %w", err)
	}
	if !exists {
		return nil
	}
	var n int64
	if err := m.db.QueryRowContext(ctx, "SELECT count(*) FROM tvsync.sync_queue").Scan(&n); err != nil {
		return fmt.Errorf("syncmigrate: count tvsync.sync_queue rows: %w", err)
	}
	if n > 0 {
		return fmt.Errorf("%w: %d rows wait for a sync (pending or dead); drain them first (worker --once, status) or force the rollback (migrate down --set tvsync --force) to lose them", ErrQueueNotEmpty, n)
	}
	return nil
}
