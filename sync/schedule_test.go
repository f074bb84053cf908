package sync_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/blog"
	"github.com/tvsync/tvsync/internal/testdb"
	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/syncuow"
)

// Issue 19, documents that age: a re-sync scheduled in a unit of work,
// atomically with its writes, is not removed by that unit's own
// after-commit sync of the same id (nor merged into it), is not taken
// before it is due, and is synced by a worker once it is.
func TestSchedule_SurvivesTheUnitsOwnSyncAndFiresWhenDue(t *testing.T) {
	ctx := context.Background()
	pool := testdb.New(t)
	e := blog.MustNewEngine(pool, tvsync.Config{})
	user := insertUser(t, pool, "ageing")
	fullSyncAll(t, e)
	change := tvsync.Change{Entity: blog.EntityUser, IDs: tvsync.UUIDKeys([]uuid.UUID{user})}

	err := must(syncuow.New(pool, e, syncuow.Options{})).Run(ctx, func(w *syncuow.Work) error {
		if _, err := w.Tx().Exec(ctx, "UPDATE tb_user SET full_name = 'due soon' WHERE id = $1", user); err != nil {
			return err
		}
		w.Record(change)
		return e.Schedule(ctx, w.Tx(), time.Now().Add(time.Hour), change)
	})
	require.NoError(t, err)
	requireNoDrift(t, pool)
	var scheduled int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM tvsync.sync_queue WHERE scheduled AND available_at > now()").Scan(&scheduled))
	assert.Equal(t, 1, scheduled, "the unit's own sync left the scheduled re-sync")
	assert.Equal(t, 1, queueRows(t, pool), "and only it")

	w := must(tvsync.NewWorker(e, pool, tvsync.WorkerConfig{}))
	res, err := w.Drain(ctx)
	require.NoError(t, err)
	assert.Zero(t, res.Claimed, "not due yet")

	_, err = pool.Exec(ctx, "UPDATE tvsync.sync_queue SET available_at = now() WHERE scheduled") // the due time comes
	require.NoError(t, err)
	res, err = w.Drain(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, res.Synced)
	assert.Zero(t, queueRows(t, pool))
}
