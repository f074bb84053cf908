// Command tvsync operates tvsync's blog on a PostgreSQL database: every
// command of the sync/synccli kit (migrate, sync, verify, rebuild, explain,
// worker, status, stats, queue, sync-log, triggers) over the blog's
// entities and migrations, plus the blog's demo, seed and bench.
//
// The database comes from --database-url or DATABASE_URL. Only "tvsync
// demo" starts a throwaway PostgreSQL when neither is set. Run "tvsync
// --help" for the commands and exit statuses.
package main

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pressly/goose/v3"
	"github.com/spf13/cobra"

	"github.com/tvsync/tvsync/internal/migrate"
	"github.com/tvsync/tvsync/migrations"
	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/synccli"
)

func main() { synccli.Main(config()) }

// config is the tvsync binary: the blog's engine and migrations, and the
// blog's own commands.
func config() synccli.Config {
	return synccli.Config{
		Name:  "tvsync",
		Short: "tvsync keeps the blog's tv_ query tables in step with its tb_ command tables.",
		NewEngine: func(pool *pgxpool.Pool, cfg tvsync.Config) (*tvsync.Engine, error) {
			return tvsync.New(pool, cfg), nil
		},
		Migrations: []synccli.MigrationSet{{Name: "blog", FS: migrations.FS, Down: downUnlessQueued}},
		Commands: func(app *synccli.App) []*cobra.Command {
			return []*cobra.Command{demoCommand(app), seedCommand(app), benchCommand(app)}
		},
	}
}

// downUnlessQueued rolls back the blog's latest migration, refusing unless
// forced while sync_queue still holds rows that the rollback would drop.
func downUnlessQueued(ctx context.Context, pool *pgxpool.Pool, force bool) (*goose.MigrationResult, error) {
	m, err := migrate.New(pool, nil)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	return m.Down(ctx, force)
}
