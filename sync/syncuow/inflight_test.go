package syncuow_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/blog"
	"github.com/tvsync/tvsync/internal/testdb"
	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/syncuow"
)

// renameBy is one way a straggler goroutine sends its rename through a
// Work's Tx: each keeps the statement in flight differently (a call that
// has not returned, Rows not yet read, a Row not yet scanned, a batch).
var renameBy = []struct {
	name   string
	rename func(ctx context.Context, tx pgx.Tx, id uuid.UUID) error
}{
	{"exec", func(ctx context.Context, tx pgx.Tx, id uuid.UUID) error {
		_, err := tx.Exec(ctx, "UPDATE tb_user SET username = 'straggler' WHERE id = $1", id)
		return err
	}},
	{"query", func(ctx context.Context, tx pgx.Tx, id uuid.UUID) error {
		rows, err := tx.Query(ctx, "UPDATE tb_user SET username = 'straggler' WHERE id = $1 RETURNING id", id)
		if err != nil {
			return err
		}
		_, err = pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		return err
	}},
	{"queryrow", func(ctx context.Context, tx pgx.Tx, id uuid.UUID) error {
		return tx.QueryRow(ctx, "UPDATE tb_user SET username = 'straggler' WHERE id = $1 RETURNING id", id).Scan(&id)
	}},
	{"batch", func(ctx context.Context, tx pgx.Tx, id uuid.UUID) error {
		b := &pgx.Batch{}
		b.Queue("UPDATE tb_user SET username = 'straggler' WHERE id = $1", id)
		return tx.SendBatch(ctx, b).Close()
	}},
}

// holdRowLock locks id's tb_user row on a connection of its own. The lock
// is released when Run has returned (released is closed), or, so that an
// implementation that waits for the straggler does not hang the test, 5
// seconds after fn returned (fnReturned is closed). Either way the
// straggler's statement is blocked when fn returns: the outcome does not
// depend on that timer.
func holdRowLock(t *testing.T, ctx context.Context, url string, id uuid.UUID) (fnReturned, released chan struct{}) {
	t.Helper()
	holder, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	t.Cleanup(func() { _ = holder.Close(context.Background()) })
	_, err = holder.Exec(ctx, "BEGIN")
	require.NoError(t, err)
	_, err = holder.Exec(ctx, "SELECT 1 FROM tb_user WHERE id = $1 FOR UPDATE", id)
	require.NoError(t, err)
	fnReturned, released = make(chan struct{}), make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		select {
		case <-released:
		case <-fnReturned:
			select {
			case <-released:
			case <-time.After(5 * time.Second):
			}
		}
		_, _ = holder.Exec(context.Background(), "ROLLBACK")
	}()
	t.Cleanup(func() { <-done })
	return fnReturned, released
}

// waitBlocked returns once the backend pid waits for a lock.
func waitBlocked(t *testing.T, ctx context.Context, pool *pgxpool.Pool, pid uint32) {
	t.Helper()
	for count(t, pool, "SELECT count(*) FROM pg_locks WHERE pid = $1 AND NOT granted", pid) == 0 {
		select {
		case <-ctx.Done():
			t.Fatal("the straggler's statement never blocked")
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// TestRun_StatementInFlightWhenFnReturnsIsNeverCommitted: in every mode, fn
// starts a goroutine whose rename (sent through every path of the Work's
// Tx) is blocked by a row lock another connection holds, and returns nil
// while it is in flight. The unit of work rolls back with
// ErrStatementInFlight: neither fn's own write nor the straggler's rename
// lands, nothing is queued, the straggler gets ErrDone, and the pool's
// connection comes back usable.
func TestRun_StatementInFlightWhenFnReturnsIsNeverCommitted(t *testing.T) {
	t.Parallel()
	for _, mode := range modes {
		for _, by := range renameBy {
			t.Run(fmt.Sprintf("%s/%s", mode, by.name), func(t *testing.T) {
				t.Parallel()
				ctx := deadline(t)
				url := testdb.URL(t)
				pool := poolOf(t, url, 2)
				r := must(syncuow.New(pool, blog.MustNewEngine(pool, tvsync.Config{}), syncuow.Options{Timing: mode}))
				var victim uuid.UUID
				require.NoError(t, r.Run(ctx, func(w *syncuow.Work) (err error) {
					victim, err = createUser(ctx, w, "victim")
					return err
				}))
				if mode == syncuow.Deferred {
					drain(t, ctx, url)
				}
				fnReturned, released := holdRowLock(t, ctx, url, victim)

				straggler := make(chan error, 1)
				err := r.Run(ctx, func(w *syncuow.Work) error {
					defer close(fnReturned)
					if _, err := createUser(ctx, w, "inside"); err != nil {
						return err
					}
					var pid uint32
					if err := w.Tx().QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
						return err
					}
					go func() {
						err := by.rename(ctx, w.Tx(), victim)
						if err == nil {
							w.Record(tvsync.Change{Entity: blog.EntityUser, IDs: []tvsync.ID{tvsync.UUIDKey(victim)}})
						}
						straggler <- err
					}()
					waitBlocked(t, ctx, pool, pid)
					return nil
				})
				close(released)
				require.ErrorIs(t, err, syncuow.ErrStatementInFlight)
				require.ErrorIs(t, <-straggler, syncuow.ErrDone, "the straggler learns its statement did not count")

				assert.Equal(t, "victim", tvName(t, pool, victim))
				assert.Zero(t, count(t, pool, "SELECT count(*) FROM tb_user WHERE username IN ('straggler', 'inside')"), "nothing of the unit of work landed")
				assert.Zero(t, count(t, pool, "SELECT count(*) FROM tvsync.sync_queue"))
				assertNoDrift(t, pool)
				require.NoError(t, r.Run(ctx, func(w *syncuow.Work) error { _, err := createUser(ctx, w, "after"); return err }),
					"the connection came back clean")
			})
		}
	}
}

// TestRun_RowsLeftOpenByFnRollBack: fn returns nil with Rows (and a Row) it
// never read; the unit of work rolls back with ErrStatementInFlight instead
// of hanging or failing on a busy connection, and the connection is reused.
func TestRun_RowsLeftOpenByFnRollBack(t *testing.T) {
	t.Parallel()
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			ctx := deadline(t)
			pool := poolOf(t, testdb.URL(t), 1)
			r := must(syncuow.New(pool, blog.MustNewEngine(pool, tvsync.Config{}), syncuow.Options{Timing: mode}))
			require.NoError(t, r.Run(ctx, func(w *syncuow.Work) error { return nil }), "warm the pool's one connection")
			conns := pool.Stat().NewConnsCount()
			var rows pgx.Rows
			err := r.Run(ctx, func(w *syncuow.Work) (err error) {
				if _, err := createUser(ctx, w, "inside"); err != nil {
					return err
				}
				rows, err = w.Tx().Query(ctx, "SELECT generate_series(1, 100000)")
				return err
			})
			require.ErrorIs(t, err, syncuow.ErrStatementInFlight)
			assert.False(t, rows.Next())
			require.ErrorIs(t, rows.Err(), syncuow.ErrDone)
			assert.Zero(t, count(t, pool, "SELECT count(*) FROM tb_user"))
			require.NoError(t, r.Run(ctx, func(w *syncuow.Work) error { _, err := createUser(ctx, w, "after"); return err }))
			assert.Equal(t, conns, pool.Stat().NewConnsCount(), "the connection was rolled back and reused, not discarded")
		})
	}
}

// TestRun_NestedStatementInFlightRollsBackTheSavepointOnly: a straggler of a
// nested unit of work, blocked when the nested fn returns, rolls back the
// savepoint with ErrStatementInFlight; the outer unit of work goes on and
// commits its own write.
func TestRun_NestedStatementInFlightRollsBackTheSavepointOnly(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	url := testdb.URL(t)
	pool := poolOf(t, url, 2)
	engine := blog.MustNewEngine(pool, tvsync.Config{})
	r := must(syncuow.New(pool, engine, syncuow.Options{}))
	var victim, outer uuid.UUID
	require.NoError(t, r.Run(ctx, func(w *syncuow.Work) (err error) {
		victim, err = createUser(ctx, w, "victim")
		return err
	}))
	fnReturned, released := holdRowLock(t, ctx, url, victim)
	straggler := make(chan error, 1)
	require.NoError(t, r.Run(ctx, func(w *syncuow.Work) (err error) {
		if outer, err = createUser(ctx, w, "outer"); err != nil {
			return err
		}
		err = must(syncuow.New(w.Tx(), engine, syncuow.Options{})).Run(ctx, func(n *syncuow.Work) error {
			defer close(fnReturned)
			if _, err := createUser(ctx, n, "nested"); err != nil {
				return err
			}
			var pid uint32
			if err := n.Tx().QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
				return err
			}
			go func() { straggler <- renameBy[0].rename(ctx, n.Tx(), victim) }()
			waitBlocked(t, ctx, pool, pid)
			return nil
		})
		require.ErrorIs(t, err, syncuow.ErrStatementInFlight)
		return nil
	}))
	close(released)
	require.ErrorIs(t, <-straggler, syncuow.ErrDone)
	assert.Equal(t, "outer", tvName(t, pool, outer))
	assert.Equal(t, "victim", tvName(t, pool, victim))
	assert.Zero(t, count(t, pool, "SELECT count(*) FROM tb_user WHERE username IN ('straggler', 'nested')"))
	assertNoDrift(t, pool)
}
