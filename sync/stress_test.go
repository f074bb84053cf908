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

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/blog"
	"github.com/tvsync/tvsync/internal/expect"
	"github.com/tvsync/tvsync/internal/testdb"
	"github.com/tvsync/tvsync/internal/workload"
	"github.com/tvsync/tvsync/repository"
	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/syncuow"
)

// TestStress_ConcurrentWritesInEveryModeLeaveNoDrift runs 16 goroutines of
// 300 random writes each (creates, renames, comments added and deleted,
// likes, post and user deletions) through the repository, spread over the
// three sync modes, with two workers draining the queue; then verify must
// report zero drift, and so must an independent recomputation in Go.
func TestStress_ConcurrentWritesInEveryModeLeaveNoDrift(t *testing.T) {
	const goroutines, writesEach = 16, 300
	ctx := context.Background()
	url := testdb.URL(t)
	cfg, err := pgxpool.ParseConfig(url)
	require.NoError(t, err)
	cfg.MaxConns = 40
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	engine := blog.MustNewEngine(pool, tvsync.Config{})
	base := repository.New(pool, engine, repository.Options{AfterCommitGrace: 200 * time.Millisecond})
	repos := []*repository.Repository{
		base.WithTiming(syncuow.AfterCommit),
		base.WithTiming(syncuow.Inline),
		base.WithTiming(syncuow.Deferred),
	}

	workerCtx, stopWorkers := context.WithCancel(ctx)
	var workers gosync.WaitGroup
	for range 2 {
		w := must(tvsync.NewWorker(engine, pool, tvsync.WorkerConfig{BatchSize: 100, PollInterval: 50 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}))
		workers.Go(func() { _ = w.Run(workerCtx) })
	}

	users, posts, comments := workload.NewBag(nil), workload.NewBag(nil), workload.NewBag(nil)
	var writes, failures, notSynced atomic.Int64
	start := time.Now()
	var wg gosync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 42))
			repo := repos[g%len(repos)]
			for i := range writesEach {
				err := repo.InTx(ctx, func(uow *repository.UnitOfWork) error {
					return workload.RandomWrite(ctx, uow, r, fmt.Sprintf("g%d_%d", g, i), users, posts, comments)
				})
				writes.Add(1)
				switch {
				case err == nil:
				case errors.Is(err, repository.ErrCommittedNotSynced):
					notSynced.Add(1) // committed; the queue repairs it
				case workload.ExpectedFailure(err):
					failures.Add(1)
				default:
					errs <- fmt.Errorf("goroutine %d write %d: %w", g, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	writeTime := time.Since(start)

	// Let the workers drain what is left (deferred rows, grace-period rows).
	eventually(t, "the queue is drained", func() bool {
		st, err := engine.QueueStats(ctx)
		require.NoError(t, err)
		require.Zero(t, st.Dead, "no item may be parked as dead")
		return st.Pending == 0
	})
	stopWorkers()
	workers.Wait()

	drifted := 0
	verifyStart := time.Now()
	for _, entity := range engine.Entities() {
		res, err := engine.Verify(ctx, entity, tvsync.VerifyOptions{})
		require.NoError(t, err)
		assert.Zero(t, res.Drifted(), "%s: missing=%d stale=%d orphaned=%d samples=%v", entity, res.Missing, res.Stale, res.Orphaned, res.Samples)
		drifted += res.Drifted()
	}
	verifyTime := time.Since(verifyStart)
	diff, err := expect.Check(ctx, pool)
	require.NoError(t, err)
	assert.Empty(t, diff)

	var syncBatches, syncedRows int64
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*), coalesce(sum(requested), 0) FROM tvsync.sync_log").Scan(&syncBatches, &syncedRows))
	t.Logf("stress: %d writes (%d legitimately failed, %d committed but left to the queue) in %s; %d sync batches covering %d rows; drift found by verify: %d (verify took %s)",
		writes.Load(), failures.Load(), notSynced.Load(), writeTime.Round(time.Millisecond), syncBatches, syncedRows, drifted, verifyTime.Round(time.Millisecond))
	assert.Less(t, failures.Load(), writes.Load()/2, "most writes succeed (the rest name rows deleted meanwhile)")
}
