//go:build unix

package syncdbtest

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStartStop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	begin := time.Now()
	srv, err := Start(ctx, ServerOptions{Settings: map[string]string{"application_name": "syncdbtest_test"}})
	require.NoError(t, err)
	t.Logf("server started in %s at %s", time.Since(begin), srv.URL("postgres"))
	t.Cleanup(func() { _ = srv.Stop() })

	assert.Equal(t, "127.0.0.1", srv.Host())
	assert.Equal(t, "postgres://postgres@127.0.0.1:"+strconv.Itoa(srv.Port())+"/postgres?sslmode=disable", srv.URL("postgres"))

	conn, err := pgx.Connect(ctx, srv.URL("postgres"))
	require.NoError(t, err)
	var version, fsync string
	require.NoError(t, conn.QueryRow(ctx, "SELECT version()").Scan(&version))
	require.NoError(t, conn.QueryRow(ctx, "SHOW fsync").Scan(&fsync))
	require.NoError(t, conn.Close(ctx))
	assert.Contains(t, version, "PostgreSQL")
	assert.Equal(t, "off", fsync)

	dir := srv.dataDir
	require.DirExists(t, dir)

	require.NoError(t, srv.Stop())
	require.NoError(t, srv.Stop(), "second Stop must be a no-op")

	_, err = os.Stat(dir)
	assert.ErrorIs(t, err, os.ErrNotExist, "data directory %s should be removed", dir)

	c, err := net.DialTimeout("tcp", net.JoinHostPort(srv.Host(), strconv.Itoa(srv.Port())), time.Second)
	if err == nil {
		_ = c.Close()
	}
	assert.Error(t, err, "port %d should no longer accept connections", srv.Port())
}

func TestStartRejectsReservedSetting(t *testing.T) {
	_, err := Start(context.Background(), ServerOptions{Settings: map[string]string{"port": "1"}})
	require.ErrorContains(t, err, `"port"`)
}

// TestStart_DataDirPersistsAcrossRestarts: with ServerOptions.DataDir the cluster
// lives in that directory, Stop leaves it in place, and the next Start on
// it finds the data written before (no new initdb).
func TestStart_DataDirPersistsAcrossRestarts(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	parent, err := os.MkdirTemp("", "syncdbtest-datadir-*")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(parent) })
	require.NoError(t, os.Chmod(parent, 0o755)) // the server user must reach dir
	dir := filepath.Join(parent, "cluster")

	srv, err := Start(ctx, ServerOptions{DataDir: dir})
	require.NoError(t, err)
	conn, err := pgx.Connect(ctx, srv.URL("postgres"))
	require.NoError(t, err)
	_, err = conn.Exec(ctx, "CREATE DATABASE kept")
	require.NoError(t, err)
	require.NoError(t, conn.Close(ctx))
	require.NoError(t, srv.Stop())
	require.FileExists(t, filepath.Join(dir, "PG_VERSION"), "Stop must keep a DataDir cluster")

	srv, err = Start(ctx, ServerOptions{DataDir: dir})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Stop() })
	conn, err = pgx.Connect(ctx, srv.URL("kept"))
	require.NoError(t, err, "the database created before the restart must still exist")
	require.NoError(t, conn.Close(ctx))
}
