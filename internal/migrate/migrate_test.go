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

	down, err := m.DownTo(ctx, 0)
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
