// Command shop operates the shop example on a PostgreSQL database: every
// command of tvsync's CLI kit (migrate, sync, verify [--repair], rebuild,
// explain, worker, status, stats, queue, sync-log, triggers) over the
// shop's entities, with tvsync's migrations and the shop's (version table
// shop.shop_migrations). The database comes from --database-url or DATABASE_URL.
package main

import (
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tvsync/tvsync/examples/shop"
	"github.com/tvsync/tvsync/examples/shop/migrations"
	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/synccli"
	"github.com/tvsync/tvsync/sync/syncmigrate"
)

func main() { synccli.Main(config()) }

// config is the shop binary: the shop's engine and migrations.
func config() synccli.Config {
	return synccli.Config{
		Name:  "shop",
		Short: "shop keeps the shop's tv_ documents (customer, product, order, review) in step with its tb_ tables.",
		NewEngine: func(pool *pgxpool.Pool, cfg tvsync.Config) (*tvsync.Engine, error) {
			return shop.NewEngine(pool, cfg)
		},
		// The kit runs tvsync's own set (schema tvsync) before this one.
		Migrations: []syncmigrate.Set{migrations.Set()},
	}
}
