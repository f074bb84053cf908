package syncuow_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/blog"
	"github.com/tvsync/tvsync/internal/expect"
	"github.com/tvsync/tvsync/internal/testdb"
	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/syncuow"
)

// The tests use the blog's schema and entities as a domain of their own:
// tb_user rows written through Work.Tx and recorded as user changes.

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

var modes = []syncuow.Timing{syncuow.AfterCommit, syncuow.Inline, syncuow.Deferred}

// poolOf opens a pool of at most maxConns connections on the database at url.
func poolOf(t *testing.T, url string, maxConns int32) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(url)
	require.NoError(t, err)
	cfg.MaxConns = maxConns
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		// Close waits for every acquired connection: a unit of work that
		// never gave its connection back would hang the test here.
		closed := make(chan struct{})
		go func() { pool.Close(); close(closed) }()
		select {
		case <-closed:
		case <-time.After(30 * time.Second):
			t.Error("the pool did not close within 30s: a connection was never released")
		}
	})
	return pool
}

// deadline is the context of a test that must not hang.
func deadline(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// createUser inserts a tb_user row through w and records it.
func createUser(ctx context.Context, w *syncuow.Work, name string) (uuid.UUID, error) {
	var id uuid.UUID
	if err := w.Tx().QueryRow(ctx, "INSERT INTO tb_user (username, full_name) VALUES ($1, $1) RETURNING id", name).Scan(&id); err != nil {
		return uuid.Nil, fmt.Errorf("create user %q: %w", name, err)
	}
	w.Record(tvsync.Change{Entity: blog.EntityUser, IDs: []tvsync.ID{tvsync.UUIDKey(id)}})
	return id, nil
}

// renameUser renames a user through w and records the change with its cascade.
func renameUser(ctx context.Context, w *syncuow.Work, id uuid.UUID, name string) error {
	if _, err := w.Tx().Exec(ctx, "UPDATE tb_user SET username = $2, full_name = $2 WHERE id = $1", id, name); err != nil {
		return fmt.Errorf("rename user %s: %w", id, err)
	}
	w.Record(tvsync.Change{Entity: blog.EntityUser, IDs: []tvsync.ID{tvsync.UUIDKey(id)}, Cascade: true})
	return nil
}

// querier is a pool or a transaction.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// tvName returns the username of id's tv_user document, "" when it has none.
func tvName(t *testing.T, q querier, id uuid.UUID) string {
	t.Helper()
	var name string
	err := q.QueryRow(context.Background(), "SELECT data->>'username' FROM tv_user WHERE id = $1", id).Scan(&name)
	if errors.Is(err, pgx.ErrNoRows) {
		return ""
	}
	require.NoError(t, err)
	return name
}

// count runs a count(*) query.
func count(t *testing.T, q querier, sql string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, q.QueryRow(context.Background(), sql, args...).Scan(&n))
	return n
}

// queued counts the sync_queue rows of id; ready counts those a worker may take now.
func queued(t *testing.T, q querier, id uuid.UUID) (all, ready int) {
	t.Helper()
	require.NoError(t, q.QueryRow(context.Background(),
		"SELECT count(*), count(*) FILTER (WHERE available_at <= now()) FROM tvsync.sync_queue WHERE entity_id = $1", id.String()).Scan(&all, &ready))
	return all, ready
}

// drain syncs every queued change with a worker of its own pool, as the
// worker process does in production.
func drain(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	wpool := poolOf(t, url, 2)
	w := must(tvsync.NewWorker(blog.MustNewEngine(wpool, tvsync.Config{}), wpool, tvsync.WorkerConfig{}))
	_, err := w.Drain(ctx)
	require.NoError(t, err)
}

func assertNoDrift(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	diff, err := expect.Check(context.Background(), pool)
	require.NoError(t, err)
	assert.Empty(t, diff, "tv_ differs from what tb_ implies")
}

// closedEngine returns an engine whose own pool is closed: every sync it
// runs on a connection of its own fails, while a sync inside a caller's
// transaction, and queueing in it, still work.
func closedEngine(t *testing.T, url string) *tvsync.Engine {
	t.Helper()
	p := poolOf(t, url, 1)
	p.Close()
	return blog.MustNewEngine(p, tvsync.Config{})
}

func TestMode_String(t *testing.T) {
	assert.Equal(t, "after-commit", syncuow.AfterCommit.String())
	assert.Equal(t, "inline", syncuow.Inline.String())
	assert.Equal(t, "deferred", syncuow.Deferred.String())
	assert.Equal(t, "Timing(7)", syncuow.Timing(7).String())
	assert.Equal(t, syncuow.AfterCommit, syncuow.Timing(0), "the zero Timing syncs after commit")
}

// TestRun_AfterCommitSyncsOnItsOwnConnectionAndAcks: the tv_ row is there
// and the queue empty when Run returns; with the engine's own pool closed,
// the commit still happens but Run fails with ErrCommittedNotSynced (so the
// sync did run after the commit, on a connection of its own).
func TestRun_AfterCommitSyncsOnItsOwnConnectionAndAcks(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	url := testdb.URL(t)
	pool := poolOf(t, url, 2)
	r := must(syncuow.New(pool, blog.MustNewEngine(pool, tvsync.Config{}), syncuow.Options{}))
	require.Equal(t, syncuow.AfterCommit, r.Timing())
	var id uuid.UUID
	require.NoError(t, r.Run(ctx, func(w *syncuow.Work) (err error) {
		id, err = createUser(ctx, w, "ada")
		return err
	}))
	assert.Equal(t, "ada", tvName(t, pool, id))
	all, _ := queued(t, pool, id)
	assert.Zero(t, all, "the sync after the commit removed its queue rows")
	assertNoDrift(t, pool)
}

// TestRun_AfterCommitSyncFailureLeavesTheChangesQueued: the sync after the
// commit fails; Run returns ErrCommittedNotSynced, the write is committed,
// and its change waits in the queue out of the workers' reach for the grace
// period, then a Worker syncs it.
func TestRun_AfterCommitSyncFailureLeavesTheChangesQueued(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	url := testdb.URL(t)
	pool := poolOf(t, url, 2)
	r := must(syncuow.New(pool, closedEngine(t, url), syncuow.Options{AfterCommitGrace: time.Hour}))
	var id uuid.UUID
	err := r.Run(ctx, func(w *syncuow.Work) (err error) {
		id, err = createUser(ctx, w, "ada")
		return err
	})
	require.ErrorIs(t, err, syncuow.ErrCommittedNotSynced)
	assert.Equal(t, 1, count(t, pool, "SELECT count(*) FROM tb_user WHERE id = $1", id), "the write committed")
	assert.Empty(t, tvName(t, pool, id))
	all, ready := queued(t, pool, id)
	assert.Equal(t, 1, all, "the change stays queued")
	assert.Zero(t, ready, "for the grace period, the sync after the commit has it")
	assert.Equal(t, 1, count(t, pool, "SELECT count(*) FROM tvsync.sync_queue WHERE entity_id = $1 AND available_at > now() + interval '50 minutes'", id.String()),
		"queued with the grace delay")

	_, err = pool.Exec(ctx, "UPDATE tvsync.sync_queue SET available_at = now()") // the grace period is over
	require.NoError(t, err)
	drain(t, ctx, url)
	assert.Equal(t, "ada", tvName(t, pool, id))
	assertNoDrift(t, pool)
}

// TestRun_InlineSyncsInsideTheTransaction: the tv_ row commits with the
// write, synced in the unit of work's own transaction (the engine's pool is
// closed, so no other connection could have done it), and nothing is queued.
func TestRun_InlineSyncsInsideTheTransaction(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	url := testdb.URL(t)
	pool := poolOf(t, url, 2)
	r := must(syncuow.New(pool, closedEngine(t, url), syncuow.Options{Timing: syncuow.Inline}))
	var id uuid.UUID
	require.NoError(t, r.Run(ctx, func(w *syncuow.Work) (err error) {
		id, err = createUser(ctx, w, "ada")
		return err
	}))
	assert.Equal(t, "ada", tvName(t, pool, id))
	all, _ := queued(t, pool, id)
	assert.Zero(t, all)
	assertNoDrift(t, pool)
}

// TestRun_DeferredQueuesAndNotifies: nothing is synced when Run returns;
// the change is queued, ready at once, the workers are notified, and a
// Worker syncs it.
func TestRun_DeferredQueuesAndNotifies(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	url := testdb.URL(t)
	pool := poolOf(t, url, 2)
	listener, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	t.Cleanup(func() { _ = listener.Close(context.Background()) })
	engine := blog.MustNewEngine(pool, tvsync.Config{})
	_, err = listener.Exec(ctx, "LISTEN "+queue.QueueChannel(engine))
	require.NoError(t, err)

	r := must(syncuow.New(pool, engine, syncuow.Options{Timing: syncuow.Deferred}))
	var id uuid.UUID
	require.NoError(t, r.Run(ctx, func(w *syncuow.Work) (err error) {
		id, err = createUser(ctx, w, "ada")
		return err
	}))
	assert.Empty(t, tvName(t, pool, id), "deferred: not synced by Run")
	all, ready := queued(t, pool, id)
	assert.Equal(t, []int{1, 1}, []int{all, ready}, "queued, ready for a worker at once")
	n, err := listener.WaitForNotification(ctx)
	require.NoError(t, err, "the workers are notified")
	assert.Equal(t, "tvsync_sync_queue", n.Channel, "the default namespace's channel")

	drain(t, ctx, url)
	assert.Equal(t, "ada", tvName(t, pool, id))
	assertNoDrift(t, pool)
}

// TestRun_ErrorPanicOrCancelRecordsAndQueuesNothing: in every mode, a unit
// of work whose fn fails, panics, or fails with its context cancelled
// leaves no write, no tv_ row and no queued change, and its connection
// goes back to the pool clean (not discarded in a transaction).
func TestRun_ErrorPanicOrCancelRecordsAndQueuesNothing(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			ctx := deadline(t)
			pool := poolOf(t, testdb.URL(t), 1)
			r := must(syncuow.New(pool, blog.MustNewEngine(pool, tvsync.Config{}), syncuow.Options{Timing: mode}))
			// Warm the pool's one connection.
			require.NoError(t, r.Run(ctx, func(w *syncuow.Work) error { _, err := createUser(ctx, w, "warm"); return err }))
			conns := pool.Stat().NewConnsCount()

			err := r.Run(ctx, func(w *syncuow.Work) error {
				if _, err := createUser(ctx, w, "failed"); err != nil {
					return err
				}
				return boom
			})
			require.ErrorIs(t, err, boom, "fn's error is returned")

			require.PanicsWithValue(t, "bang", func() {
				_ = r.Run(ctx, func(w *syncuow.Work) error {
					if _, err := createUser(ctx, w, "panicked"); err != nil {
						return err
					}
					panic("bang")
				})
			})

			cctx, cancel := context.WithCancel(ctx)
			err = r.Run(cctx, func(w *syncuow.Work) error {
				if _, err := createUser(cctx, w, "cancelled"); err != nil {
					return err
				}
				cancel()
				return cctx.Err()
			})
			require.ErrorIs(t, err, context.Canceled)

			assert.Zero(t, count(t, pool, "SELECT count(*) FROM tb_user WHERE username <> 'warm'"), "no write of a failed unit of work landed")
			assert.Zero(t, count(t, pool, "SELECT count(*) FROM tv_user WHERE data->>'username' <> 'warm'"))
			assert.Zero(t, count(t, pool, "SELECT count(*) FROM tvsync.sync_queue WHERE entity_id NOT IN (SELECT id::text FROM tb_user WHERE username = 'warm')"),
				"nothing of a failed unit of work was queued")
			assert.Equal(t, conns, pool.Stat().NewConnsCount(), "every rollback ran, even with the context cancelled: the connection was reused, not discarded")
		})
	}
}

// TestRun_NilFunctionAndBadRunner: clear errors, nothing begun.
func TestRun_NilFunctionAndBadRunner(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	pool := poolOf(t, testdb.URL(t), 1)
	engine := blog.MustNewEngine(pool, tvsync.Config{})
	r := must(syncuow.New(pool, engine, syncuow.Options{}))
	require.ErrorContains(t, r.Run(ctx, nil), "got nil")
	require.ErrorContains(t, r.WithTiming(syncuow.Timing(9)).Run(ctx, func(*syncuow.Work) error { return nil }), "unknown timing Timing(9)")
	_, err := syncuow.New(nil, engine, syncuow.Options{})
	require.ErrorContains(t, err, "syncuow: New needs a database and an engine", "a Runner without a database is refused when it is made")
	var nilRunner *syncuow.Runner
	require.Error(t, nilRunner.Run(ctx, func(*syncuow.Work) error { return nil }))
	assert.Equal(t, syncuow.Deferred, r.WithTiming(syncuow.Deferred).Timing())
	assert.Equal(t, syncuow.AfterCommit, r.Timing(), "WithTiming leaves r as it is")
	// The pool's one connection is free.
	require.NoError(t, r.Run(ctx, func(w *syncuow.Work) error { _, err := createUser(ctx, w, "ok"); return err }))
}

// TestWork_UseAfterRunIsDone: a Work kept past its Run, and a goroutine fn
// left behind, fail with ErrDone through every path of its Tx; a late
// Record is ignored; nothing lands.
func TestWork_UseAfterRunIsDone(t *testing.T) {
	t.Parallel()
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			ctx := deadline(t)
			pool := poolOf(t, testdb.URL(t), 1)
			r := must(syncuow.New(pool, blog.MustNewEngine(pool, tvsync.Config{}), syncuow.Options{Timing: mode}))
			var kept *syncuow.Work
			start := make(chan struct{})
			straggler := make(chan error, 1)
			require.NoError(t, r.Run(ctx, func(w *syncuow.Work) error {
				kept = w
				go func() {
					<-start
					_, err := createUser(ctx, w, "straggler")
					straggler <- err
				}()
				_, err := createUser(ctx, w, "inside")
				return err
			}))
			close(start)
			require.ErrorIs(t, <-straggler, syncuow.ErrDone)

			tx := kept.Tx()
			_, err := tx.Exec(ctx, "INSERT INTO tb_user (username) VALUES ('late_exec')")
			require.ErrorIs(t, err, syncuow.ErrDone)
			var id uuid.UUID
			require.ErrorIs(t, tx.QueryRow(ctx, "INSERT INTO tb_user (username) VALUES ('late_row') RETURNING id").Scan(&id), syncuow.ErrDone)
			_, err = tx.Query(ctx, "INSERT INTO tb_user (username) VALUES ('late_query')")
			require.ErrorIs(t, err, syncuow.ErrDone)
			b := &pgx.Batch{}
			b.Queue("INSERT INTO tb_user (username) VALUES ('late_batch')")
			require.ErrorIs(t, tx.SendBatch(ctx, b).Close(), syncuow.ErrDone)
			_, err = tx.CopyFrom(ctx, pgx.Identifier{"tb_user"}, []string{"username"}, pgx.CopyFromRows([][]any{{"late_copy"}}))
			require.ErrorIs(t, err, syncuow.ErrDone)
			_, err = tx.Begin(ctx)
			require.ErrorIs(t, err, syncuow.ErrDone)
			require.ErrorIs(t, tx.Commit(ctx), syncuow.ErrDone)
			require.ErrorIs(t, tx.Rollback(ctx), syncuow.ErrDone)
			err = must(syncuow.New(tx, blog.MustNewEngine(pool, tvsync.Config{}), syncuow.Options{})).Run(ctx, func(w *syncuow.Work) error {
				t.Error("a unit of work nested in a finished one ran")
				return nil
			})
			require.ErrorIs(t, err, syncuow.ErrDone)

			before := kept.Changes()
			kept.Record(tvsync.Change{Entity: blog.EntityUser, IDs: []tvsync.ID{tvsync.UUIDKey(uuid.New())}})
			assert.Equal(t, before, kept.Changes(), "a Record after Run is ignored")

			assert.Equal(t, 1, count(t, pool, "SELECT count(*) FROM tb_user"), "only the unit of work's own write landed")
			// The pool's one connection is free and clean.
			require.NoError(t, r.Run(ctx, func(w *syncuow.Work) error { _, err := createUser(ctx, w, "after"); return err }))
			if mode != syncuow.Deferred {
				assertNoDrift(t, pool)
			}
		})
	}
}

// TestWork_ChangesAreDeduplicatedAndSorted: one change per (entity,
// cascade), plain first, ids sorted and unique.
func TestWork_ChangesAreDeduplicatedAndSorted(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	pool := poolOf(t, testdb.URL(t), 1)
	r := must(syncuow.New(pool, blog.MustNewEngine(pool, tvsync.Config{}), syncuow.Options{Timing: syncuow.Deferred}))
	a, b := tvsync.UUIDKey(uuid.MustParse("00000000-0000-0000-0000-00000000000a")), tvsync.UUIDKey(uuid.MustParse("00000000-0000-0000-0000-00000000000b"))
	var got []tvsync.Change
	require.NoError(t, r.Run(ctx, func(w *syncuow.Work) error {
		assert.Empty(t, w.Changes())
		w.Record(tvsync.Change{Entity: "user", IDs: []tvsync.ID{b, a, b}, Cascade: true},
			tvsync.Change{Entity: "post", IDs: []tvsync.ID{b}},
			tvsync.Change{Entity: "user", IDs: []tvsync.ID{b}})
		w.Record(tvsync.Change{Entity: "user", IDs: []tvsync.ID{a, b}, Cascade: true})
		got = w.Changes()
		return nil
	}))
	assert.Equal(t, []tvsync.Change{
		{Entity: "post", IDs: []tvsync.ID{b}},
		{Entity: "user", IDs: []tvsync.ID{b}},
		{Entity: "user", IDs: []tvsync.ID{a, b}, Cascade: true},
	}, got)
}
