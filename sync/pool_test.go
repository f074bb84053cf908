package sync_test

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
	"github.com/tvsync/tvsync/internal/expect"
	"github.com/tvsync/tvsync/internal/seed"
	"github.com/tvsync/tvsync/internal/testdb"
	tvsync "github.com/tvsync/tvsync/sync"
)

// TestEngine_EveryPathRunsOnOnePooledConnection runs every engine path that
// takes connections on a pool of one: full sync and verify with repair, each
// with four goroutines sharing the connection, Expand and SyncTx inside a
// transaction that holds it, Sync and SyncAndAck with cascades. A path that
// held a pooled connection while asking for another would hang; the deadline
// turns that into a failure.
func TestEngine_EveryPathRunsOnOnePooledConnection(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cfg, err := pgxpool.ParseConfig(testdb.URL(t))
	require.NoError(t, err)
	cfg.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	engine := blog.MustNewEngine(pool, tvsync.Config{WideThreshold: 20})

	_, err = seed.Load(ctx, pool, seed.Options{Users: 30, Posts: 200, Comments: 600, Likes: 300})
	require.NoError(t, err)
	for _, entity := range engine.Entities() {
		_, err := engine.FullSync(ctx, entity, tvsync.FullOptions{ChunkSize: 50, Workers: 4})
		require.NoError(t, err, "full sync %s", entity)
	}

	// Drift of every kind, for verify to find and repair.
	_, err = pool.Exec(ctx, `
		DELETE FROM tv_post WHERE id IN (SELECT id FROM tv_post ORDER BY id LIMIT 7);
		UPDATE tv_user SET data = data || '{"postCount": -1}' WHERE id IN (SELECT id FROM tv_user ORDER BY id LIMIT 5);
		INSERT INTO tv_comment (id, data) VALUES (gen_random_uuid(), '{}')`)
	require.NoError(t, err)
	drifted := 0
	for _, entity := range engine.Entities() {
		res, err := engine.Verify(ctx, entity, tvsync.VerifyOptions{ChunkSize: 40, Workers: 4, Repair: true})
		require.NoError(t, err, "verify %s", entity)
		assert.Equal(t, res.Drifted(), res.Repaired, "verify %s repairs what it finds", entity)
		drifted += res.Drifted()
	}
	assert.Equal(t, 7+5+1, drifted)

	// The plan-equality check of every entity, run twice at once (two
	// operators) on the one connection: each waits for it, neither hangs.
	checks := make(chan error, 2)
	for range 2 {
		go func() {
			for _, entity := range engine.Entities() {
				check, err := tvsync.CheckPlansForTest(ctx, engine, entity)
				if err == nil && !check.OK() {
					err = fmt.Errorf("check plans of %s: %s", entity, check)
				}
				if err != nil {
					checks <- err
					return
				}
			}
			checks <- nil
		}()
	}
	require.NoError(t, <-checks)
	require.NoError(t, <-checks)

	// Inside a transaction holding the only connection: rename a user, then
	// look up and sync its cascades in the same transaction.
	var user uuid.UUID
	require.NoError(t, pool.QueryRow(ctx, "SELECT author_id FROM tb_post GROUP BY author_id ORDER BY count(*) DESC LIMIT 1").Scan(&user))
	require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "UPDATE tb_user SET username = username || '_renamed' WHERE id = $1", user); err != nil {
			return err
		}
		affected, err := engine.Expand(ctx, tx, tvsync.Change{Entity: blog.EntityUser, IDs: tvsync.UUIDKeys([]uuid.UUID{user})})
		if err != nil {
			return err
		}
		require.Greater(t, len(affected), 1, "the user's posts and comments embed them")
		_, err = engine.SyncTx(ctx, tx, tvsync.ModeIncremental, affected...)
		return err
	}))

	// Outside: a cascading sync, and one that also acks the queue.
	_, err = pool.Exec(ctx, "UPDATE tb_post SET title = title || '!' WHERE author_id = $1", user)
	require.NoError(t, err)
	_, err = engine.Sync(ctx, tvsync.ModeIncremental, tvsync.Change{Entity: blog.EntityUser, IDs: tvsync.UUIDKeys([]uuid.UUID{user}), Cascade: true})
	require.NoError(t, err)
	var posts []uuid.UUID
	rows, err := pool.Query(ctx, "SELECT id FROM tb_post WHERE author_id = $1", user)
	require.NoError(t, err)
	posts, err = pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	require.NoError(t, err)
	queued, err := engine.Enqueue(ctx, pool, time.Hour, false, tvsync.Change{Entity: blog.EntityPost, IDs: tvsync.UUIDKeys(posts), Cascade: true})
	require.NoError(t, err)
	_, err = engine.SyncQueued(ctx, tvsync.ModeIncremental, queued)
	require.NoError(t, err)

	diff, err := expect.Check(ctx, pool)
	require.NoError(t, err)
	assert.Empty(t, diff)
}
