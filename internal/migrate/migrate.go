// Package migrate runs the blog's embedded goose migrations (package
// migrations, goose's default version table) through goose's Provider API
// on a pgx pool, after tvsync's own (package syncmigrate, schema tvsync).
package migrate

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/tvsync/tvsync/migrations"
	"github.com/tvsync/tvsync/sync/syncmigrate"
)

// Migrator runs the blog's migrations against one database. Close it when
// done.
type Migrator struct {
	*goose.Provider
	db *sql.DB
}

// New returns a migrator of the blog's migrations on pool. A session-level
// advisory lock keeps two processes from migrating the same database at
// once. The blog's views call tvsync.ts: apply tvsync's migrations first
// (Up does both).
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

// Up applies every pending migration of tvsync's set, then of the blog's,
// and returns what it applied, tvsync's first.
func Up(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger) ([]*goose.MigrationResult, error) {
	own, err := syncmigrate.New(pool, logger)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	defer own.Close()
	res, err := own.Up(ctx)
	if err != nil {
		return res, fmt.Errorf("migrate up tvsync: %w", err)
	}
	m, err := New(pool, logger)
	if err != nil {
		return res, err
	}
	defer m.Close()
	blog, err := m.Provider.Up(ctx)
	res = append(res, blog...)
	if err != nil {
		return res, fmt.Errorf("migrate up blog: %w", err)
	}
	return res, nil
}
