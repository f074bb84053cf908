package syncdbtest_test

import (
	"context"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/sync/syncdbtest"
	"github.com/tvsync/tvsync/sync/syncmigrate"
)

// TestNew_MigratesTvsyncFirstThenEachSetInItsVersionTable: a database of
// New holds tvsync's schema and both team sets, each recorded in its own
// version table, applied in order (the widget view calls tvsync.ts, the
// gadget table references tb_widget; the library set's first migration
// creates the schema of its own version table).
func TestNew_MigratesTvsyncFirstThenEachSetInItsVersionTable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := syncdbtest.New(t)

	assert.Equal(t, []string{
		"lib.library_migrations", "lib.tb_book",
		"public.goose_db_version", "public.tb_gadget", "public.tb_widget", "public.tv_widget",
		"tvsync.namespace_role", "tvsync.sync_log", "tvsync.sync_queue", "tvsync.tvsync_migrations",
		"widgets.widget_migrations",
	}, tables(t, pool))
	for table, want := range map[string][]int64{
		"tvsync.tvsync_migrations":  ownVersions(t),
		"widgets.widget_migrations": {1},
		"goose_db_version":          {1},
		"lib.library_migrations":    {1}, // in the schema its first migration creates
	} {
		var got []int64
		require.NoError(t, pool.QueryRow(ctx,
			"SELECT array_agg(version_id ORDER BY version_id) FROM "+table+" WHERE version_id > 0 AND is_applied").Scan(&got))
		assert.Equal(t, want, got, table)
	}

	_, err := pool.Exec(ctx, "INSERT INTO tb_widget (name, created_at) VALUES ('gear', '2024-05-06 07:08:09.123456+00')")
	require.NoError(t, err)
	var createdAt string
	require.NoError(t, pool.QueryRow(ctx, "SELECT tvsync.ts('2024-05-06 07:08:09.123456+00')").Scan(&createdAt))
	var doc map[string]any
	require.NoError(t, pool.QueryRow(ctx, "SELECT data FROM v_widget WHERE data->>'name' = 'gear'").Scan(&doc))
	assert.Equal(t, createdAt, doc["createdAt"], "the widget view formats with tvsync's own helper")
	_, err = pool.Exec(ctx, "INSERT INTO tb_gadget (widget_id) SELECT id FROM tb_widget")
	require.NoError(t, err)
}

// seen records the database each of TestNew_FreshDatabaseA/B got.
var seen sync.Map

// checkFresh asserts pool is on a migrated, empty database that no other
// test used, then writes to it.
func checkFresh(t *testing.T, pool *pgxpool.Pool) {
	ctx := context.Background()
	db := currentDatabase(t, pool)
	_, dup := seen.LoadOrStore(db, t.Name())
	assert.False(t, dup, "database %s was handed out twice", db)

	var n int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM tb_widget").Scan(&n))
	require.Zero(t, n, "a fresh database must not see other tests' writes")
	// Both tests insert the same unique name: this only succeeds if neither
	// sees the other's row.
	_, err := pool.Exec(ctx, "INSERT INTO tb_widget (name) VALUES ('gear')")
	require.NoError(t, err)
}

func TestNew_FreshDatabaseA(t *testing.T) { t.Parallel(); checkFresh(t, syncdbtest.New(t)) }
func TestNew_FreshDatabaseB(t *testing.T) { t.Parallel(); checkFresh(t, syncdbtest.New(t)) }

// TestNew_DatabasesOfOneTestAreIsolated: two databases of one test see
// nothing of each other's writes.
func TestNew_DatabasesOfOneTestAreIsolated(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b := syncdbtest.New(t), syncdbtest.New(t)
	require.NotEqual(t, currentDatabase(t, a), currentDatabase(t, b))

	_, err := a.Exec(ctx, "INSERT INTO tb_widget (name) VALUES ('bolt')")
	require.NoError(t, err)
	var inA, inB int
	require.NoError(t, a.QueryRow(ctx, "SELECT count(*) FROM tb_widget").Scan(&inA))
	require.NoError(t, b.QueryRow(ctx, "SELECT count(*) FROM tb_widget").Scan(&inB))
	assert.Equal(t, 1, inA)
	assert.Equal(t, 0, inB, "a write in one database must be invisible in the other")
}

// TestURL_IsAMigratedDatabaseOfItsOwn: URL's database is migrated and is
// not New's.
func TestURL_IsAMigratedDatabaseOfItsOwn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, syncdbtest.URL(t))
	require.NoError(t, err)
	defer conn.Close(ctx)
	var db string
	var widget, queue bool
	require.NoError(t, conn.QueryRow(ctx,
		"SELECT current_database(), to_regclass('tv_widget') IS NOT NULL, to_regclass('tvsync.sync_queue') IS NOT NULL").Scan(&db, &widget, &queue))
	assert.True(t, widget && queue, "URL's database must hold tv_widget and tvsync.sync_queue")
	assert.NotEqual(t, currentDatabase(t, syncdbtest.New(t)), db)
}

// TestEmpty_IsUnmigrated: Empty's database holds no table and no schema
// tvsync.
func TestEmpty_IsUnmigrated(t *testing.T) {
	t.Parallel()
	pool := syncdbtest.Empty(t)
	assert.Empty(t, tables(t, pool))
	var schema bool
	require.NoError(t, pool.QueryRow(context.Background(),
		"SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = 'tvsync')").Scan(&schema))
	assert.False(t, schema)
}

// endedTB stands for a test whose end the test drives: Failed reports
// failed, and Cleanup collects the functions end runs (last first).
type endedTB struct {
	testing.TB
	failed   bool
	cleanups []func()
	logs     []string
}

func (e *endedTB) Failed() bool            { return e.failed }
func (e *endedTB) Cleanup(f func())        { e.cleanups = append(e.cleanups, f) }
func (e *endedTB) Logf(f string, a ...any) { e.logs = append(e.logs, fmt.Sprintf(f, a...)) }
func (e *endedTB) end() {
	for i := len(e.cleanups) - 1; i >= 0; i-- {
		e.cleanups[i]()
	}
}

// TestDatabases_OfAFailedTestAreKeptOfAPassingOneDropped: when a test ends
// failed, its database (of New, URL or Empty) stays on the server with what
// the test wrote, and its name is logged; when it passes, it is dropped.
func TestDatabases_OfAFailedTestAreKeptOfAPassingOneDropped(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	kinds := map[string]func(t *testing.T, tb testing.TB) string{
		"New": func(t *testing.T, tb testing.TB) string { return currentDatabase(t, syncdbtest.New(tb)) },
		"URL": func(t *testing.T, tb testing.TB) string {
			conn, err := pgx.Connect(ctx, syncdbtest.URL(tb))
			require.NoError(t, err)
			defer conn.Close(ctx)
			var db string
			require.NoError(t, conn.QueryRow(ctx, "SELECT current_database()").Scan(&db))
			return db
		},
		"Empty": func(t *testing.T, tb testing.TB) string { return currentDatabase(t, syncdbtest.Empty(tb)) },
	}
	for kind, create := range kinds {
		for _, failed := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/failed=%t", kind, failed), func(t *testing.T) {
				tb := &endedTB{TB: t, failed: failed}
				name := create(t, tb)
				admin, err := pgx.Connect(ctx, syncdbtest.ServerURL(name))
				require.NoError(t, err)
				_, err = admin.Exec(ctx, "CREATE TABLE evidence (note text); INSERT INTO evidence VALUES ('left by the test')")
				require.NoError(t, err)
				require.NoError(t, admin.Close(ctx))

				tb.end()
				if !failed {
					assert.False(t, databaseExists(t, name), "the database %s of a passing test must be dropped", name)
					return
				}
				t.Cleanup(func() { dropDatabase(t, name) })
				require.True(t, databaseExists(t, name), "the database %s of a failed test must be kept", name)
				conn, err := pgx.Connect(ctx, syncdbtest.ServerURL(name))
				require.NoError(t, err)
				defer conn.Close(ctx)
				var note string
				require.NoError(t, conn.QueryRow(ctx, "SELECT note FROM evidence").Scan(&note))
				assert.Equal(t, "left by the test", note)
				assert.Contains(t, strings.Join(tb.logs, "\n"), "kept database "+name+" of the failed test")
			})
		}
	}
}

// TestServerURL_IsASuperuserOnTheNamedDatabase: ServerURL connects as a
// superuser to the database it names.
func TestServerURL_IsASuperuserOnTheNamedDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, syncdbtest.ServerURL("postgres"))
	require.NoError(t, err)
	defer conn.Close(ctx)
	var db string
	var super bool
	require.NoError(t, conn.QueryRow(ctx,
		"SELECT current_database(), rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&db, &super))
	assert.Equal(t, "postgres", db)
	assert.True(t, super, "ServerURL must connect as a superuser")
}

// tables lists the tables of pool's database outside the catalogs, as
// schema.table, sorted.
func tables(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT schemaname || '.' || tablename FROM pg_tables
		WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1`)
	require.NoError(t, err)
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return names
}

func currentDatabase(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	var db string
	require.NoError(t, pool.QueryRow(context.Background(), "SELECT current_database()").Scan(&db))
	return db
}

func databaseExists(t *testing.T, name string) bool {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, syncdbtest.ServerURL("postgres"))
	require.NoError(t, err)
	defer conn.Close(ctx)
	var exists bool
	require.NoError(t, conn.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)", name).Scan(&exists))
	return exists
}

func dropDatabase(t *testing.T, name string) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, syncdbtest.ServerURL("postgres"))
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "DROP DATABASE "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	require.NoError(t, err)
}

// ownVersions lists the versions of tvsync's own migrations (syncmigrate.FS):
// 1 for 00001_*.sql, and so on.
func ownVersions(t *testing.T) []int64 {
	t.Helper()
	names, err := fs.Glob(syncmigrate.FS, "*.sql")
	require.NoError(t, err)
	var out []int64
	for _, name := range names {
		v, err := strconv.ParseInt(name[:strings.IndexByte(name, '_')], 10, 64)
		require.NoError(t, err, name)
		out = append(out, v)
	}
	slices.Sort(out)
	require.NotEmpty(t, out)
	return out
}
