package testdb_test

import (
	"context"
	"os"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/internal/testdb"
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

func TestDatabasesAreIsolated(t *testing.T) {
	ctx := context.Background()
	a, b := testdb.New(t), testdb.New(t)

	var dbA, dbB string
	require.NoError(t, a.QueryRow(ctx, "SELECT current_database()").Scan(&dbA))
	require.NoError(t, b.QueryRow(ctx, "SELECT current_database()").Scan(&dbB))
	require.NotEqual(t, dbA, dbB)

	_, err := a.Exec(ctx, "INSERT INTO tb_user (username) VALUES ('bob')")
	require.NoError(t, err)

	var inA, inB int
	require.NoError(t, a.QueryRow(ctx, "SELECT count(*) FROM tb_user WHERE username = 'bob'").Scan(&inA))
	require.NoError(t, b.QueryRow(ctx, "SELECT count(*) FROM tb_user WHERE username = 'bob'").Scan(&inB))
	assert.Equal(t, 1, inA)
	assert.Equal(t, 0, inB, "a write in one database must be invisible in the other")
}

func TestURL(t *testing.T) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, testdb.URL(t))
	require.NoError(t, err)
	defer conn.Close(ctx)

	var exists bool
	require.NoError(t, conn.QueryRow(ctx, "SELECT to_regclass('tb_user') IS NOT NULL").Scan(&exists))
	assert.True(t, exists, "migrations must have created tb_user")
}

func TestServerURL(t *testing.T) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, testdb.ServerURL("postgres"))
	require.NoError(t, err)
	defer conn.Close(ctx)

	var db string
	var super bool
	require.NoError(t, conn.QueryRow(ctx,
		"SELECT current_database(), rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&db, &super))
	assert.Equal(t, "postgres", db)
	assert.True(t, super, "ServerURL must connect as a superuser")
}
