package migrate_test

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/internal/migrate"
	"github.com/tvsync/tvsync/internal/testdb"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

func tables(t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	var n int
	require.NoError(t, pool.QueryRow(context.Background(),
		`SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'goose_db_version'`).Scan(&n))
	return n
}

// TestMigrations_UpDownUpOneByOne runs every migration up, all the way down,
// then up one at a time, as goose tests itself.
func TestMigrations_UpDownUpOneByOne(t *testing.T) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, testdb.ServerURL("postgres"))
	require.NoError(t, err)
	_, err = pool.Exec(ctx, "DROP DATABASE IF EXISTS migrate_roundtrip")
	require.NoError(t, err)
	_, err = pool.Exec(ctx, "CREATE DATABASE migrate_roundtrip")
	require.NoError(t, err)
	pool.Close()
	db, err := pgxpool.New(ctx, testdb.ServerURL("migrate_roundtrip"))
	require.NoError(t, err)
	defer db.Close()

	m, err := migrate.New(db, nil)
	require.NoError(t, err)
	defer m.Close()
	up, err := m.Up(ctx)
	require.NoError(t, err)
	require.NotEmpty(t, up)
	assert.Equal(t, 9, tables(t, db), "tb_ x4, tv_ x3, sync_log, sync_queue")

	down, err := m.DownTo(ctx, 0, false)
	require.NoError(t, err)
	assert.Len(t, down, len(up))
	assert.Zero(t, tables(t, db), "every Down undoes its Up")

	for range up {
		_, err := m.UpByOne(ctx)
		require.NoError(t, err)
	}
	assert.Equal(t, 9, tables(t, db))
	more, err := m.Up(ctx)
	require.NoError(t, err)
	assert.Empty(t, more, "nothing left to apply")
}

// version is the database's current goose version.
func version(t *testing.T, m *migrate.Migrator) int64 {
	t.Helper()
	v, err := m.GetDBVersion(context.Background())
	require.NoError(t, err)
	return v
}

// TestDown_RefusesWhileRowsAreQueued: rolling back while sync_queue holds
// rows (a worker's pending changes) would drop them with the queue or the
// views the worker needs; Down refuses, names the count, and changes
// nothing, unless forced.
func TestDown_RefusesWhileRowsAreQueued(t *testing.T) {
	ctx := context.Background()
	pool := testdb.New(t)
	m, err := migrate.New(pool, nil)
	require.NoError(t, err)
	defer m.Close()
	latest := version(t, m)
	_, err = pool.Exec(ctx, `INSERT INTO sync_queue (entity, entity_id) VALUES ('post', gen_random_uuid()), ('user', gen_random_uuid())`)
	require.NoError(t, err)

	_, err = m.Down(ctx, false)
	require.ErrorIs(t, err, migrate.ErrQueueNotEmpty)
	assert.Contains(t, err.Error(), "2 rows")
	assert.Equal(t, latest, version(t, m), "nothing was rolled back")
	var queued int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM sync_queue").Scan(&queued))
	assert.Equal(t, 2, queued, "the queued rows are kept")

	// Forced, it rolls back; with the queue empty, it needs no force.
	r, err := m.Down(ctx, true)
	require.NoError(t, err)
	require.NotNil(t, r)
	assert.Equal(t, latest-1, version(t, m))
	_, err = pool.Exec(ctx, "DELETE FROM sync_queue")
	require.NoError(t, err)
	_, err = m.Down(ctx, false)
	require.NoError(t, err)
	assert.Equal(t, latest-2, version(t, m), "an empty queue needs no force")
	_, err = m.Down(ctx, false)
	require.NoError(t, err, "no sync_queue table, nothing to lose")
	assert.Equal(t, latest-3, version(t, m))
}
