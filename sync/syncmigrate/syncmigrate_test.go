package syncmigrate_test

import (
	"context"
	"database/sql"
	"io/fs"
	"os"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/internal/testdb"
	"github.com/tvsync/tvsync/sync/syncmigrate"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

// teamMigrations is an application's own goose set, in goose's default
// version table, with tables and a function under the names tvsync used to
// take in public: FraiseQL's sync_log, an outbox of another shape called
// sync_queue, and a tvsync_ts of its own.
var teamMigrations = fstest.MapFS{
	"00001_app.sql": {Data: []byte(`-- +goose Up
CREATE TABLE sync_log (
    id            bigserial PRIMARY KEY,
    entity_type   text NOT NULL,
    entity_id     uuid,
    operation     text NOT NULL,
    duration_ms   integer,
    success       boolean NOT NULL,
    error_message text
);
CREATE TABLE sync_queue (id bigserial PRIMARY KEY, topic text NOT NULL, payload jsonb NOT NULL);
CREATE FUNCTION tvsync_ts(ts timestamptz) RETURNS integer LANGUAGE sql IMMUTABLE RETURN 42;
INSERT INTO sync_log (entity_type, entity_id, operation, duration_ms, success, error_message)
VALUES ('order', gen_random_uuid(), 'update', 12, true, NULL), ('customer', NULL, 'delete', 3, false, 'gone');
INSERT INTO sync_queue (topic, payload) VALUES ('mail', '{"to": "ada"}');
-- +goose Down
DROP FUNCTION tvsync_ts(timestamptz);
DROP TABLE sync_queue;
DROP TABLE sync_log;
`)},
	"00002_more.sql": {Data: []byte("-- +goose Up\nCREATE TABLE orders (id bigint PRIMARY KEY);\n-- +goose Down\nDROP TABLE orders;\n")},
}

// outside is everything of the database outside schema tvsync and the
// system schemas: relations with their columns, functions, and the rows of
// every table (goose_db_version included), as text.
func outside(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `
		SELECT format('%s.%s %s (%s)', n.nspname, c.relname, c.relkind,
		              (SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum)
		               FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped))
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname NOT IN ('tvsync', 'pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
		UNION ALL
		SELECT format('%s.%s', n.nspname, p.oid::regprocedure) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
		WHERE n.nspname NOT IN ('tvsync', 'pg_catalog', 'information_schema')
		UNION ALL
		SELECT 'goose_db_version ' || to_jsonb(v)::text FROM goose_db_version v
		UNION ALL
		SELECT 'sync_log ' || to_jsonb(l)::text FROM public.sync_log l
		UNION ALL
		SELECT 'sync_queue ' || to_jsonb(q)::text FROM public.sync_queue q
		ORDER BY 1`)
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return out
}

// TestUp_NextToATeamsMigrations applies tvsync's set to a database whose
// application has its own goose history and its own sync_log, sync_queue and
// tvsync_ts in public: tvsync creates its objects in schema tvsync, with its
// version table there, and changes nothing else, the application's
// goose_db_version included. goose (v3.29) finds its schema-qualified version
// table again, so a second Up applies nothing.
func TestUp_NextToATeamsMigrations(t *testing.T) {
	ctx := context.Background()
	pool := testdb.Empty(t)
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	team, err := goose.NewProvider(goose.DialectPostgres, db, teamMigrations)
	require.NoError(t, err)
	_, err = team.Up(ctx)
	require.NoError(t, err)
	before := outside(t, pool)
	require.Contains(t, before, "public.sync_log r (id bigint, entity_type text, entity_id uuid, operation text, duration_ms integer, success boolean, error_message text)")

	res, err := syncmigrate.Up(ctx, pool)
	require.NoError(t, err)
	files := ownFiles(t)
	require.Len(t, res.Versions, len(files))
	assert.Equal(t, syncmigrate.DirectionUp, res.Direction)
	for i, f := range files {
		assert.Equal(t, f, res.Versions[i].Name)
		assert.Equal(t, int64(i+1), res.Versions[i].Version)
	}
	assert.Equal(t, before, outside(t, pool), "nothing outside schema tvsync changed")

	var objects []string
	require.NoError(t, pool.QueryRow(ctx, `
		SELECT array_agg(o ORDER BY o) FROM (
		    SELECT c.relname || ' ' || c.relkind::text AS o FROM pg_class c WHERE c.relnamespace = 'tvsync'::regnamespace
		    UNION ALL SELECT p.oid::regprocedure::text FROM pg_proc p WHERE p.pronamespace = 'tvsync'::regnamespace) s`).Scan(&objects))
	assert.Equal(t, []string{
		"namespace_role r", "namespace_role_pkey i",
		"sync_log r", "sync_log_id_seq S", "sync_log_pkey i", "sync_log_started_at_idx i",
		"sync_queue r", "sync_queue_entity_id_idx i", "sync_queue_origin_idx i", "sync_queue_pkey i", "sync_queue_ready_idx i", "sync_queue_seq_seq S",
		"tvsync.ts(timestamp with time zone)",
		"tvsync_migrations r", "tvsync_migrations_id_seq S", "tvsync_migrations_pkey i",
	}, objects)
	var versions []int64
	require.NoError(t, pool.QueryRow(ctx, "SELECT array_agg(version_id ORDER BY id) FROM tvsync.tvsync_migrations").Scan(&versions))
	want := []int64{0}
	for i := range files {
		want = append(want, int64(i+1))
	}
	assert.Equal(t, want, versions)

	again, err := syncmigrate.Up(ctx, pool)
	require.NoError(t, err)
	assert.Empty(t, again.Versions)
	more, err := team.Up(ctx)
	require.NoError(t, err)
	assert.Empty(t, more, "the team's history does not see tvsync's migrations")
}

// TestUp_ConcurrentFirstRuns: processes starting at once on a fresh
// database (several replicas deploying) create schema tvsync, the version
// table and the objects once, under goose's session lock.
func TestUp_ConcurrentFirstRuns(t *testing.T) {
	ctx := context.Background()
	pool := testdb.Empty(t)
	var wg sync.WaitGroup
	applied := make([]int, 4)
	errs := make([]error, 4)
	for i := range applied {
		wg.Go(func() {
			res, err := syncmigrate.Up(ctx, pool)
			applied[i], errs[i] = len(res.Versions), err
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	assert.ElementsMatch(t, []int{len(ownFiles(t)), 0, 0, 0}, applied, "one run applied the migrations, the others found them applied")
}

// ownFiles lists tvsync's migration files, in order.
func ownFiles(t *testing.T) []string {
	t.Helper()
	files, err := fs.Glob(syncmigrate.FS, "*.sql")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	return files
}

// version is tvsync's current migration version.
func version(t *testing.T, db *sql.DB) int64 {
	t.Helper()
	var v int64
	require.NoError(t, db.QueryRowContext(context.Background(), "SELECT max(version_id) FROM tvsync.tvsync_migrations WHERE is_applied").Scan(&v))
	return v
}

// TestDown_RefusesWhileRowsAreQueued: rolling back tvsync's set while
// tvsync.sync_queue holds rows (a worker's pending changes) would drop them
// with the queue; Down refuses, names the count, and changes nothing,
// unless forced. Rolled back, schema tvsync keeps only the version table.
func TestDown_RefusesWhileRowsAreQueued(t *testing.T) {
	ctx := context.Background()
	pool := testdb.Empty(t)
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	_, err := syncmigrate.Up(ctx, pool)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `INSERT INTO tvsync.sync_queue (entity, entity_id) VALUES ('post', gen_random_uuid()), ('user', gen_random_uuid())`)
	require.NoError(t, err)

	m, err := syncmigrate.New(pool, nil)
	require.NoError(t, err)
	defer m.Close()
	down := func(force bool) (*syncmigrate.MigrateResult, error) {
		return m.Migrate(ctx, syncmigrate.DirectionDown, &syncmigrate.MigrateOpts{Force: force})
	}
	_, err = down(false)
	require.ErrorIs(t, err, syncmigrate.ErrQueueNotEmpty)
	assert.Contains(t, err.Error(), "2 rows")
	n := len(ownFiles(t))
	assert.Equal(t, int64(n), version(t, db), "nothing was rolled back")
	var queued int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM tvsync.sync_queue").Scan(&queued))
	assert.Equal(t, 2, queued, "the queued rows are kept")

	for range n {
		r, err := down(true)
		require.NoError(t, err)
		require.Len(t, r.Versions, 1)
	}
	assert.Equal(t, int64(0), version(t, db))
	var left []string
	require.NoError(t, pool.QueryRow(ctx, "SELECT array_agg(relname::text) FROM pg_class WHERE relnamespace = 'tvsync'::regnamespace AND relkind = 'r'").Scan(&left))
	assert.Equal(t, []string{"tvsync_migrations"}, left, "the schema keeps its version table only")

	// Up again; with the queue empty, Down needs no force.
	_, err = syncmigrate.Up(ctx, pool)
	require.NoError(t, err)
	for range n {
		_, err = down(false)
		require.NoError(t, err, "an empty queue needs no force")
	}
	assert.Equal(t, int64(0), version(t, db))
	_, err = down(false)
	require.ErrorIs(t, err, syncmigrate.ErrNoMigration, "nothing left to roll back")
}

// TestSyncQueueTextIDs_HoldsEveryKeyKindAndRollsBackItsUUIDs: migration 2
// turns tvsync.sync_queue.entity_id into text, keeping the queued uuids as
// their canonical text, so that bigint ids queue too; rolled back (forced),
// the uuid rows go back to a uuid column and only the rows that cannot,
// the bigint ones, are dropped.
func TestSyncQueueTextIDs_HoldsEveryKeyKindAndRollsBackItsUUIDs(t *testing.T) {
	ctx := context.Background()
	pool := testdb.Empty(t)
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	m, err := syncmigrate.New(pool, nil)
	require.NoError(t, err)
	defer m.Close()
	_, err = m.Migrate(ctx, syncmigrate.DirectionUp, &syncmigrate.MigrateOpts{TargetVersion: 1})
	require.NoError(t, err)
	u := "0190c1c6-7e2a-7b3c-9d4e-5f6a7b8c9d0e"
	_, err = pool.Exec(ctx, "INSERT INTO tvsync.sync_queue (entity, entity_id) VALUES ('post', $1)", u)
	require.NoError(t, err)

	_, err = m.Migrate(ctx, syncmigrate.DirectionUp, &syncmigrate.MigrateOpts{TargetVersion: 2})
	require.NoError(t, err)
	_, err = pool.Exec(ctx, "INSERT INTO tvsync.sync_queue (entity, entity_id) VALUES ('order', '-42')")
	require.NoError(t, err)
	var ids []string
	require.NoError(t, pool.QueryRow(ctx, "SELECT array_agg(entity_id ORDER BY entity) FROM tvsync.sync_queue").Scan(&ids))
	assert.Equal(t, []string{"-42", u}, ids, "the uuid kept its canonical text, a bigint id queues")

	_, err = m.Migrate(ctx, syncmigrate.DirectionDown, &syncmigrate.MigrateOpts{Force: true})
	require.NoError(t, err)
	assert.Equal(t, int64(1), version(t, db))
	var typ string
	require.NoError(t, pool.QueryRow(ctx, "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'tvsync.sync_queue'::regclass AND attname = 'entity_id'").Scan(&typ))
	assert.Equal(t, "uuid", typ)
	require.NoError(t, pool.QueryRow(ctx, "SELECT array_agg(entity_id::text ORDER BY entity) FROM tvsync.sync_queue").Scan(&ids))
	assert.Equal(t, []string{u}, ids, "the uuid row is kept, the bigint one dropped")
}

// TestUp_NamespacesKeepAnAppRoleGrantedBefore: a database migrated before
// namespaces, whose application role was granted tvsync's privileges by an
// older GrantApp (no namespace), keeps working once 00004 enables row-level
// security: the role keeps the default namespace, sees the rows queued
// before, and queues new ones; a role granted nothing sees no row.
func TestUp_NamespacesKeepAnAppRoleGrantedBefore(t *testing.T) {
	ctx := context.Background()
	pool := testdb.Empty(t)
	m, err := syncmigrate.New(pool, nil)
	require.NoError(t, err)
	defer m.Close()
	_, err = m.Migrate(ctx, syncmigrate.DirectionUp, &syncmigrate.MigrateOpts{TargetVersion: 3})
	require.NoError(t, err)
	suffix := strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	app, other := "tvsync_old_app_"+suffix, "tvsync_other_"+suffix
	for _, r := range []string{app, other} {
		_, err = pool.Exec(ctx, "CREATE ROLE "+r+" NOLOGIN")
		require.NoError(t, err)
		t.Cleanup(func() {
			_, err := pool.Exec(context.Background(), "DROP OWNED BY "+r+"; DROP ROLE "+r)
			assert.NoError(t, err)
		})
		// What GrantApp granted before namespaces.
		_, err = pool.Exec(ctx, "GRANT USAGE ON SCHEMA tvsync TO "+r+"; GRANT SELECT, INSERT, UPDATE, DELETE ON tvsync.sync_queue TO "+r+"; GRANT INSERT ON tvsync.sync_log TO "+r)
		require.NoError(t, err)
	}
	_, err = pool.Exec(ctx, "REVOKE ALL ON tvsync.sync_queue FROM "+other)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, "INSERT INTO tvsync.sync_queue (entity, entity_id) VALUES ('post', gen_random_uuid())")
	require.NoError(t, err)

	_, err = m.Migrate(ctx, syncmigrate.DirectionUp, nil)
	require.NoError(t, err)
	// other lost its queue grants before the upgrade: it gets no namespace
	// (granting it the queue again gives it no row).
	_, err = pool.Exec(ctx, "GRANT SELECT, INSERT ON tvsync.sync_queue TO "+other+"; GRANT SELECT ON tvsync.namespace_role TO "+app+", "+other)
	require.NoError(t, err)

	as := func(role, sql string) (int64, error) {
		var n int64
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SET LOCAL ROLE "+role); err != nil {
				return err
			}
			tag, err := tx.Exec(ctx, sql)
			n = tag.RowsAffected()
			return err
		})
		return n, err
	}
	n, err := as(app, "SELECT * FROM tvsync.sync_queue")
	require.NoError(t, err)
	assert.Equal(t, int64(1), n, "the role granted before sees the default namespace's row")
	_, err = as(app, "INSERT INTO tvsync.sync_queue (entity, entity_id) VALUES ('post', gen_random_uuid())")
	assert.NoError(t, err, "and queues in it")
	n, err = as(other, "SELECT * FROM tvsync.sync_queue")
	require.NoError(t, err)
	assert.Zero(t, n, "a role that had no queue grant has no namespace")
	_, err = as(other, "INSERT INTO tvsync.sync_queue (entity, entity_id) VALUES ('post', gen_random_uuid())")
	assert.ErrorContains(t, err, "row-level security")
}
