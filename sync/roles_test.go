package sync_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/internal/testdb"
)

// databaseName returns the name of the database pool is connected to.
func databaseName(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	var name string
	require.NoError(t, pool.QueryRow(context.Background(), "SELECT current_database()").Scan(&name))
	return name
}

// superuserPool opens a pool on pool's database as the server's superuser
// (the operator of the attack, who runs rebuild as postgres).
func superuserPool(t *testing.T, pool *pgxpool.Pool) *pgxpool.Pool {
	t.Helper()
	su, err := pgxpool.New(context.Background(), testdb.ServerURL(databaseName(t, pool)))
	require.NoError(t, err)
	t.Cleanup(su.Close)
	return su
}

// createLoginRole creates a role with LOGIN, a random name starting with
// prefix and a random password, and no privilege at all, and returns its
// name and a URL that connects to pool's database as that role. The role,
// and whatever it owns or was granted in the database, is dropped when the
// test ends (register pools opened on the URL after this call, so that they
// close first).
func createLoginRole(t *testing.T, pool *pgxpool.Pool, prefix string) (role, roleURL string) {
	t.Helper()
	ctx := context.Background()
	raw := make([]byte, 8)
	_, err := rand.Read(raw)
	require.NoError(t, err)
	role = prefix + "_" + hex.EncodeToString(raw)
	_, err = rand.Read(raw)
	require.NoError(t, err)
	password := hex.EncodeToString(raw)

	dbURL := testdb.ServerURL(databaseName(t, pool))
	admin, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	defer func() { _ = admin.Close(ctx) }()
	_, err = admin.Exec(ctx, "CREATE ROLE "+pgx.Identifier{role}.Sanitize()+" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '"+password+"'")
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx := context.Background()
		admin, err := pgx.Connect(ctx, dbURL)
		if err != nil {
			t.Errorf("drop role %s: %v", role, err)
			return
		}
		defer func() { _ = admin.Close(ctx) }()
		id := pgx.Identifier{role}.Sanitize()
		if _, err := admin.Exec(ctx, "DROP OWNED BY "+id+" CASCADE; DROP ROLE "+id); err != nil {
			t.Errorf("drop role %s: %v", role, err)
		}
	})

	u, err := url.Parse(dbURL)
	require.NoError(t, err)
	u.User = url.UserPassword(role, password)
	return role, u.String()
}

// rolePool opens a pool connected as a role created by createLoginRole.
func rolePool(t *testing.T, roleURL string) *pgxpool.Pool {
	t.Helper()
	p, err := pgxpool.New(context.Background(), roleURL)
	require.NoError(t, err)
	t.Cleanup(p.Close)
	require.NoError(t, p.Ping(context.Background()))
	return p
}
