// Command tvsync operates tvsync's blog on a PostgreSQL database: every
// command of the sync/synccli kit (migrate, sync, verify, rebuild, explain,
// worker, status, stats, queue, sync-log, triggers) over the blog's
// entities and migrations, plus the blog's demo and seed. The benchmark
// suite is a command of its own, cmd/tvsync-bench.
//
// The database comes from --database-url or DATABASE_URL. Only "tvsync
// demo" starts a throwaway PostgreSQL when neither is set. Run "tvsync
// --help" for the commands and exit statuses.
package main

import (
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/tvsync/tvsync/blog"
	"github.com/tvsync/tvsync/migrations"
	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/synccli"
	"github.com/tvsync/tvsync/sync/syncmigrate"
)

func main() { synccli.Main(config()) }

// config is the tvsync binary: the blog's engine and migrations, and the
// blog's own commands.
func config() synccli.Config {
	return synccli.Config{
		Name:  "tvsync",
		Short: "tvsync keeps the blog's tv_ query tables in step with its tb_ command tables.",
		NewEngine: func(pool *pgxpool.Pool, cfg tvsync.Config) (*tvsync.Engine, error) {
			return blog.NewEngine(pool, cfg)
		},
		// The kit runs tvsync's own set (schema tvsync) before these.
		Migrations: []syncmigrate.Set{{Name: "blog", FS: migrations.FS}},
		Commands: func(app *synccli.App) []*cobra.Command {
			return []*cobra.Command{demoCommand(app), seedCommand(app)}
		},
	}
}
