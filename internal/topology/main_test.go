package topology_test

import (
	"os"
	"testing"

	"github.com/tvsync/tvsync/migrations"
	"github.com/tvsync/tvsync/sync/syncdbtest"
	"github.com/tvsync/tvsync/sync/syncmigrate"
)

// TestMain starts one server for the package, a transaction-mode pgbouncer
// in front of it with three server connections per database (fewer than the
// tests' clients), and one streaming replica.
func TestMain(m *testing.M) {
	os.Exit(syncdbtest.Main(m, syncdbtest.Options{
		Migrations: []syncmigrate.Set{{Name: "blog", FS: migrations.FS}},
		PgBouncer:  &syncdbtest.PgBouncerOptions{PoolSize: 3},
		Replicas:   1,
	}))
}
