package topology_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	gosync "sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/blog"
	"github.com/tvsync/tvsync/internal/expect"
	"github.com/tvsync/tvsync/internal/seed"
	"github.com/tvsync/tvsync/internal/workload"
	"github.com/tvsync/tvsync/repository"
	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/syncdbtest"
	"github.com/tvsync/tvsync/sync/syncmigrate"
	"github.com/tvsync/tvsync/sync/syncuow"
)

// openPool opens a pool of maxConns connections on url, closed when the
// test ends.
func openPool(t *testing.T, url string, maxConns int32) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(url)
	require.NoError(t, err)
	cfg.MaxConns = maxConns
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

// TestPgBouncer_BlogWorkloadInEveryModeNoDrift: the blog's writes in every
// sync mode, eight goroutines on a client pool of eight through a
// transaction-mode pgbouncer of three server connections, the engine's full
// sync, verify with repair and plan check through it too, and a worker whose
// batches go through pgbouncer and whose LISTEN takes the direct URL. Zero
// drift, by verify and by the independent recomputation.
func TestPgBouncer_BlogWorkloadInEveryModeNoDrift(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	direct := syncdbtest.URL(t)
	pooled := openPool(t, syncdbtest.PgBouncerURL(t, direct), 8)
	engine := blog.MustNewEngine(pooled, tvsync.Config{WideThreshold: 20})

	_, err := seed.Load(ctx, pooled, seed.Options{Users: 20, Posts: 80, Comments: 200, Likes: 100})
	require.NoError(t, err)
	for _, entity := range engine.Entities() {
		_, err := engine.FullSync(ctx, entity, tvsync.FullOptions{ChunkSize: 25, Workers: 4})
		require.NoError(t, err, "full sync %s through pgbouncer", entity)
		syncdbtest.RequirePlansMatchSource(t, engine, entity) // the plan check, through pgbouncer
	}

	workerCtx, stopWorker := context.WithCancel(ctx)
	var workers gosync.WaitGroup
	workers.Go(func() {
		w := must(tvsync.NewWorker(engine, pooled, tvsync.WorkerConfig{ListenURL: direct, PollInterval: 50 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}))
		assert.NoError(t, w.Run(workerCtx))
	})

	users, posts, comments := workload.NewBag(idsOf(t, ctx, pooled, "tb_user")), workload.NewBag(idsOf(t, ctx, pooled, "tb_post")), workload.NewBag(nil)
	modes := []syncuow.Timing{syncuow.Inline, syncuow.AfterCommit, syncuow.Deferred}
	const goroutines, writes = 8, 40
	var clients gosync.WaitGroup
	failures := make([]int, goroutines)
	for g := range goroutines {
		clients.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 22))
			repo := repository.New(pooled, engine, repository.Options{Sync: modes[g%len(modes)], AfterCommitGrace: 200 * time.Millisecond})
			for i := range writes {
				tag := fmt.Sprintf("%d_%d", g, i)
				err := repo.InTx(ctx, func(uow *repository.UnitOfWork) error {
					return workload.RandomWrite(ctx, uow, r, tag, users, posts, comments)
				})
				if err != nil && !workload.ExpectedFailure(err) && !errors.Is(err, repository.ErrCommittedNotSynced) {
					assert.NoError(t, err, "goroutine %d write %d (%s) through pgbouncer", g, i, repo.Timing())
					failures[g]++
				}
			}
		})
	}
	clients.Wait()

	waitQueueEmpty(t, ctx, engine)
	stopWorker()
	workers.Wait()

	for _, entity := range engine.Entities() {
		res, err := engine.Verify(ctx, entity, tvsync.VerifyOptions{ChunkSize: 30, Workers: 4})
		require.NoError(t, err, "verify %s through pgbouncer", entity)
		assert.Zero(t, res.Drifted(), "verify %s: %+v", entity, res)
	}
	check := openPool(t, direct, 2)
	diff, err := expect.Check(ctx, check)
	require.NoError(t, err)
	assert.Empty(t, diff, "independent recomputation")
}

// waitQueueEmpty waits until the engine's queue holds no pending row.
func waitQueueEmpty(t *testing.T, ctx context.Context, engine *tvsync.Engine) {
	t.Helper()
	for {
		st, err := engine.QueueStats(ctx)
		require.NoError(t, err)
		require.Zero(t, st.Dead, "no queued row parked dead")
		if st.Pending == 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("queue not drained: %d pending: %v", st.Pending, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestPgBouncer_SessionPartsFailAtOnce: what needs a real session, handed
// a pool through pgbouncer, fails at once with ErrPooledSession (the
// worker's LISTEN, rebuild, migrations), and works on the direct URL.
func TestPgBouncer_SessionPartsFailAtOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	direct := syncdbtest.URL(t)
	pooled := openPool(t, syncdbtest.PgBouncerURL(t, direct), 4)
	directPool := openPool(t, direct, 4)
	engine := blog.MustNewEngine(pooled, tvsync.Config{})

	err := must(tvsync.NewWorker(engine, pooled, tvsync.WorkerConfig{})).Run(ctx)
	require.ErrorIs(t, err, tvsync.ErrPooledSession, "worker without ListenURL through pgbouncer")

	_, err = engine.Rebuild(ctx, blog.EntityPost, tvsync.RebuildOptions{})
	require.ErrorIs(t, err, tvsync.ErrPooledSession, "rebuild through pgbouncer")
	_, err = blog.MustNewEngine(directPool, tvsync.Config{}).Rebuild(ctx, blog.EntityPost, tvsync.RebuildOptions{})
	require.NoError(t, err, "rebuild on the direct URL")

	m, err := syncmigrate.New(pooled, &syncmigrate.Config{Set: syncmigrate.Own()})
	require.NoError(t, err)
	defer m.Close()
	_, err = m.Migrate(ctx, syncmigrate.DirectionUp, nil)
	require.ErrorIs(t, err, tvsync.ErrPooledSession, "migrations through pgbouncer")
	md, err := syncmigrate.New(directPool, &syncmigrate.Config{Set: syncmigrate.Own()})
	require.NoError(t, err)
	defer md.Close()
	_, err = md.Migrate(ctx, syncmigrate.DirectionUp, nil)
	require.NoError(t, err, "migrations on the direct URL")
	// That the check never rejects two real sessions is
	// TestCheckSession_NeverRejectsTwoRealSessions, in package sync.
}

// idsOf returns the ids of table.
func idsOf(t *testing.T, ctx context.Context, pool *pgxpool.Pool, table string) []uuid.UUID {
	t.Helper()
	rows, err := pool.Query(ctx, "SELECT id FROM "+table)
	require.NoError(t, err)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	require.NoError(t, err)
	return ids
}
