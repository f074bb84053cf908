package syncuow_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/blog"
	"github.com/tvsync/tvsync/internal/testdb"
	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/syncuow"
)

// TestRun_NestedInAWorkMergesOnReleaseAndDropsOnRollback runs, in a unit of
// work of each mode, one nested unit of work that succeeds and one that
// fails (each nested Runner in a mode that would sync or queue on its own).
// The released savepoint's changes merge into the outer Work and are synced
// once, by the outer unit of work, after it commits; the rolled-back one's
// write and changes are gone while the outer unit of work commits.
func TestRun_NestedInAWorkMergesOnReleaseAndDropsOnRollback(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			ctx := deadline(t)
			url := testdb.URL(t)
			pool := poolOf(t, url, 1)
			engine := blog.MustNewEngine(pool, tvsync.Config{})
			r := must(syncuow.New(pool, engine, syncuow.Options{Timing: mode}))
			var outerID, keptID, droppedID uuid.UUID
			require.NoError(t, r.Run(ctx, func(w *syncuow.Work) (err error) {
				if outerID, err = createUser(ctx, w, "outer"); err != nil {
					return err
				}
				// Nested Runners in modes that, on their own, would sync
				// (inline) or queue (deferred) inside the savepoint.
				kept := must(syncuow.New(w.Tx(), engine, syncuow.Options{Timing: syncuow.Inline}))
				require.NoError(t, kept.Run(ctx, func(n *syncuow.Work) (err error) {
					keptID, err = createUser(ctx, n, "kept")
					return err
				}))
				assert.Empty(t, tvName(t, w.Tx(), keptID), "the nested unit of work did not sync on its own")
				all, _ := queued(t, w.Tx(), keptID)
				assert.Zero(t, all, "nor queue on its own")
				assert.Equal(t, []tvsync.Change{{Entity: blog.EntityUser, IDs: tvsync.UUIDKeys(sortedIDs(outerID, keptID))}}, w.Changes(),
					"its changes merged into the outer Work")

				dropped := must(syncuow.New(w.Tx(), engine, syncuow.Options{Timing: syncuow.Deferred}))
				err = dropped.Run(ctx, func(n *syncuow.Work) (err error) {
					if droppedID, err = createUser(ctx, n, "dropped"); err != nil {
						return err
					}
					return boom
				})
				require.ErrorIs(t, err, boom)
				assert.Equal(t, []tvsync.Change{{Entity: blog.EntityUser, IDs: tvsync.UUIDKeys(sortedIDs(outerID, keptID))}}, w.Changes(),
					"a rolled-back nested unit of work adds nothing")
				assert.Zero(t, count(t, w.Tx(), "SELECT count(*) FROM tb_user WHERE id = $1", droppedID), "its write rolled back")
				return nil
			}))
			assert.Equal(t, 2, count(t, pool, "SELECT count(*) FROM tb_user"), "the outer unit of work committed with the released savepoint")
			if mode == syncuow.Deferred {
				all, ready := queued(t, pool, keptID)
				assert.Equal(t, []int{1, 1}, []int{all, ready}, "the outer, deferred, queued the nested change")
				drain(t, ctx, url)
			}
			assert.Equal(t, "outer", tvName(t, pool, outerID))
			assert.Equal(t, "kept", tvName(t, pool, keptID))
			assert.Zero(t, count(t, pool, "SELECT count(*) FROM tvsync.sync_queue"))
			assert.Equal(t, 1, count(t, pool, "SELECT count(*) FROM tvsync.sync_log WHERE entity = 'user' AND requested = 2"),
				"one sync of both users, by the outer unit of work")
			assertNoDrift(t, pool)
		})
	}
}

// TestRun_NestedTwiceMergesUpToTheOutermost: a unit of work nested in a
// nested one (its Runner on the middle Work's Tx) merges into the middle
// Work, which merges into the outer one; a savepoint begun by hand on the
// outer Tx is the outer Work's too.
func TestRun_NestedTwiceMergesUpToTheOutermost(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	pool := poolOf(t, testdb.URL(t), 1)
	engine := blog.MustNewEngine(pool, tvsync.Config{})
	r := must(syncuow.New(pool, engine, syncuow.Options{}))
	var ids [3]uuid.UUID
	require.NoError(t, r.Run(ctx, func(w *syncuow.Work) error {
		return must(syncuow.New(w.Tx(), engine, syncuow.Options{})).Run(ctx, func(m *syncuow.Work) (err error) {
			if ids[0], err = createUser(ctx, m, "middle"); err != nil {
				return err
			}
			err = must(syncuow.New(m.Tx(), engine, syncuow.Options{})).Run(ctx, func(n *syncuow.Work) (err error) {
				ids[1], err = createUser(ctx, n, "inner")
				return err
			})
			if err != nil {
				return err
			}
			sp, err := w.Tx().Begin(ctx) // a savepoint by hand: still the outer Work's
			if err != nil {
				return err
			}
			return must(syncuow.New(sp, engine, syncuow.Options{})).Run(ctx, func(n *syncuow.Work) (err error) {
				ids[2], err = createUser(ctx, n, "by hand")
				return err
			})
		})
	}))
	for i, name := range []string{"middle", "inner", "by hand"} {
		assert.Equal(t, name, tvName(t, pool, ids[i]), "synced by the outermost unit of work")
	}
	assert.Zero(t, count(t, pool, "SELECT count(*) FROM tvsync.sync_queue"))
	assertNoDrift(t, pool)
}

// TestRun_NestedInTheApplicationsTransaction runs a unit of work of each
// mode in a savepoint of a transaction of the application's own: inline
// syncs inside it (the tv_ row commits with the application's
// transaction); deferred and after-commit, which cannot see that commit,
// queue the change durably, ready for a worker once the transaction commits.
// A unit of work that fails rolls back to its savepoint only; when the
// application's transaction rolls back, nothing is synced or queued.
func TestRun_NestedInTheApplicationsTransaction(t *testing.T) {
	t.Parallel()
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			ctx := deadline(t)
			url := testdb.URL(t)
			pool := poolOf(t, url, 2)
			engine := blog.MustNewEngine(pool, tvsync.Config{})

			tx, err := pool.Begin(ctx)
			require.NoError(t, err)
			defer func() { _ = tx.Rollback(context.Background()) }()
			var own uuid.UUID
			require.NoError(t, tx.QueryRow(ctx, "INSERT INTO tb_user (username) VALUES ('own') RETURNING id").Scan(&own))
			r := must(syncuow.New(tx, engine, syncuow.Options{Timing: mode}))
			var id uuid.UUID
			require.NoError(t, r.Run(ctx, func(w *syncuow.Work) (err error) {
				id, err = createUser(ctx, w, "nested")
				return err
			}))
			boom := errors.New("boom")
			require.ErrorIs(t, r.Run(ctx, func(w *syncuow.Work) error {
				if _, err := createUser(ctx, w, "failed"); err != nil {
					return err
				}
				return boom
			}), boom)
			all, ready := queued(t, tx, id)
			if mode == syncuow.Inline {
				assert.Equal(t, "nested", tvName(t, tx, id), "inline: synced inside the application's transaction")
				assert.Zero(t, all)
			} else {
				assert.Empty(t, tvName(t, tx, id))
				assert.Equal(t, []int{1, 1}, []int{all, ready}, "%s: queued durably, ready for a worker", mode)
			}
			assert.Empty(t, tvName(t, pool, id), "nothing is visible before the application commits")
			require.NoError(t, tx.Commit(ctx))

			assert.Equal(t, 2, count(t, pool, "SELECT count(*) FROM tb_user"), "the application's write and the nested one committed, the failed one did not")
			drain(t, ctx, url)
			assert.Equal(t, "nested", tvName(t, pool, id))
			assert.Zero(t, count(t, pool, "SELECT count(*) FROM tvsync.sync_queue"))

			// The application rolls back: nothing synced, nothing queued.
			tx2, err := pool.Begin(ctx)
			require.NoError(t, err)
			var gone uuid.UUID
			require.NoError(t, must(syncuow.New(tx2, engine, syncuow.Options{Timing: mode})).Run(ctx, func(w *syncuow.Work) (err error) {
				gone, err = createUser(ctx, w, "gone")
				return err
			}))
			require.NoError(t, tx2.Rollback(ctx))
			assert.Empty(t, tvName(t, pool, gone))
			assert.Zero(t, count(t, pool, "SELECT count(*) FROM tvsync.sync_queue"))
			assert.Zero(t, count(t, pool, "SELECT count(*) FROM tv_user WHERE id = $1", own), "the application's own write was never recorded")
			_, err = engine.Sync(ctx, tvsync.ModeIncremental, tvsync.Change{Entity: blog.EntityUser, IDs: []tvsync.ID{tvsync.UUIDKey(own)}})
			require.NoError(t, err)
			assertNoDrift(t, pool)
		})
	}
}

// TestRun_OnAConnection runs every mode on a *pgx.Conn (not a pool) and on a
// database the package does not know (a pool behind a type that is neither
// a pool nor a connection, with one connection: its Tx must be committed through pgx, or the
// connection would never come back and the sync after the commit would hang).
func TestRun_OnAConnection(t *testing.T) {
	t.Parallel()
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			ctx := deadline(t)
			url := testdb.URL(t)
			pool := poolOf(t, url, 1)
			engine := blog.MustNewEngine(pool, tvsync.Config{})
			conn, err := pgx.Connect(ctx, url)
			require.NoError(t, err)
			t.Cleanup(func() { _ = conn.Close(context.Background()) })
			var ids []uuid.UUID
			for i, db := range []tvsync.Beginner{conn, onlyBegin{pool}, conn, onlyBegin{pool}} {
				require.NoError(t, must(syncuow.New(db, engine, syncuow.Options{Timing: mode})).Run(ctx, func(w *syncuow.Work) error {
					id, err := createUser(ctx, w, "u"+string(rune('a'+i)))
					ids = append(ids, id)
					return err
				}), "unit %d (%T)", i, db)
			}
			if mode == syncuow.Deferred {
				drain(t, ctx, url)
			}
			for _, id := range ids {
				assert.NotEmpty(t, tvName(t, pool, id))
			}
			assert.Zero(t, count(t, pool, "SELECT count(*) FROM tvsync.sync_queue"))
			assertNoDrift(t, pool)
		})
	}
}

// onlyBegin hides every method of a pool that a tvsync.Beginner lacks
// (Acquire among them).
type onlyBegin struct{ tvsync.Beginner }

func sortedIDs(ids ...uuid.UUID) []uuid.UUID {
	out := tvsync.UUIDKeys(ids)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j].Compare(out[i]) < 0 {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return tvsync.UUIDs(out)
}

// TestWork_ClosesWhenFnReturnsNotWhenRunDoes: a goroutine fn left behind
// that writes while the unit of work commits gets ErrDone and its write
// never lands. The database's transaction holds its Commit until that
// write has been tried, so the test does not depend on timing: were the
// Work closed only when Run returns, the straggler's insert would run in
// the transaction and be committed without being recorded.
func TestWork_ClosesWhenFnReturnsNotWhenRunDoes(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	pool := poolOf(t, testdb.URL(t), 1)
	gate := &commitGate{Beginner: pool, started: make(chan struct{}), proceed: make(chan struct{})}
	r := must(syncuow.New(gate, blog.MustNewEngine(pool, tvsync.Config{}), syncuow.Options{Timing: syncuow.Inline}))
	straggler := make(chan error, 1)
	require.NoError(t, r.Run(ctx, func(w *syncuow.Work) error {
		go func() {
			<-gate.started // fn has returned; the commit is under way
			_, err := createUser(ctx, w, "straggler")
			straggler <- err
			close(gate.proceed)
		}()
		_, err := createUser(ctx, w, "inside")
		return err
	}))
	require.ErrorIs(t, <-straggler, syncuow.ErrDone)
	assert.Equal(t, 0, count(t, pool, "SELECT count(*) FROM tb_user WHERE username = 'straggler'"), "the straggler's write never lands")
	assert.Equal(t, 1, count(t, pool, "SELECT count(*) FROM tb_user WHERE username = 'inside'"))
	assertNoDrift(t, pool)
}

// commitGate begins transactions whose Commit signals started, then waits
// for proceed before committing.
type commitGate struct {
	tvsync.Beginner
	started, proceed chan struct{}
}

func (g *commitGate) Begin(ctx context.Context) (pgx.Tx, error) {
	tx, err := g.Beginner.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return gatedTx{Tx: tx, g: g}, nil
}

type gatedTx struct {
	pgx.Tx
	g *commitGate
}

func (t gatedTx) Commit(ctx context.Context) error {
	close(t.g.started)
	<-t.g.proceed
	return t.Tx.Commit(ctx)
}

// TestRun_NestedInlineLeavesTheRestReadyForAWorker renames, in an inline
// unit of work inside the application's own transaction, a user whose
// comments are more than the engine's InlineLimit: the sync inside the
// savepoint leaves the comments for after the commit, which nothing in
// this process sees. They must be queued ready at once (not after
// Config.CascadeGrace), so that a worker's drain right after the
// application commits makes every document current.
func TestRun_NestedInlineLeavesTheRestReadyForAWorker(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	url := testdb.URL(t)
	pool := poolOf(t, url, 2)
	engine := blog.MustNewEngine(pool, tvsync.Config{InlineLimit: 1})
	var user, post uuid.UUID
	require.NoError(t, pool.QueryRow(ctx, "INSERT INTO tb_user (username, full_name) VALUES ('ada', 'Ada') RETURNING id").Scan(&user))
	require.NoError(t, pool.QueryRow(ctx, "INSERT INTO tb_post (author_id, title, content) VALUES ($1, 'p', 'c') RETURNING id", user).Scan(&post))
	_, err := pool.Exec(ctx, "INSERT INTO tb_comment (post_id, author_id, content) SELECT $1, $2, 'c' || g FROM generate_series(1, 5) g", post, user)
	require.NoError(t, err)
	for _, name := range engine.Entities() {
		_, err := engine.FullSync(ctx, name, tvsync.FullOptions{})
		require.NoError(t, err)
	}

	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(context.Background()) }()
	require.NoError(t, must(syncuow.New(tx, engine, syncuow.Options{Timing: syncuow.Inline})).Run(ctx, func(w *syncuow.Work) error {
		return renameUser(ctx, w, user, "grace")
	}))
	require.NoError(t, tx.Commit(ctx))
	assert.Equal(t, "grace", tvName(t, pool, user), "the user is synced inside the transaction")
	assert.Positive(t, count(t, pool, "SELECT count(*) FROM tv_comment WHERE data->'author'->>'username' = 'ada'"),
		"the test needs comments left for after the commit")

	drain(t, ctx, url)
	assert.Zero(t, count(t, pool, "SELECT count(*) FROM tvsync.sync_queue"), "the worker took every row at once")
	assertNoDrift(t, pool)
}
