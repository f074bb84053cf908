package sync_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/internal/expect"
	"github.com/tvsync/tvsync/internal/seed"
	"github.com/tvsync/tvsync/internal/testdb"
	"github.com/tvsync/tvsync/repository"
	tvsync "github.com/tvsync/tvsync/sync"
)

// TestRebuild_ReadersNeverMissARowAndNoWriteIsLost rebuilds tv_post while
// readers read every post continuously and a writer keeps editing posts and
// adding new ones; no read may miss a row or fail, and afterwards verify
// must find zero drift (writes made during the rebuild are in the new table).
func TestRebuild_ReadersNeverMissARowAndNoWriteIsLost(t *testing.T) {
	ctx := context.Background()
	pool := testdb.New(t)
	engine := tvsync.New(pool, tvsync.Config{})
	repo := repository.New(pool, engine, repository.Options{})
	_, err := seed.Load(ctx, pool, seed.Options{Users: 100, Posts: 3000, Comments: 6000, Likes: 1000})
	require.NoError(t, err)
	_, err = pool.Exec(ctx, "ANALYZE")
	require.NoError(t, err)
	for _, entity := range engine.Entities() {
		_, err := engine.FullSync(ctx, entity, tvsync.FullOptions{})
		require.NoError(t, err)
	}
	rows, err := pool.Query(ctx, "SELECT id FROM tb_post")
	require.NoError(t, err)
	postIDs, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	require.NoError(t, err)
	// Drift the rebuild must fix: one stale row.
	_, err = pool.Exec(ctx, "UPDATE tv_post SET data = '{}' WHERE id = $1", postIDs[0])
	require.NoError(t, err)

	stop := make(chan struct{})
	var reads, missing, failed atomic.Int64
	var firstErr atomic.Value
	var wg gosync.WaitGroup
	for r := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(r), 7))
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, err := repo.GetPost(ctx, postIDs[rng.IntN(len(postIDs))])
				reads.Add(1)
				switch {
				case errors.Is(err, repository.ErrNotFound):
					missing.Add(1)
				case err != nil:
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
			}
		})
	}
	var writes atomic.Int64
	var newPosts []uuid.UUID
	wg.Go(func() {
		rng := rand.New(rand.NewPCG(99, 7))
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			err := repo.InTx(ctx, func(uow *repository.UnitOfWork) error {
				if i%3 == 0 {
					id, err := uow.CreatePost(ctx, uuid.Nil, "", "", false) // rejected: bad input mid-rebuild changes nothing
					_ = id
					if err == nil {
						return errors.New("an empty title was accepted")
					}
				}
				return uow.UpdatePost(ctx, postIDs[rng.IntN(len(postIDs))], fmt.Sprintf("edited during rebuild %d", i), "")
			})
			if err != nil {
				firstErr.CompareAndSwap(nil, err)
				return
			}
			writes.Add(1)
		}
	})

	time.Sleep(50 * time.Millisecond)
	res, err := engine.Rebuild(ctx, tvsync.EntityPost, tvsync.RebuildOptions{ChunkSize: 500})
	time.Sleep(50 * time.Millisecond)
	close(stop)
	wg.Wait()
	require.NoError(t, err)
	if v := firstErr.Load(); v != nil {
		require.NoError(t, v.(error))
	}
	_ = newPosts
	t.Logf("rebuild: %d rows built in %s, %d caught up, %d removed, swap lock held %s (%d attempt(s)); %d reads, %d writes during it",
		res.Rows, res.Build.Round(time.Millisecond), res.CaughtUp, res.Removed, res.LockHeld.Round(time.Microsecond), res.SwapAttempts, reads.Load(), writes.Load())

	assert.Equal(t, 3000, res.Rows)
	assert.Zero(t, missing.Load(), "no read saw a missing row")
	assert.Zero(t, failed.Load(), "no read failed")
	assert.Positive(t, writes.Load(), "writes happened during the rebuild")
	assert.Positive(t, reads.Load())
	diff, err := expect.Check(ctx, pool)
	require.NoError(t, err)
	assert.Empty(t, diff, "the stale row is fixed and no write made during the rebuild is lost")
	assert.Zero(t, countRows(t, pool, "SELECT count(*) FROM pg_tables WHERE schemaname = 'tvsync_shadow'"), "the shadow table became the live one")
	assert.Equal(t, 3000, countRows(t, pool, "SELECT count(*) FROM tv_post"))
}
