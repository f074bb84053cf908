// Package migrate runs tvsync's embedded goose migrations through goose's
// Provider API on a pgx pool.
package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/tvsync/tvsync/migrations"
)

// ErrQueueNotEmpty is returned by Migrator.Down and Migrator.DownTo, unless
// forced, while sync_queue holds rows: rolling back would drop them with the
// queue, or take away what the worker that is draining them needs.
var ErrQueueNotEmpty = errors.New("migrate: sync_queue still holds rows")

// Migrator runs the migrations of package migrations against one database.
// Close it when done.
type Migrator struct {
	*goose.Provider
	db *sql.DB
}

// New returns a migrator on pool. A session-level advisory lock keeps two
// processes from migrating the same database at once.
func New(pool *pgxpool.Pool, logger *slog.Logger) (*Migrator, error) {
	db := stdlib.OpenDBFromPool(pool)
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("migrate: session locker: %w", err)
	}
	opts := []goose.ProviderOption{goose.WithSessionLocker(locker)}
	if logger != nil {
		opts = append(opts, goose.WithSlog(logger))
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS, opts...)
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("migrate: load migrations: %w", err)
	}
	return &Migrator{Provider: p, db: db}, nil
}

// Close releases the migrator's database handle (not the pool).
func (m *Migrator) Close() error { return m.db.Close() }

// Up applies every pending migration.
func Up(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger) ([]*goose.MigrationResult, error) {
	m, err := New(pool, logger)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	res, err := m.Provider.Up(ctx)
	if err != nil {
		return res, fmt.Errorf("migrate up: %w", err)
	}
	return res, nil
}

// Down rolls back the most recent migration. Unless force is set, it first
// checks that sync_queue is empty (or does not exist) and otherwise returns
// an error wrapping ErrQueueNotEmpty, rolling nothing back: drain the queue
// (stop the writers, run tvsync worker --once) or force the loss. A row
// queued between the check and the rollback is not caught; stop the writers
// and the workers first.
func (m *Migrator) Down(ctx context.Context, force bool) (*goose.MigrationResult, error) {
	if err := m.checkQueue(ctx, force); err != nil {
		return nil, err
	}
	return m.Provider.Down(ctx)
}

// DownTo rolls back every migration above version, with Down's check of
// sync_queue unless force is set.
func (m *Migrator) DownTo(ctx context.Context, version int64, force bool) ([]*goose.MigrationResult, error) {
	if err := m.checkQueue(ctx, force); err != nil {
		return nil, err
	}
	return m.Provider.DownTo(ctx, version)
}

// checkQueue fails with ErrQueueNotEmpty, naming the count, when sync_queue
// exists and holds rows, pending or dead.
func (m *Migrator) checkQueue(ctx context.Context, force bool) error {
	if force {
		return nil
	}
	var exists bool
	if err := m.db.QueryRowContext(ctx, "SELECT to_regclass('sync_queue') IS NOT NULL").Scan(&exists); err != nil {
		return fmt.Errorf("migrate: look for sync_queue: %w", err)
	}
	if !exists {
		return nil
	}
	var n int64
	if err := m.db.QueryRowContext(ctx, "SELECT count(*) FROM sync_queue").Scan(&n); err != nil {
		return fmt.Errorf("migrate: count sync_queue rows: %w", err)
	}
	if n > 0 {
		return fmt.Errorf("%w: %d rows wait for a sync (pending or dead); drain them first (tvsync worker --once, tvsync status) or force the rollback (tvsync migrate down --force) to lose them", ErrQueueNotEmpty, n)
	}
	return nil
}
