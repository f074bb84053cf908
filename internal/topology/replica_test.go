package topology_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/blog"
	"github.com/tvsync/tvsync/internal/expect"
	"github.com/tvsync/tvsync/repository"
	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/syncdbtest"
	"github.com/tvsync/tvsync/sync/syncread"
	"github.com/tvsync/tvsync/sync/syncuow"
)

// replicaPool opens a pool on url (a replica's) with a short connect
// timeout, so that a stopped replica is skipped quickly.
func replicaPool(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	return openPool(t, url+"&connect_timeout=2", 8)
}

// waitReplayed waits until the replica of server srv has replayed lsn
// (polling; no time bound but the test's context).
func waitReplayed(t *testing.T, ctx context.Context, srv *syncdbtest.Server, lsn syncread.LSN) {
	t.Helper()
	conn, err := pgx.Connect(ctx, srv.URL("postgres"))
	require.NoError(t, err)
	defer conn.Close(ctx)
	for {
		var done bool
		require.NoError(t, conn.QueryRow(ctx, "SELECT pg_last_wal_replay_lsn() >= $1::text::pg_lsn", lsn.String()).Scan(&done))
		if done {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("replica did not replay %s: %v", lsn, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// setPaused pauses or resumes the replay of replica srv and waits until it
// took effect.
func setPaused(t *testing.T, ctx context.Context, srv *syncdbtest.Server, paused bool) {
	t.Helper()
	conn, err := pgx.Connect(ctx, srv.URL("postgres"))
	require.NoError(t, err)
	defer conn.Close(ctx)
	fn, want := "pg_wal_replay_resume", "not paused"
	if paused {
		fn, want = "pg_wal_replay_pause", "paused"
	}
	_, err = conn.Exec(ctx, "SELECT "+fn+"()")
	require.NoError(t, err)
	for {
		var state string
		require.NoError(t, conn.QueryRow(ctx, "SELECT pg_get_wal_replay_pause_state()").Scan(&state))
		if state == want {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("replica replay not %s: %v", want, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// title returns the title field of a tv_post document.
func title(t *testing.T, doc json.RawMessage) string {
	t.Helper()
	var v struct {
		Title string `json:"title"`
	}
	require.NoError(t, json.Unmarshal(doc, &v))
	return v.Title
}

// TestReplica_TokenReadNeverStaleOnPausedReplica: with the replica's replay
// paused after a first write, a read without a token is served by the
// replica and shows the old document (the documented risk of token-less
// reads); the same read with the token of the second write waits for the
// replica, then falls back to the primary and shows the new document (or
// fails with ErrNoReplica when so configured). Once Refresh finds the
// replica paused, it is skipped; resumed, it serves the token read.
func TestReplica_TokenReadNeverStaleOnPausedReplica(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	direct := syncdbtest.URL(t)
	primary := openPool(t, direct, 8)
	rep := syncdbtest.Replicas()[0]
	t.Cleanup(func() { setPaused(t, context.Background(), rep, false) })
	replica := replicaPool(t, syncdbtest.ReplicaURLs(t, direct)[0])
	router := syncread.New(primary, []syncread.Replica{{Name: "r0", Pool: replica}}, syncread.Config{Wait: 200 * time.Millisecond})
	strict := syncread.New(primary, []syncread.Replica{{Name: "r0", Pool: replica}}, syncread.Config{Wait: 50 * time.Millisecond, Fallback: syncread.FallbackError})
	engine := blog.MustNewEngine(primary, tvsync.Config{})
	repo := repository.New(primary, engine, repository.Options{Reads: router})

	var post uuid.UUID
	require.NoError(t, repo.InTx(ctx, func(uow *repository.UnitOfWork) error {
		user, err := uow.CreateUser(ctx, "reader", "Reader")
		if err != nil {
			return err
		}
		post, err = uow.CreatePost(ctx, user, "first", "body", true)
		return err
	}))
	first, err := repo.Position(ctx)
	require.NoError(t, err)
	waitReplayed(t, ctx, rep, first)
	doc, err := repo.GetPost(syncread.WithToken(ctx, first), post)
	require.NoError(t, err)
	assert.Equal(t, "first", title(t, doc))
	assert.Equal(t, int64(1), router.Stats().Replicas[0].Served, "the replica that replayed the token serves it")

	setPaused(t, ctx, rep, true)
	require.NoError(t, repo.InTx(ctx, func(uow *repository.UnitOfWork) error {
		return uow.UpdatePost(ctx, post, "second", "body")
	}))
	second, err := repo.Position(ctx)
	require.NoError(t, err)

	doc, err = repo.GetPost(ctx, post)
	require.NoError(t, err)
	assert.Equal(t, "first", title(t, doc), "without a token, the paused replica serves the old document")

	before := router.Stats()
	doc, err = repo.GetPost(syncread.WithToken(ctx, second), post)
	require.NoError(t, err)
	assert.Equal(t, "second", title(t, doc), "with the token, never the old document")
	after := router.Stats()
	assert.Equal(t, before.Fallbacks+1, after.Fallbacks, "it waited for the replica, then fell back")
	assert.Equal(t, before.Waited+1, after.Waited)
	assert.Equal(t, before.Primary+1, after.Primary)
	assert.Equal(t, before.Replicas[0].Served, after.Replicas[0].Served)

	err = strict.Read(syncread.WithToken(ctx, second), func(context.Context, syncread.Conn) error { return nil })
	require.ErrorIs(t, err, syncread.ErrNoReplica)

	require.NoError(t, router.Refresh(ctx))
	st := router.Stats().Replicas[0]
	assert.True(t, st.Paused)
	assert.False(t, st.Usable)
	assert.Positive(t, st.LagBytes, "a paused replica lags the primary")
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(router))
	lag, err := testutil.GatherAndCount(reg, "tvsync_replica_lag_bytes", "tvsync_replica_lag_seconds", "tvsync_replica_usable", "tvsync_read_total")
	require.NoError(t, err)
	assert.Equal(t, 5, lag, "lag in bytes and seconds, usable, reads of the primary and of r0")
	assert.Equal(t, st.LagBytes, testutil.ToFloat64(gaugeOf(t, reg, "tvsync_replica_lag_bytes")))
	doc, err = repo.GetPost(ctx, post)
	require.NoError(t, err)
	assert.Equal(t, "second", title(t, doc), "a replica found paused is skipped, even without a token")

	setPaused(t, ctx, rep, false)
	waitReplayed(t, ctx, rep, second)
	require.NoError(t, router.Refresh(ctx))
	assert.True(t, router.Stats().Replicas[0].Usable)
	served := router.Stats().Replicas[0].Served
	doc, err = repo.GetPost(syncread.WithToken(ctx, second), post)
	require.NoError(t, err)
	assert.Equal(t, "second", title(t, doc))
	assert.Equal(t, served+1, router.Stats().Replicas[0].Served, "resumed, the replica serves the token read")
}

// TestReplica_MixedRunZeroStaleTokenReadsWithAReplicaStopped: four writers
// in the inline and after-commit modes, each on its own user and posts,
// read every post back with the token of their write, through a router of
// two replicas, one of which is stopped halfway; token-less list reads run
// alongside. Every token read equals the independent recomputation of the
// post from the command tables at that moment (zero stale reads), the
// stopped replica is skipped and the reads continue, and the final state
// has zero drift.
func TestReplica_MixedRunZeroStaleTokenReadsWithAReplicaStopped(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	direct := syncdbtest.URL(t)
	primary := openPool(t, direct, 12)
	own := syncdbtest.NewReplica(t)
	shared := syncdbtest.Replicas()[0]
	start, err := syncread.Position(ctx, primary)
	require.NoError(t, err)
	waitReplayed(t, ctx, own, start) // the test's database exists on both
	waitReplayed(t, ctx, shared, start)
	router := syncread.New(primary, []syncread.Replica{
		{Name: "shared", Pool: replicaPool(t, syncdbtest.ReplicaURLs(t, direct)[0])},
		{Name: "stopped", Pool: replicaPool(t, own.URL(dbName(t, direct)))},
	}, syncread.Config{Wait: 2 * time.Second, RetryAfter: 100 * time.Millisecond})
	engine := blog.MustNewEngine(primary, tvsync.Config{})
	base := repository.New(primary, engine, repository.Options{Reads: router})

	const writers, writes = 4, 30
	var (
		tokenReads, stale, listReads atomic.Int64
		stopped                      atomic.Bool
		progress                     atomic.Int64
		wg                           gosync.WaitGroup
	)
	for g := range writers {
		wg.Go(func() {
			repo := base.WithTiming([]syncuow.Timing{syncuow.Inline, syncuow.AfterCommit}[g%2])
			r := rand.New(rand.NewPCG(uint64(g), 22))
			var user uuid.UUID
			var posts []uuid.UUID
			require.NoError(t, repo.InTx(ctx, func(uow *repository.UnitOfWork) (err error) {
				user, err = uow.CreateUser(ctx, fmt.Sprintf("w%d", g), "Writer")
				return err
			}))
			for i := range writes {
				var post uuid.UUID
				err := repo.InTx(ctx, func(uow *repository.UnitOfWork) error {
					if len(posts) == 0 || r.IntN(4) == 0 {
						id, err := uow.CreatePost(ctx, user, fmt.Sprintf("p%d_%d", g, i), "body", true)
						posts = append(posts, id)
						post = id
						return err
					}
					post = posts[r.IntN(len(posts))]
					switch r.IntN(3) {
					case 0:
						return uow.UpdatePost(ctx, post, fmt.Sprintf("t%d_%d", g, i), "edited")
					case 1:
						_, err := uow.AddComment(ctx, post, user, fmt.Sprintf("c%d_%d", g, i))
						return err
					default:
						return uow.LikePost(ctx, post, user)
					}
				})
				if err != nil && !errors.Is(err, repository.ErrConflict) {
					assert.NoError(t, err, "writer %d write %d", g, i)
					return
				}
				token, err := repo.Position(ctx)
				require.NoError(t, err)
				got, err := repo.GetPost(syncread.WithToken(ctx, token), post)
				require.NoError(t, err, "token read of post %s", post)
				tokenReads.Add(1)
				want, err := expect.Compute(ctx, primary) // only this writer changes this post
				require.NoError(t, err)
				var v any
				require.NoError(t, json.Unmarshal(got, &v))
				if diff := expect.Diff(expect.Docs{"post": {post: want["post"][post]}}, expect.Docs{"post": {post: v}}, 1); len(diff) > 0 {
					stale.Add(1)
					t.Errorf("stale token read: %v", diff)
				}
				if progress.Add(1) == writers*writes/2 && stopped.CompareAndSwap(false, true) {
					require.NoError(t, own.Stop(), "stop a replica mid-run")
				}
			}
		})
	}
	wg.Go(func() { // token-less list reads alongside, until the writers are done
		for progress.Load() < writers*writes && ctx.Err() == nil {
			_, err := base.ListPosts(ctx, uuid.Nil, 50)
			assert.NoError(t, err, "list read")
			listReads.Add(1)
			time.Sleep(time.Millisecond) // pacing only: the machine is shared
		}
	})
	wg.Wait()

	assert.True(t, stopped.Load())
	assert.Zero(t, stale.Load(), "stale token reads")
	require.NoError(t, router.Refresh(ctx), "a replica down is the replica's state, not Refresh's error")
	assert.False(t, router.Stats().Replicas[1].Usable, "the stopped replica is skipped")
	st := router.Stats()
	served := int64(0)
	for _, r := range st.Replicas {
		served += r.Served
	}
	assert.Positive(t, served, "the replicas served reads")
	assert.Positive(t, st.Replicas[1].Failed, "the stopped replica was skipped")
	t.Logf("mixed run: %d token reads (0 stale: %d), %d token-less list reads; served by replicas %d (shared %d, stopped-halfway %d), by the primary %d (%d token reads fell back after waiting, %d waited); stopped replica skipped %d times",
		tokenReads.Load(), stale.Load(), listReads.Load(), served, st.Replicas[0].Served, st.Replicas[1].Served, st.Primary, st.Fallbacks, st.Waited, st.Replicas[1].Failed)

	diff, err := expect.Check(ctx, primary)
	require.NoError(t, err)
	assert.Empty(t, diff, "independent recomputation of the final state")
}

// dbName returns the database name of url.
func dbName(t *testing.T, url string) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(url)
	require.NoError(t, err)
	return cfg.Database
}

// gaugeOf returns a collector of the one series of metric name in reg.
func gaugeOf(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			require.Len(t, mf.GetMetric(), 1)
			return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: "copy"}, func() float64 { return mf.GetMetric()[0].GetGauge().GetValue() })
		}
	}
	t.Fatalf("no metric %s", name)
	return nil
}

// TestReplica_DeferredTokenThenReplay: in deferred mode the position taken
// right after the unit of work's commit is not enough, since the document
// is written later, by a worker: a read with it returns the old document
// from an up-to-date replica. PositionAfter waits for the unit of work's
// token (the worker's sync) first, then takes the position: the replica
// that replayed it serves the new document.
func TestReplica_DeferredTokenThenReplay(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	direct := syncdbtest.URL(t)
	primary := openPool(t, direct, 8)
	replica := replicaPool(t, syncdbtest.ReplicaURLs(t, direct)[0])
	router := syncread.New(primary, []syncread.Replica{{Name: "r0", Pool: replica}}, syncread.Config{Wait: time.Minute})
	engine := blog.MustNewEngine(primary, tvsync.Config{})
	repo := repository.New(primary, engine, repository.Options{Reads: router})

	var post uuid.UUID
	require.NoError(t, repo.InTx(ctx, func(uow *repository.UnitOfWork) error {
		user, err := uow.CreateUser(ctx, "deferred-reader", "Reader")
		if err != nil {
			return err
		}
		post, err = uow.CreatePost(ctx, user, "first", "body", true)
		return err
	}))

	deferred := must(syncuow.New(primary, engine, syncuow.Options{Timing: syncuow.Deferred}))
	tok, err := deferred.RunToken(ctx, func(w *syncuow.Work) error {
		if _, err := w.Tx().Exec(ctx, "UPDATE tb_post SET title = 'second' WHERE id = $1", post); err != nil {
			return err
		}
		w.Record(tvsync.Change{Entity: blog.EntityPost, IDs: []tvsync.ID{tvsync.UUIDKey(post)}})
		return nil
	})
	require.NoError(t, err)
	require.False(t, tok.Reached(), "deferred: the token waits for a worker")

	early, err := repo.Position(ctx)
	require.NoError(t, err)
	doc, err := repo.GetPost(syncread.WithToken(ctx, early), post)
	require.NoError(t, err)
	assert.Equal(t, "first", title(t, doc), "deferred: the position after the commit does not cover the worker's sync")

	workerCtx, stopWorker := context.WithCancel(ctx)
	var workers gosync.WaitGroup
	workers.Go(func() {
		w := must(tvsync.NewWorker(engine, primary, tvsync.WorkerConfig{PollInterval: 20 * time.Millisecond}))
		assert.NoError(t, w.Run(workerCtx))
	})
	defer func() { stopWorker(); workers.Wait() }()

	lsn, res, err := syncread.PositionAfter(ctx, engine, primary, tok)
	require.NoError(t, err)
	require.Equal(t, tvsync.WaitReached, res.Status, "the worker synced the unit's rows: %+v", res)
	served := router.Stats().Replicas[0].Served
	doc, err = repo.GetPost(syncread.WithToken(ctx, lsn), post)
	require.NoError(t, err)
	assert.Equal(t, "second", title(t, doc), "the token's wait, then the replay: never the old document")
	assert.Equal(t, served+1, router.Stats().Replicas[0].Served, "served by the replica once it replayed the position: %+v (position %v)", router.Stats(), lsn)
}
