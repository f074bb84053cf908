// Package migrate runs tvsync's embedded goose migrations through goose's
// Provider API on a pgx pool.
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
)

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
