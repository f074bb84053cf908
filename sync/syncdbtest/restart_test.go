//go:build unix

package syncdbtest

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRestart_ImmediateKeepsPortAndCommittedData: an immediate restart
// breaks open connections, comes back on the same URL after crash
// recovery, keeps committed rows and loses the uncommitted one.
func TestRestart_ImmediateKeepsPortAndCommittedData(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := Start(ctx, ServerOptions{Settings: map[string]string{"synchronous_commit": "on"}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Stop() })
	url, port := srv.URL("postgres"), srv.Port()

	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, "CREATE TABLE kept (id int); INSERT INTO kept VALUES (1)")
	require.NoError(t, err)
	open, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	tx, err := open.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, "INSERT INTO kept VALUES (2)")
	require.NoError(t, err)
	var started time.Time
	require.NoError(t, conn.QueryRow(ctx, "SELECT pg_postmaster_start_time()").Scan(&started))

	require.NoError(t, srv.Restart(ctx))
	assert.Equal(t, port, srv.Port())
	assert.Equal(t, url, srv.URL("postgres"))
	_, err = conn.Exec(ctx, "SELECT 1")
	assert.Error(t, err, "a connection from before the restart is broken")
	_ = open.Close(ctx)

	again, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer again.Close(ctx)
	var restarted time.Time
	require.NoError(t, again.QueryRow(ctx, "SELECT pg_postmaster_start_time()").Scan(&restarted))
	assert.True(t, restarted.After(started), "a new postmaster: %s, then %s", started, restarted)
	var ids []int32
	rows, err := again.Query(ctx, "SELECT id FROM kept ORDER BY id")
	require.NoError(t, err)
	ids, err = pgx.CollectRows(rows, pgx.RowTo[int32])
	require.NoError(t, err)
	assert.Equal(t, []int32{1}, ids, "the committed row survived, the open transaction's did not")

	require.NoError(t, srv.Stop())
	assert.Error(t, srv.Restart(ctx), "no restart after Stop")
}
