package testdb_test

import (
	"context"
	"io/fs"
	"os"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/internal/testdb"
	"github.com/tvsync/tvsync/migrations"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

// seen records the database each of TestFreshDatabaseA/B got.
var seen sync.Map

// checkFresh asserts pool is on a migrated, empty database that no other
// test used, then writes to it.
func checkFresh(t *testing.T, pool *pgxpool.Pool) {
	ctx := context.Background()
	var db string
	require.NoError(t, pool.QueryRow(ctx, "SELECT current_database()").Scan(&db))
	_, dup := seen.LoadOrStore(db, t.Name())
	assert.False(t, dup, "database %s was handed out twice", db)

	var n int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM tb_user").Scan(&n))
	require.Zero(t, n, "a fresh database must not see other tests' writes")
	// Both tests insert the same unique username: this only succeeds if
	// neither sees the other's row.
	_, err := pool.Exec(ctx, "INSERT INTO tb_user (username) VALUES ('alice')")
	require.NoError(t, err)
}

func TestFreshDatabaseA(t *testing.T) { checkFresh(t, testdb.New(t)) }
func TestFreshDatabaseB(t *testing.T) { checkFresh(t, testdb.New(t)) }

// TestURL: the blog's wrapper migrates with tvsync's set, then every blog
// migration in goose's default version table.
func TestURL(t *testing.T) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, testdb.URL(t))
	require.NoError(t, err)
	defer conn.Close(ctx)

	var user, queue bool
	var blog int64
	require.NoError(t, conn.QueryRow(ctx, `SELECT to_regclass('tb_user') IS NOT NULL, to_regclass('tvsync.sync_queue') IS NOT NULL,
		(SELECT max(version_id) FROM goose_db_version WHERE is_applied)`).Scan(&user, &queue, &blog))
	assert.True(t, user, "the blog's migrations must have created tb_user")
	assert.True(t, queue, "tvsync's own migrations must have created tvsync.sync_queue")
	entries, err := fs.Glob(migrations.FS, "*.sql")
	require.NoError(t, err)
	assert.Equal(t, int64(len(entries)), blog, "every blog migration is recorded in goose_db_version")
}
