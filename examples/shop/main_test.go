package shop_test

import (
	"os"
	"testing"

	"github.com/tvsync/tvsync/examples/shop/migrations"
	"github.com/tvsync/tvsync/sync/syncdbtest"
	"github.com/tvsync/tvsync/sync/syncmigrate"
)

// TestMain starts one throwaway PostgreSQL for the package; each test gets a
// database cloned from a template migrated with tvsync's set and the shop's.
func TestMain(m *testing.M) {
	os.Exit(syncdbtest.Main(m, syncdbtest.Options{
		Migrations: []syncmigrate.Set{migrations.Set()},
	}))
}
