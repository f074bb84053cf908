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

// TestTopology_PgBouncerAndReplica: a write through a transaction-mode
// pgbouncer in front of the server reaches a streaming replica, which
// refuses writes and whose replay can be paused and resumed.
func TestTopology_PgBouncerAndReplica(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := Start(ctx, ServerOptions{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Stop() })
	b, err := StartPgBouncer(ctx, srv.Host(), srv.Port(), PgBouncerOptions{PoolSize: 2})
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Stop() })
	rep, err := StartReplica(ctx, srv, ServerOptions{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = rep.Stop() })

	conn, err := pgx.Connect(ctx, b.URL("postgres"))
	require.NoError(t, err)
	defer conn.Close(ctx)
	var direct, pooled int
	require.NoError(t, conn.QueryRow(ctx, "SELECT inet_server_port()").Scan(&direct))
	assert.Equal(t, srv.Port(), direct, "pgbouncer forwards to the server")
	pooled = b.Port()
	assert.NotEqual(t, direct, pooled)
	_, err = conn.Exec(ctx, "CREATE TABLE kept (id int)")
	require.NoError(t, err)
	for i := range 3 { // a parameterized statement, three times: no prepared statement reused across sessions
		_, err = conn.Exec(ctx, "INSERT INTO kept VALUES ($1)", i)
		require.NoError(t, err)
	}
	var lsn string
	require.NoError(t, conn.QueryRow(ctx, "SELECT pg_current_wal_insert_lsn()::text").Scan(&lsn))

	rc, err := pgx.Connect(ctx, rep.URL("postgres"))
	require.NoError(t, err)
	defer rc.Close(ctx)
	require.NoError(t, waitReplayed(ctx, rep, lsn))
	var n int
	require.NoError(t, rc.QueryRow(ctx, "SELECT count(*) FROM kept").Scan(&n))
	assert.Equal(t, 3, n)
	_, err = rc.Exec(ctx, "INSERT INTO kept VALUES (9)")
	require.Error(t, err, "a hot standby is read-only")

	_, err = rc.Exec(ctx, "SELECT pg_wal_replay_pause()")
	require.NoError(t, err)
	for {
		var state string
		require.NoError(t, rc.QueryRow(ctx, "SELECT pg_get_wal_replay_pause_state()").Scan(&state))
		if state == "paused" {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	_, err = conn.Exec(ctx, "INSERT INTO kept VALUES (3)")
	require.NoError(t, err)
	require.NoError(t, conn.QueryRow(ctx, "SELECT pg_current_wal_insert_lsn()::text").Scan(&lsn))
	require.NoError(t, rc.QueryRow(ctx, "SELECT count(*) FROM kept").Scan(&n))
	assert.Equal(t, 3, n, "a paused replica does not see the new row")
	_, err = rc.Exec(ctx, "SELECT pg_wal_replay_resume()")
	require.NoError(t, err)
	require.NoError(t, waitReplayed(ctx, rep, lsn))
	require.NoError(t, rc.QueryRow(ctx, "SELECT count(*) FROM kept").Scan(&n))
	assert.Equal(t, 4, n)
}
