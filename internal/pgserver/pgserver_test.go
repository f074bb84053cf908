//go:build unix

package pgserver

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestStart_ServesThenStopRemovesItsFiles: the server accepts connections
// at its URL with the speed settings and the extra ones, and Stop (twice)
// shuts it down and removes its data directory.
func TestStart_ServesThenStopRemovesItsFiles(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := Start(ctx, Options{Settings: map[string]string{"work_mem": "16MB"}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Stop() })

	conn, err := pgx.Connect(ctx, srv.URL("postgres"))
	require.NoError(t, err)
	var fsync, workMem string
	require.NoError(t, conn.QueryRow(ctx, "SELECT current_setting('fsync'), current_setting('work_mem')").Scan(&fsync, &workMem))
	require.NoError(t, conn.Close(ctx))
	assert.Equal(t, "off", fsync)
	assert.Equal(t, "16MB", workMem)

	require.DirExists(t, srv.dataDir)
	require.NoError(t, srv.Stop())
	require.NoError(t, srv.Stop(), "a second Stop is a no-op")
	_, err = os.Stat(srv.dataDir)
	assert.ErrorIs(t, err, os.ErrNotExist)
	_, err = pgx.Connect(ctx, srv.URL("postgres"))
	assert.Error(t, err, "the server is gone")
}

func TestStart_RejectsTheSettingsItManages(t *testing.T) {
	for _, name := range []string{"port", "Listen_Addresses", "unix_socket_directories", ""} {
		_, err := Start(context.Background(), Options{Settings: map[string]string{name: "1"}})
		assert.ErrorContains(t, err, "cannot be set through Options.Settings", name)
	}
}
