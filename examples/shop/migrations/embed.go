// Package migrations holds the shop's goose SQL migrations, embedded so that
// the CLI and the tests run exactly the files sqlc reads as the schema. They
// are recorded in their own version table, shop.shop_migrations
// (VersionTable), in the schema shop that the first migration creates, next
// to tvsync's own set (schema tvsync), which must run first.
package migrations

import (
	"embed"

	"github.com/tvsync/tvsync/sync/syncmigrate"
)

// VersionTable is the goose version table of the shop's migrations.
const VersionTable = "shop.shop_migrations"

// FS holds every migration file (*.sql) of this folder, in goose's format.
//
//go:embed *.sql
var FS embed.FS

// Set returns the shop's migration set, "shop", for synccli's migrate and
// syncdbtest's templates, which run tvsync's own set before it.
func Set() syncmigrate.Set {
	return syncmigrate.Set{Name: "shop", FS: FS, VersionTable: VersionTable}
}
