// Package migrate runs the blog's embedded goose migrations (package
// migrations, goose's default version table) on a pgx pool, after tvsync's
// own (package syncmigrate, schema tvsync), through syncmigrate's Migrator.
package migrate

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tvsync/tvsync/migrations"
	"github.com/tvsync/tvsync/sync/syncmigrate"
)

// blogSet is the blog's migration set, recorded in goose's default version
// table, goose_db_version.
func blogSet() syncmigrate.Set { return syncmigrate.Set{Name: "blog", FS: migrations.FS} }

// New returns a migrator of the blog's migrations on pool. A session-level
// advisory lock keeps two processes from migrating the same database at
// once. The blog's views call tvsync.ts: apply tvsync's migrations first
// (Up does both). A nil logger discards goose's messages.
func New(pool *pgxpool.Pool, logger *slog.Logger) (*syncmigrate.Migrator, error) {
	m, err := syncmigrate.New(pool, &syncmigrate.Config{Set: blogSet(), Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	return m, nil
}

// Up applies every pending migration of tvsync's set, then of the blog's,
// and returns what it applied, tvsync's first.
func Up(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger) ([]syncmigrate.MigrateVersion, error) {
	var applied []syncmigrate.MigrateVersion
	for _, set := range []syncmigrate.Set{syncmigrate.Own(), blogSet()} {
		m, err := syncmigrate.New(pool, &syncmigrate.Config{Set: set, Logger: logger})
		if err != nil {
			return applied, fmt.Errorf("migrate: %w", err)
		}
		res, err := m.Migrate(ctx, syncmigrate.DirectionUp, nil)
		_ = m.Close()
		applied = append(applied, res.Versions...)
		if err != nil {
			return applied, fmt.Errorf("migrate up %s: %w", set.Name, err)
		}
	}
	return applied, nil
}
