package syncuow_test

import (
	"context"
	"errors"
	"fmt"
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

// saveAndCommit is a plain-pgx helper of the kind a unit of work may be
// handed to: it writes and commits the transaction it is given.
func saveAndCommit(ctx context.Context, tx pgx.Tx, name string) (uuid.UUID, error) {
	var id uuid.UUID
	if err := tx.QueryRow(ctx, "INSERT INTO tb_user (username, full_name) VALUES ($1, $1) RETURNING id", name).Scan(&id); err != nil {
		return uuid.Nil, err
	}
	return id, tx.Commit(ctx)
}

// TestWork_TxRefusesCommitAndRollback: in every mode, Commit and Rollback on
// a Work's Tx fail with ErrTxOwnedByUnitOfWork and leave the transaction as
// it was, so the unit of work commits and syncs it when fn returns nil (a
// helper that ignores the error does no harm). Savepoints begun on the Tx
// keep their own Commit (release) and Rollback.
func TestWork_TxRefusesCommitAndRollback(t *testing.T) {
	t.Parallel()
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			ctx := deadline(t)
			url := testdb.URL(t)
			pool := poolOf(t, url, 2)
			r := must(syncuow.New(pool, blog.MustNewEngine(pool, tvsync.Config{}), syncuow.Options{Timing: mode}))
			var helped, released, dropped uuid.UUID
			require.NoError(t, r.Run(ctx, func(w *syncuow.Work) (err error) {
				helped, err = saveAndCommit(ctx, w.Tx(), "helped")
				require.ErrorIs(t, err, syncuow.ErrTxOwnedByUnitOfWork)
				assert.ErrorContains(t, err, "return an error")
				w.Record(tvsync.Change{Entity: blog.EntityUser, IDs: []tvsync.ID{tvsync.UUIDKey(helped)}})
				require.ErrorIs(t, w.Tx().Rollback(ctx), syncuow.ErrTxOwnedByUnitOfWork)
				assert.Equal(t, 1, count(t, w.Tx(), "SELECT count(*) FROM tb_user WHERE id = $1", helped), "the refused Rollback rolled nothing back")

				sp, err := w.Tx().Begin(ctx)
				require.NoError(t, err)
				require.NoError(t, sp.QueryRow(ctx, "INSERT INTO tb_user (username) VALUES ('released') RETURNING id").Scan(&released))
				inner, err := sp.Begin(ctx)
				require.NoError(t, err)
				require.NoError(t, inner.QueryRow(ctx, "INSERT INTO tb_user (username) VALUES ('dropped') RETURNING id").Scan(&dropped))
				require.NoError(t, inner.Rollback(ctx), "a savepoint rolls back")
				require.NoError(t, sp.Commit(ctx), "a savepoint is released")
				w.Record(tvsync.Change{Entity: blog.EntityUser, IDs: []tvsync.ID{tvsync.UUIDKey(released)}})
				return nil
			}))
			if mode == syncuow.Deferred {
				drain(t, ctx, url)
			}
			assert.Equal(t, "helped", tvName(t, pool, helped), "committed and synced by the unit of work")
			assert.Equal(t, "released", tvName(t, pool, released))
			assert.Zero(t, count(t, pool, "SELECT count(*) FROM tb_user WHERE id = $1", dropped))
			assert.Zero(t, count(t, pool, "SELECT count(*) FROM tvsync.sync_queue"))
			assertNoDrift(t, pool)
		})
	}
}

// TestWork_HelperCommitErrorRollsBack: a helper that returns the refused
// Commit's error makes fn fail: nothing is committed, synced or queued.
func TestWork_HelperCommitErrorRollsBack(t *testing.T) {
	t.Parallel()
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			ctx := deadline(t)
			pool := poolOf(t, testdb.URL(t), 1)
			r := must(syncuow.New(pool, blog.MustNewEngine(pool, tvsync.Config{}), syncuow.Options{Timing: mode}))
			err := r.Run(ctx, func(w *syncuow.Work) error {
				_, err := saveAndCommit(ctx, w.Tx(), "helped")
				return err
			})
			require.ErrorIs(t, err, syncuow.ErrTxOwnedByUnitOfWork)
			assert.Zero(t, count(t, pool, "SELECT count(*) FROM tb_user"))
			assert.Zero(t, count(t, pool, "SELECT count(*) FROM tvsync.sync_queue"))
			require.NoError(t, r.Run(ctx, func(w *syncuow.Work) error { _, err := createUser(ctx, w, "after"); return err }),
				"the connection came back clean")
		})
	}
}

// TestRun_TxEndedBehindItsBackIsReported: in every mode, fn ends the
// transaction with SQL that pgx does not see (COMMIT through Exec or
// through the connection, ROLLBACK through the connection). Run reports
// ErrTxEndedBehindUnitOfWork naming the unsynced changes, and queues them
// for a worker, which brings the tv_ rows in line with whatever landed.
func TestRun_TxEndedBehindItsBackIsReported(t *testing.T) {
	t.Parallel()
	ends := []struct {
		name      string
		end       func(ctx context.Context, tx pgx.Tx) error
		committed bool
	}{
		{"commit-through-exec", func(ctx context.Context, tx pgx.Tx) error { _, err := tx.Exec(ctx, "COMMIT"); return err }, true},
		{"commit-through-conn", func(ctx context.Context, tx pgx.Tx) error { _, err := tx.Conn().Exec(ctx, "COMMIT"); return err }, true},
		{"rollback-through-conn", func(ctx context.Context, tx pgx.Tx) error { _, err := tx.Conn().Exec(ctx, "ROLLBACK"); return err }, false},
	}
	for _, mode := range modes {
		for _, end := range ends {
			t.Run(fmt.Sprintf("%s/%s", mode, end.name), func(t *testing.T) {
				t.Parallel()
				ctx := deadline(t)
				url := testdb.URL(t)
				pool := poolOf(t, url, 2)
				r := must(syncuow.New(pool, blog.MustNewEngine(pool, tvsync.Config{}), syncuow.Options{Timing: mode}))
				var id uuid.UUID
				err := r.Run(ctx, func(w *syncuow.Work) (err error) {
					if id, err = createUser(ctx, w, "ended"); err != nil {
						return err
					}
					return end.end(ctx, w.Tx())
				})
				require.ErrorIs(t, err, syncuow.ErrTxEndedBehindUnitOfWork)
				assert.ErrorContains(t, err, "user "+id.String())
				landed := 0
				if end.committed {
					landed = 1
				}
				assert.Equal(t, landed, count(t, pool, "SELECT count(*) FROM tb_user WHERE id = $1", id))
				all, _ := queued(t, pool, id)
				assert.Equal(t, 1, all, "the unsynced change is queued for a worker")
				drain(t, ctx, url)
				if end.committed {
					assert.Equal(t, "ended", tvName(t, pool, id))
				}
				assert.Zero(t, count(t, pool, "SELECT count(*) FROM tvsync.sync_queue"))
				assertNoDrift(t, pool)
				require.NoError(t, r.Run(ctx, func(w *syncuow.Work) error { _, err := createUser(ctx, w, "after"); return err }),
					"the connection came back clean")
			})
		}
	}
}

// TestRun_FailedTransactionIsReported: fn swallows a failed statement and
// returns nil; Run reports ErrTxAborted, nothing lands and nothing is queued.
func TestRun_FailedTransactionIsReported(t *testing.T) {
	t.Parallel()
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			ctx := deadline(t)
			pool := poolOf(t, testdb.URL(t), 1)
			r := must(syncuow.New(pool, blog.MustNewEngine(pool, tvsync.Config{}), syncuow.Options{Timing: mode}))
			err := r.Run(ctx, func(w *syncuow.Work) error {
				if _, err := createUser(ctx, w, "lost"); err != nil {
					return err
				}
				_, err := w.Tx().Exec(ctx, "SELECT 1/0")
				require.Error(t, err)
				return nil // swallowed
			})
			require.ErrorIs(t, err, syncuow.ErrTxAborted)
			assert.Zero(t, count(t, pool, "SELECT count(*) FROM tb_user"))
			assert.Zero(t, count(t, pool, "SELECT count(*) FROM tvsync.sync_queue"))
			require.NoError(t, r.Run(ctx, func(w *syncuow.Work) error { _, err := createUser(ctx, w, "after"); return err }))
		})
	}
}

// TestRun_TxEndedBehindItsBackThenFnFailedStillQueues: fn commits with SQL,
// then fails. What it wrote before is committed whatever Run does, so Run
// still queues the recorded changes and reports both errors.
func TestRun_TxEndedBehindItsBackThenFnFailedStillQueues(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	url := testdb.URL(t)
	pool := poolOf(t, url, 2)
	r := must(syncuow.New(pool, blog.MustNewEngine(pool, tvsync.Config{}), syncuow.Options{}))
	boom := errors.New("boom")
	var id uuid.UUID
	err := r.Run(ctx, func(w *syncuow.Work) (err error) {
		if id, err = createUser(ctx, w, "committed"); err != nil {
			return err
		}
		if _, err := w.Tx().Exec(ctx, "COMMIT"); err != nil {
			return err
		}
		return boom
	})
	require.ErrorIs(t, err, syncuow.ErrTxEndedBehindUnitOfWork)
	require.ErrorIs(t, err, boom)
	assert.Equal(t, 1, count(t, pool, "SELECT count(*) FROM tb_user WHERE id = $1", id), "committed behind the unit of work's back")
	drain(t, ctx, url)
	assert.Equal(t, "committed", tvName(t, pool, id), "queued, then synced by the worker")
	assertNoDrift(t, pool)
}

// TestRun_NestedTxEndedBehindItsBackIsQueuedByTheOuter: a nested unit of
// work whose fn commits the enclosing transaction with SQL hands its changes
// to the outer Work; the outer unit of work finds its transaction ended and
// queues both units' changes.
func TestRun_NestedTxEndedBehindItsBackIsQueuedByTheOuter(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	url := testdb.URL(t)
	pool := poolOf(t, url, 2)
	engine := blog.MustNewEngine(pool, tvsync.Config{})
	r := must(syncuow.New(pool, engine, syncuow.Options{}))
	var outer, nested uuid.UUID
	err := r.Run(ctx, func(w *syncuow.Work) (err error) {
		if outer, err = createUser(ctx, w, "outer"); err != nil {
			return err
		}
		err = must(syncuow.New(w.Tx(), engine, syncuow.Options{})).Run(ctx, func(n *syncuow.Work) (err error) {
			if nested, err = createUser(ctx, n, "nested"); err != nil {
				return err
			}
			_, err = n.Tx().Exec(ctx, "COMMIT")
			return err
		})
		require.ErrorIs(t, err, syncuow.ErrTxEndedBehindUnitOfWork)
		return nil // ignored
	})
	require.ErrorIs(t, err, syncuow.ErrTxEndedBehindUnitOfWork)
	assert.ErrorContains(t, err, nested.String(), "the outer names the nested unit's changes too")
	for _, id := range []uuid.UUID{outer, nested} {
		all, _ := queued(t, pool, id)
		assert.Equal(t, 1, all)
	}
	drain(t, ctx, url)
	assert.Equal(t, "outer", tvName(t, pool, outer))
	assert.Equal(t, "nested", tvName(t, pool, nested))
	assertNoDrift(t, pool)
}
