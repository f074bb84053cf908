package sync_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/blog"
	"github.com/tvsync/tvsync/internal/expect"
	"github.com/tvsync/tvsync/internal/seed"
	"github.com/tvsync/tvsync/internal/testdb"
	"github.com/tvsync/tvsync/repository"
	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/syncdbtest"
	"github.com/tvsync/tvsync/sync/syncuow"
)

func TestSync_HundredThousandIDsAreChunked(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	engine := blog.MustNewEngine(pool, tvsync.Config{})
	_, err := pool.Exec(ctx, `
		INSERT INTO tb_user (username) VALUES ('chunky');
		INSERT INTO tb_post (author_id, title) SELECT (SELECT id FROM tb_user), 'p' || g FROM generate_series(1, 300) g`)
	require.NoError(t, err)
	rows, err := pool.Query(ctx, "SELECT id FROM tb_post")
	require.NoError(t, err)
	real, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	require.NoError(t, err)
	ids := append([]uuid.UUID{}, real...)
	for len(ids) < 100_000 {
		ids = append(ids, uuid.New())
	}

	report, err := engine.Sync(ctx, tvsync.ModeIncremental, tvsync.Change{Entity: blog.EntityPost, IDs: tvsync.UUIDKeys(ids)})
	require.NoError(t, err)
	res := report.For(blog.EntityPost)
	assert.Equal(t, 100_000, res.Requested)
	assert.Equal(t, 300, res.Upserted)
	assert.Equal(t, 100_000-300, res.Missing)
	assert.Equal(t, 100, countRows(t, pool, "SELECT count(*) FROM tvsync.sync_log"), "100k ids in chunks of 1000")
	assert.Equal(t, 300, countRows(t, pool, "SELECT count(*) FROM tv_post"))
}

func TestSync_CancelledContextRollsBackCleanly(t *testing.T) {
	ctx := context.Background()
	pool, gatedPool, url := twoPools(t)
	repo := repository.New(pool, blog.MustNewEngine(pool, tvsync.Config{}), repository.Options{})
	var postID uuid.UUID
	require.NoError(t, repo.InTx(ctx, func(uow *repository.UnitOfWork) error {
		u, err := uow.CreateUser(ctx, "cancel", "")
		if err != nil {
			return err
		}
		postID, err = uow.CreatePost(ctx, u, "before", "", true)
		return err
	}))
	_, err := pool.Exec(ctx, "UPDATE tb_post SET title = 'after' WHERE id = $1", postID)
	require.NoError(t, err)
	g := installGate(t, pool, url)
	g.close()

	gated := blog.MustNewEngine(gatedPool, tvsync.Config{})
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := blog.Syncer{Syncer: gated}.SyncPost(cctx, []uuid.UUID{postID}, tvsync.ModeIncremental)
		done <- err
	}()
	eventually(t, "the sync is inside its read", func() bool { return g.waiting(true) == 1 })
	cancel()
	err = <-done
	require.ErrorIs(t, err, context.Canceled)
	g.open()

	assert.Equal(t, "before", postDoc(t, pool, postID)["title"], "nothing of the cancelled sync committed")
	eventually(t, "its advisory locks are released", func() bool {
		return countRows(t, pool, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid <> 424242") == 0
	})
	_, err = blog.Syncer{Syncer: gated}.SyncPost(ctx, []uuid.UUID{postID}, tvsync.ModeIncremental)
	require.NoError(t, err, "the engine and its pool are usable after the cancellation")
	assert.Equal(t, "after", postDoc(t, pool, postID)["title"])
}

func TestWorker_StopFinishesTheBatchInHand(t *testing.T) {
	ctx := context.Background()
	pool, gatedPool, url := twoPools(t)
	repo := repository.New(pool, blog.MustNewEngine(pool, tvsync.Config{}), repository.Options{Sync: syncuow.Deferred})
	for i := range 6 {
		require.NoError(t, repo.InTx(ctx, func(uow *repository.UnitOfWork) error {
			u, err := uow.CreateUser(ctx, fmt.Sprintf("stop_%d", i), "")
			if err != nil {
				return err
			}
			_, err = uow.CreatePost(ctx, u, "p", "", true)
			return err
		}))
	}
	require.Equal(t, 12, countRows(t, pool, "SELECT count(*) FROM tvsync.sync_queue"))
	lastSeq := countRows(t, pool, "SELECT max(seq) FROM tvsync.sync_queue")
	g := installGate(t, pool, url)
	g.close()

	// Batches of 4 rows: the worker is stopped while its first batch is inside the sync.
	w := must(tvsync.NewWorker(blog.MustNewEngine(gatedPool, tvsync.Config{}), gatedPool, tvsync.WorkerConfig{BatchSize: 4}))
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(runCtx) }()
	eventually(t, "the first batch is inside its sync", func() bool { return g.waiting(true) == 1 })
	stop() // what SIGTERM does in tvsync worker
	time.Sleep(50 * time.Millisecond)
	g.open()
	require.NoError(t, <-done)

	assert.Equal(t, 8, countRows(t, pool, fmt.Sprintf("SELECT count(*) FROM tvsync.sync_queue WHERE seq <= %d", lastSeq)),
		"the batch in hand was finished and removed, the rest kept (beside the dependents the batch queued)")
	assert.Zero(t, countRows(t, pool, "SELECT count(*) FROM tvsync.sync_queue WHERE attempts > 0"), "no attempt failed")
	_, err := must(tvsync.NewWorker(blog.MustNewEngine(pool, tvsync.Config{}), pool, tvsync.WorkerConfig{})).Drain(ctx)
	require.NoError(t, err)
	diff, err := expect.Check(ctx, pool)
	require.NoError(t, err)
	assert.Empty(t, diff)
}

func TestWorker_WakesOnNotifyWithoutPolling(t *testing.T) {
	ctx := context.Background()
	pool := testdb.New(t)
	engine := blog.MustNewEngine(pool, tvsync.Config{})
	repo := repository.New(pool, engine, repository.Options{Sync: syncuow.Deferred})
	// Polling once an hour: only LISTEN/NOTIFY can wake this worker in time.
	w := must(tvsync.NewWorker(engine, pool, tvsync.WorkerConfig{PollInterval: time.Hour}))
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(runCtx) }()
	eventually(t, "the worker listens", func() bool {
		return countRows(t, pool, "SELECT count(*) FROM pg_stat_activity WHERE query = 'LISTEN tvsync_sync_queue' AND datname = current_database()") == 1
	})
	var userID uuid.UUID
	require.NoError(t, repo.InTx(ctx, func(uow *repository.UnitOfWork) error {
		var err error
		userID, err = uow.CreateUser(ctx, "notified", "")
		return err
	}))
	eventually(t, "the deferred write is synced", func() bool {
		return countRows(t, pool, fmt.Sprintf("SELECT count(*) FROM tv_user WHERE id = '%s'", userID)) == 1
	})
	stop()
	require.NoError(t, <-done)
	assert.Zero(t, countRows(t, pool, "SELECT count(*) FROM tvsync.sync_queue"))
}

func TestWorker_PoisonItemIsParkedDeadThenRetried(t *testing.T) {
	ctx := context.Background()
	pool := testdb.New(t)
	engine := blog.MustNewEngine(pool, tvsync.Config{})
	repo := repository.New(pool, engine, repository.Options{Sync: syncuow.Deferred})
	_, err := pool.Exec(ctx, `ALTER TABLE tv_post ADD CONSTRAINT no_poison CHECK (data->>'title' <> 'poison')`)
	require.NoError(t, err)
	var poisonID uuid.UUID
	require.NoError(t, repo.InTx(ctx, func(uow *repository.UnitOfWork) error {
		u, err := uow.CreateUser(ctx, "p", "")
		if err != nil {
			return err
		}
		if _, err := uow.CreatePost(ctx, u, "fine", "", true); err != nil {
			return err
		}
		poisonID, err = uow.CreatePost(ctx, u, "poison", "", true)
		return err
	}))
	w := must(tvsync.NewWorker(engine, pool, tvsync.WorkerConfig{MaxAttempts: 3, MaxBackoff: 10 * time.Millisecond}))
	eventually(t, "the poison item is parked as dead", func() bool {
		_, err := w.Drain(ctx)
		var failed *tvsync.FailedError
		if err != nil {
			require.ErrorAs(t, err, &failed, "only the poison id fails")
			assert.Equal(t, []tvsync.ID{tvsync.UUIDKey(poisonID)}, failed.IDs[blog.EntityPost])
		}
		st, serr := engine.QueueStats(ctx)
		require.NoError(t, serr)
		return st.Dead == 1
	})
	st, err := engine.QueueStats(ctx)
	require.NoError(t, err)
	assert.Equal(t, tvsync.QueueStats{Pending: 0, Dead: 1}, st, "everything else was synced and removed")
	dead, err := engine.DeadItems(ctx, 10)
	require.NoError(t, err)
	require.Len(t, dead, 1)
	assert.Equal(t, poisonID.String(), dead[0].ID)
	assert.Equal(t, 3, dead[0].Attempts)
	assert.Contains(t, dead[0].LastError, "no_poison")
	assert.Equal(t, 2, countRows(t, pool, "SELECT count(*) FROM tv_user")+countRows(t, pool, "SELECT count(*) FROM tv_post"))

	// The operator fixes the cause and retries the dead items.
	_, err = pool.Exec(ctx, `ALTER TABLE tv_post DROP CONSTRAINT no_poison`)
	require.NoError(t, err)
	n, err := engine.RetryDead(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, 1, n)
	_, err = w.Drain(ctx)
	require.NoError(t, err)
	assert.Zero(t, countRows(t, pool, "SELECT count(*) FROM tvsync.sync_queue"))
	diff, err := expect.Check(ctx, pool)
	require.NoError(t, err)
	assert.Empty(t, diff)
}

// TestSync_EveryRefreshPlanBuildsTheSameDocuments: on seeded data, every
// registered plan of every blog entity builds exactly the documents of its
// Source view (the kit's one-line check, syncdbtest.RequirePlansMatchSource);
// then the engine syncs with each plan in turn (per-id lookups, wide
// aggregation over an id array, full-sync keyset ranges), and each must
// match the independent Go recomputation and the view-based verification.
func TestSync_EveryRefreshPlanBuildsTheSameDocuments(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	_, err := seed.Load(ctx, pool, seed.Options{Users: 40, Posts: 300, Comments: 1500, Likes: 400})
	require.NoError(t, err)
	syncdbtest.RequirePlansMatchSource(t, blog.MustNewEngine(pool, tvsync.Config{BatchSize: 120}))
	ids := map[string][]uuid.UUID{}
	for _, entity := range []string{"user", "post", "comment"} {
		rows, err := pool.Query(ctx, "SELECT id FROM tb_"+entity)
		require.NoError(t, err)
		ids[entity], err = pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		require.NoError(t, err)
	}
	for _, plan := range []struct {
		name      string
		threshold int
		full      bool
	}{{"per-id lookups", -1, false}, {"wide aggregation", 1, false}, {"keyset ranges", 0, true}} {
		_, err := pool.Exec(ctx, "TRUNCATE tv_post, tv_user, tv_comment")
		require.NoError(t, err)
		engine := blog.MustNewEngine(pool, tvsync.Config{WideThreshold: plan.threshold})
		for _, entity := range engine.Entities() {
			if plan.full {
				_, err = engine.FullSync(ctx, entity, tvsync.FullOptions{ChunkSize: 120})
			} else {
				_, err = engine.Sync(ctx, tvsync.ModeIncremental, tvsync.Change{Entity: entity, IDs: tvsync.UUIDKeys(ids[entity])})
			}
			require.NoError(t, err, plan.name)
		}
		diff, err := expect.Check(ctx, pool)
		require.NoError(t, err)
		assert.Empty(t, diff, plan.name)
		res, err := engine.Verify(ctx, blog.EntityPost, tvsync.VerifyOptions{})
		require.NoError(t, err)
		assert.Zero(t, res.Drifted(), plan.name)
		assert.Equal(t, 300, res.Checked)
	}
}

// TestSync_ProgramLimitExceededIsIsolated: a document PostgreSQL cannot
// hold (SQLSTATE 54000, as jsonb over 256 MB reports) fails alone; the other
// ids of its batch are synced.
func TestSync_ProgramLimitExceededIsIsolated(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	// A cheap stand-in for an oversized document: the check raises 54000 for one username.
	_, err := pool.Exec(ctx, `
		CREATE FUNCTION tvsync_test_limit(doc jsonb) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$
		BEGIN
			IF doc->>'username' = 'huge' THEN
				RAISE EXCEPTION 'total size of jsonb array elements exceeds the maximum of 268435455 bytes' USING ERRCODE = '54000';
			END IF;
			RETURN true;
		END $$;
		ALTER TABLE tv_user ADD CONSTRAINT within_limits CHECK (tvsync_test_limit(data))`)
	require.NoError(t, err)
	var ids []uuid.UUID
	for _, name := range []string{"small1", "huge", "small2", "small3"} {
		var id uuid.UUID
		require.NoError(t, pool.QueryRow(ctx, "INSERT INTO tb_user (username) VALUES ($1) RETURNING id", name).Scan(&id))
		ids = append(ids, id)
	}

	report, err := blog.MustNewEngine(pool, tvsync.Config{}).Sync(ctx, tvsync.ModeIncremental, tvsync.Change{Entity: blog.EntityUser, IDs: tvsync.UUIDKeys(ids)})
	var failed *tvsync.FailedError
	require.ErrorAs(t, err, &failed, "the batch is split, not failed as a whole")
	assert.Equal(t, []tvsync.ID{tvsync.UUIDKey(ids[1])}, failed.IDs[blog.EntityUser])
	assert.Equal(t, 1, report.For(blog.EntityUser).Failed)
	assert.Equal(t, 3, report.For(blog.EntityUser).Upserted)
	assert.Equal(t, 3, countRows(t, pool, "SELECT count(*) FROM tv_user"))
	assert.Zero(t, countRows(t, pool, "SELECT count(*) FROM tv_user WHERE data->>'username' = 'huge'"))
}
