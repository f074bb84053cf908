// Package testdb gives each of the blog's tests its own freshly migrated
// PostgreSQL database: it is the public test kit, [syncdbtest], with the
// blog's migrations. A test package opts in with
//
//	func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }
//
// and each call to [New] or [URL] clones a database from a template migrated
// with tvsync's own migrations (schema tvsync) then the blog's (package
// migrations, goose's default version table goose_db_version), exactly as
// migrate.Up applies them. See syncdbtest for the server, the template and
// what happens to the databases of failed tests.
package testdb

import (
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tvsync/tvsync/migrations"
	"github.com/tvsync/tvsync/sync/syncdbtest"
	"github.com/tvsync/tvsync/sync/syncmigrate"
)

// AdminURLEnv names the environment variable that, when set to the URL of a
// superuser on a running server, makes [Main] use that server instead of
// starting a throwaway one.
const AdminURLEnv = syncdbtest.AdminURLEnv

// blog is the blog's migration set, recorded in goose's default version
// table.
var blog = syncmigrate.Set{Name: "blog", FS: migrations.FS}

// Main runs the package's tests on a server of their own (or the one named
// by AdminURLEnv) with the blog's migrations, and returns the exit code for
// os.Exit. Call it from TestMain.
func Main(m *testing.M) int {
	return syncdbtest.Main(m, syncdbtest.Options{Migrations: []syncmigrate.Set{blog}})
}

// New returns a pool on a fresh database migrated with tvsync's migrations
// and the blog's; see [syncdbtest.New].
func New(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return syncdbtest.New(t)
}

// URL returns the URL of a fresh database migrated with tvsync's migrations
// and the blog's; see [syncdbtest.URL].
func URL(t testing.TB) string {
	t.Helper()
	return syncdbtest.URL(t)
}

// Empty returns a pool on a fresh, unmigrated database; see
// [syncdbtest.Empty].
func Empty(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return syncdbtest.Empty(t)
}

// ServerURL returns the superuser URL of database db on the package's
// server; see [syncdbtest.ServerURL].
func ServerURL(db string) string { return syncdbtest.ServerURL(db) }
