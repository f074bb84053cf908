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
// or, for any set (tvsync's own or an application's) and either direction,
// through a Migrator, as River's rivermigrate does:
//
//	m, err := syncmigrate.New(pool, &syncmigrate.Config{Set: shopSet})
//	...
//	defer m.Close()
//	res, err := m.Migrate(ctx, syncmigrate.DirectionDown, &syncmigrate.MigrateOpts{MaxSteps: 1})
//
// goose (its Provider API, under a session lock) runs the migrations
// underneath; the API speaks this package's types only.
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
	"embed"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
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

// Errors of Migrate.
var (
	// ErrQueueNotEmpty is returned by Migrate down on tvsync's own set,
	// unless MigrateOpts.Force is set, while tvsync.sync_queue holds rows:
	// rolling back would drop them with the queue.
	ErrQueueNotEmpty = errors.New("syncmigrate: tvsync.sync_queue still holds rows")
	// ErrNoMigration is returned by Migrate down when the set has no
	// applied migration to roll back.
	ErrNoMigration = errors.New("syncmigrate: no migration to roll back")
)

// Up applies every pending migration of tvsync's own set on pool, as
// New(pool, nil) then Migrate(ctx, DirectionUp, nil) do, and returns what it
// applied. It changes nothing outside schema tvsync.
func Up(ctx context.Context, pool *pgxpool.Pool) (*MigrateResult, error) {
	m, err := New(pool, nil)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	return m.Migrate(ctx, DirectionUp, nil)
}

// checkQueue is Own's CheckDown: it fails with ErrQueueNotEmpty, naming the
// count, when tvsync.sync_queue exists and holds rows, pending or dead.
func checkQueue(ctx context.Context, pool *pgxpool.Pool) error {
	var exists bool
	if err := pool.QueryRow(ctx, "SELECT to_regclass('tvsync.sync_queue') IS NOT NULL").Scan(&exists); err != nil {
		return fmt.Errorf("syncmigrate: look for tvsync.sync_queue: %w", err)
	}
	if !exists {
		return nil
	}
	var n int64
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM tvsync.sync_queue").Scan(&n); err != nil {
		return fmt.Errorf("syncmigrate: count tvsync.sync_queue rows: %w", err)
	}
	if n > 0 {
		return fmt.Errorf("%w: %d rows wait for a sync (pending or dead); drain them first (worker --once, status) or force the rollback (migrate down --set tvsync --force) to lose them", ErrQueueNotEmpty, n)
	}
	return nil
}
