package sync_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/blog"
	"github.com/tvsync/tvsync/internal/testdb"
	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/syncmigrate"
	"github.com/tvsync/tvsync/sync/syncuow"
)

// TestQueue_StatementsDoNotReadTheBacklog: the queue's size swings between
// empty and a backlog, and a connection caches its statements' plans: after
// five executions PostgreSQL may keep a generic plan, made while the queue
// was nearly empty, where a sequential scan of a one-page table was the
// cheapest path. Such a plan reads the whole backlog at every write's
// enqueue (per row queued), every claim and every removal, so a backlog
// makes each write and each batch slower, which grows the backlog. Here the
// engine's only connection runs every queue statement a dozen times while
// the queue is small (and its statistics say so); then 20,000 rows arrive;
// then one deferred write, one drain and one wait must read no more than a
// few rows of the queue sequentially (counted by PostgreSQL's statistics,
// not timed). It holds for the blog as the owner, for a team's entity with
// text keys whose backlog is another application's, due at once, in the
// same database, and for the blog as a role granted one namespace only.
func TestQueue_StatementsDoNotReadTheBacklog(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		// setup returns the engine's pool (one connection), the engine,
		// and a deferred unit of work that changes one row (i makes it new).
		setup func(t *testing.T, owner *pgxpool.Pool) (*pgxpool.Pool, *tvsync.Engine, func(w *syncuow.Work, i int) error)
		// backlog is the namespace of the 20,000 rows and when they are due.
		backlog, due string
	}{
		{"blog, the owner, a backlog not due yet", blogAsOwner, "", "now() + interval '1 hour'"},
		{"a team's text keys, another application's backlog due at once", textItemsInNamespace, "app_b", "now()"},
		{"blog, a role granted one namespace, another application's backlog", blogAsNamespaceRole, "app_b", "now()"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			owner := testdb.New(t)
			pool, engine, change := tc.setup(t, owner)
			runner := must(syncuow.New(pool, engine, syncuow.Options{Timing: syncuow.Deferred}))
			worker := must(tvsync.NewWorker(engine, pool, tvsync.WorkerConfig{}))
			write := func(i int) tvsync.Token {
				return must(runner.RunToken(ctx, func(w *syncuow.Work) error { return change(w, i) }))
			}
			// Statistics taken while the queue is small, as autovacuum
			// takes them on a queue that keeps up.
			write(-1)
			_, err := owner.Exec(ctx, "ANALYZE tvsync.sync_queue")
			require.NoError(t, err)
			for i := range 12 {
				tok := write(i)
				_, err := worker.Drain(ctx)
				require.NoError(t, err)
				res, err := engine.WaitFor(ctx, tok)
				require.NoError(t, err)
				require.Equal(t, tvsync.WaitReached, res.Status)
			}

			_, err = owner.Exec(ctx, fmt.Sprintf(`INSERT INTO tvsync.sync_queue (namespace, entity, entity_id, cascade, available_at)
				SELECT $1, 'user', gen_random_uuid()::text, false, %s FROM generate_series(1, 20000)`, tc.due), tc.backlog)
			require.NoError(t, err)

			seqRead := func() int64 {
				// Flushed when the connection next goes idle: read on the same one.
				_, err := pool.Exec(ctx, "SELECT pg_stat_force_next_flush()")
				require.NoError(t, err)
				var n int64
				require.NoError(t, pool.QueryRow(ctx, `SELECT pg_stat_clear_snapshot()::text || '', seq_tup_read
					FROM pg_stat_user_tables WHERE relid = 'tvsync.sync_queue'::regclass`).Scan(new(string), &n))
				return n
			}
			before := seqRead()
			tok := write(100)
			r, err := worker.Drain(ctx)
			require.NoError(t, err)
			assert.Equal(t, 1, r.Synced, "the write's row, not the backlog that is not due or not the engine's")
			res, err := engine.WaitFor(ctx, tok)
			require.NoError(t, err)
			assert.Equal(t, tvsync.WaitReached, res.Status)
			read := seqRead() - before
			assert.Less(t, read, int64(1000), "rows of tvsync.sync_queue read sequentially by one write, one drain and one wait over a backlog of 20,000")
		})
	}
}

// onePool opens a pool of one connection on url: every statement runs on
// the connection whose plans the test warms.
func onePool(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(url)
	require.NoError(t, err)
	cfg.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

// blogAsOwner is the blog's engine on the database owner's connection; a
// change creates a user.
func blogAsOwner(t *testing.T, owner *pgxpool.Pool) (*pgxpool.Pool, *tvsync.Engine, func(*syncuow.Work, int) error) {
	pool := onePool(t, owner.Config().ConnString())
	return pool, blog.MustNewEngine(pool, tvsync.Config{}), createUser
}

// blogAsNamespaceRole is the blog's engine in namespace app_a, on a role
// granted that namespace (syncmigrate.GrantApp) and the README's grants on
// the blog's tables, and nothing else.
func blogAsNamespaceRole(t *testing.T, owner *pgxpool.Pool) (*pgxpool.Pool, *tvsync.Engine, func(*syncuow.Work, int) error) {
	ctx := context.Background()
	role, roleURL := createLoginRole(t, owner, "tvsync_plan")
	su := superuserPool(t, owner)
	require.NoError(t, syncmigrate.GrantApp(ctx, su, role, "app_a"))
	_, err := su.Exec(ctx, "GRANT USAGE ON SCHEMA public TO "+pgx.Identifier{role}.Sanitize()+";"+readmeBlogGrants(t, role))
	require.NoError(t, err)
	pool := onePool(t, roleURL)
	return pool, blog.MustNewEngine(pool, tvsync.Config{Namespace: "app_a"}), createUser
}

// createUser inserts a user in w's transaction and records it.
func createUser(w *syncuow.Work, i int) error {
	var id uuid.UUID
	if err := w.Tx().QueryRow(context.Background(), "INSERT INTO tb_user (username) VALUES ($1) RETURNING id", fmt.Sprintf("plan%d", i)).Scan(&id); err != nil {
		return err
	}
	w.Record(tvsync.Change{Entity: blog.EntityUser, IDs: []tvsync.ID{tvsync.UUIDKey(id)}})
	return nil
}

// textItemsInNamespace is a team's entity (tv_item, text keys, its own
// hand-written statements) in namespace app_a; a change inserts an item.
func textItemsInNamespace(t *testing.T, owner *pgxpool.Pool) (*pgxpool.Pool, *tvsync.Engine, func(*syncuow.Work, int) error) {
	_, err := owner.Exec(context.Background(), itemSchema(textKeys))
	require.NoError(t, err)
	pool := onePool(t, owner.Config().ConnString())
	engine, err := tvsync.NewEngine(pool, tvsync.Config{Namespace: "app_a"}, itemEntity(textKeys, false))
	require.NoError(t, err)
	return pool, engine, func(w *syncuow.Work, i int) error {
		key := fmt.Sprintf("plan-%d", i)
		if _, err := w.Tx().Exec(context.Background(), "INSERT INTO tb_item (id, name) VALUES ($1, 'v1')", key); err != nil {
			return err
		}
		w.Record(tvsync.Change{Entity: "item", IDs: []tvsync.ID{tvsync.TextKey(key)}})
		return nil
	}
}

// TestQueue_PlanSettingIsPutBackInTheCallersTransaction: a unit of work
// nested in the application's own transaction queues its rows there, with
// enable_seqscan off around the queue's statements only: whatever the
// application had set for its transaction (the default, or its own SET
// LOCAL) holds again for its next statements.
func TestQueue_PlanSettingIsPutBackInTheCallersTransaction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	engine := blog.MustNewEngine(pool, tvsync.Config{})
	for _, own := range []string{"", "off", "on"} {
		tx, err := pool.Begin(ctx)
		require.NoError(t, err)
		if own != "" {
			_, err = tx.Exec(ctx, "SET LOCAL enable_seqscan = "+own)
			require.NoError(t, err)
		}
		var want string
		require.NoError(t, tx.QueryRow(ctx, "SELECT current_setting('enable_seqscan')").Scan(&want))
		runner := must(syncuow.New(tx, engine, syncuow.Options{Timing: syncuow.Deferred}))
		require.NoError(t, runner.Run(ctx, func(w *syncuow.Work) error { return createUser(w, len(own)) }))
		var got, queued string
		require.NoError(t, tx.QueryRow(ctx, "SELECT current_setting('enable_seqscan'), (SELECT count(*) FROM tvsync.sync_queue)::text").Scan(&got, &queued))
		assert.Equal(t, want, got, "the application's enable_seqscan after a nested unit of work (its own: %q)", own)
		assert.NotEqual(t, "0", queued, "the nested unit queued its row in the application's transaction")
		require.NoError(t, tx.Rollback(ctx))
	}
}
