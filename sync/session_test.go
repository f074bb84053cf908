package sync_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/internal/testdb"
	tvsync "github.com/tvsync/tvsync/sync"
)

// TestCheckSession_NeverRejectsTwoRealSessions: two connections of a pool
// on a direct URL are two server sessions, and the check that guards the
// worker's LISTEN and the rebuild's session lock lets them through (its
// refusals through PgBouncer are internal/topology's tests).
func TestCheckSession_NeverRejectsTwoRealSessions(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := testdb.New(t)
	a, err := pool.Acquire(ctx)
	require.NoError(t, err)
	defer a.Release()
	b, err := pool.Acquire(ctx)
	require.NoError(t, err)
	defer b.Release()
	require.NoError(t, tvsync.CheckSession(ctx, a, b))
}
