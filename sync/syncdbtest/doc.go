// Package syncdbtest lets an application test its own entities the way
// tvsync tests its own: against a real PostgreSQL, with a fresh database per
// test cloned in milliseconds from a template migrated once with tvsync's
// migrations and the application's.
//
// A test package opts in from its TestMain, passing its goose migration sets:
//
//	func TestMain(m *testing.M) {
//		os.Exit(syncdbtest.Main(m, syncdbtest.Options{
//			Migrations: []syncmigrate.Set{{Name: "shop", FS: migrations.FS, VersionTable: "shop_migrations"}},
//		}))
//	}
//
// [Main] starts one throwaway server for the package (see [Start]), or uses
// the running server named by the environment variable
// TVSYNC_TEST_ADMIN_URL ([AdminURLEnv]). Each call to [New] or [URL] then
// clones a database from a template that the first such call migrates with
// tvsync's own set (package syncmigrate: schema tvsync, version table
// tvsync.tvsync_migrations), always first, then the application's sets in
// order, each recorded in its own version table, exactly as synccli's
// "migrate up" applies them. The template's name is a hash of every set's
// files and version table, so a changed migration builds a new template
// instead of reusing a stale one. [Empty] gives an unmigrated database, for
// tests of migrations themselves.
//
// The database of a passing test is dropped when the test ends; that of a
// failing test is kept, and its name logged, for inspection until the
// server stops (a throwaway server stops when the package's tests end; a
// server named by TVSYNC_TEST_ADMIN_URL keeps it).
//
// # The throwaway server
//
// [Start] runs a PostgreSQL cluster from the server binaries installed on
// the machine (pg_config --bindir, or the highest /usr/lib/postgresql/*/bin),
// in a temporary directory it owns, on a free TCP port of 127.0.0.1, trusting
// local connections (no passwords) and with durability turned off for speed
// (fsync, synchronous_commit and full_page_writes off). When the calling
// process runs as root, initdb and postgres run as the operating-system user
// "postgres". [Server.Stop] shuts the cluster down and removes every file it
// created; on Linux the server dies with the process that started it.
// The server part needs a Unix system.
//
// # PgBouncer and replicas
//
// [Options].PgBouncer makes Main start a pgbouncer in transaction mode in
// front of the server ([StartPgBouncer]; Debian's pgbouncer package), and
// [Options].Replicas streaming replicas of it ([StartReplica]: pg_basebackup
// -R, hot standby). [PgBouncerURL] and [ReplicaURLs] give a test database's
// URLs through them, [Replicas] the replicas (to pause their replay),
// [NewReplica] a replica for one test (to stop it). With AdminURLEnv set
// there are none, and the tests that ask for them are skipped.
package syncdbtest
