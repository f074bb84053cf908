package sync_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/blog"
	"github.com/tvsync/tvsync/internal/testdb"
	"github.com/tvsync/tvsync/repository"
	tvsync "github.com/tvsync/tvsync/sync"
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
// the queue is small (and its statistics say so); then 20,000 rows not yet due arrive; then one deferred
// write, one drain and one wait must read no more than a few rows of the
// queue sequentially (counted by PostgreSQL's statistics, not timed).
func TestQueue_StatementsDoNotReadTheBacklog(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := testdb.URL(t)
	cfg, err := pgxpool.ParseConfig(url)
	require.NoError(t, err)
	cfg.MaxConns = 1 // every statement on the connection whose plans are warmed
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	other, err := pgxpool.New(ctx, url)
	require.NoError(t, err)
	t.Cleanup(other.Close)

	engine := blog.MustNewEngine(pool, tvsync.Config{})
	repo := repository.New(pool, engine, repository.Options{Sync: syncuow.Deferred})
	worker := must(tvsync.NewWorker(engine, pool, tvsync.WorkerConfig{}))
	write := func(i int) tvsync.Token {
		tok, err := repo.InTxToken(ctx, func(uow *repository.UnitOfWork) error {
			_, err := uow.CreateUser(ctx, fmt.Sprintf("plan%d", i), "Plan")
			return err
		})
		require.NoError(t, err)
		return tok
	}
	// Statistics taken while the queue is small, as autovacuum takes them
	// on a queue that keeps up.
	write(-1)
	_, err = other.Exec(ctx, "ANALYZE tvsync.sync_queue")
	require.NoError(t, err)
	for i := range 12 {
		tok := write(i)
		_, err := worker.Drain(ctx)
		require.NoError(t, err)
		res, err := repo.WaitFor(ctx, tok)
		require.NoError(t, err)
		require.Equal(t, tvsync.WaitReached, res.Status)
	}

	_, err = other.Exec(ctx, `INSERT INTO tvsync.sync_queue (namespace, entity, entity_id, cascade, available_at)
		SELECT '', 'user', gen_random_uuid()::text, false, now() + interval '1 hour' FROM generate_series(1, 20000)`)
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
	assert.Equal(t, 1, r.Synced, "the write's row, not the backlog that is not due")
	res, err := repo.WaitFor(ctx, tok)
	require.NoError(t, err)
	assert.Equal(t, tvsync.WaitReached, res.Status)
	read := seqRead() - before
	assert.Less(t, read, int64(1000), "rows of tvsync.sync_queue read sequentially by one write, one drain and one wait over a backlog of 20,000")
}
