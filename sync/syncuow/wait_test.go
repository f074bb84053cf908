package syncuow_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/blog"
	"github.com/tvsync/tvsync/internal/testdb"
	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/syncuow"
)

// tokenKey is the TokenKey the tests' engines share, as the processes of
// one application would.
var tokenKey = []byte("0123456789abcdef0123456789abcdef")

// batchLog records the statements of every batch a pool sends, one string
// per batch, and the plain statements.
type batchLog struct {
	mu      gosync.Mutex
	batches []string
	queries []string
}

func (l *batchLog) TraceBatchStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchStartData) context.Context {
	var sqls []string
	for _, q := range data.Batch.QueuedQueries {
		sqls = append(sqls, q.SQL)
	}
	l.mu.Lock()
	l.batches = append(l.batches, strings.Join(sqls, ";\n"))
	l.mu.Unlock()
	return ctx
}
func (l *batchLog) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (l *batchLog) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}
func (l *batchLog) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	l.mu.Lock()
	l.queries = append(l.queries, data.SQL)
	l.mu.Unlock()
	return ctx
}
func (l *batchLog) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// notifyingBatches returns the batches that queue rows and NOTIFY together:
// a write transaction that takes the notify lock at its commit.
func (l *batchLog) notifyingBatches() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, b := range l.batches {
		if strings.Contains(b, "INSERT INTO tvsync.sync_queue") && strings.Contains(b, "pg_notify") {
			out = append(out, b)
		}
	}
	return out
}

// tracedPool opens a pool on url whose statements log records.
func tracedPool(t *testing.T, url string, maxConns int32, log *batchLog) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(url)
	require.NoError(t, err)
	cfg.MaxConns = maxConns
	cfg.ConnConfig.Tracer = log
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

// listen opens a connection listening on channel.
func listen(t *testing.T, url, channel string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	_, err = conn.Exec(context.Background(), "LISTEN "+channel)
	require.NoError(t, err)
	return conn
}

// TestDeferred_CommitSendsNoNotifyInTheWriteTransaction: a deferred unit
// of work commits its queue rows without a NOTIFY in its transaction (which
// would take PostgreSQL's database-wide notify lock at the commit and so
// serialize deferred writes), and the workers are woken all the same, by a
// NOTIFY sent after the commit. NotifyInTransaction, the old way, still
// sends it inside.
func TestDeferred_CommitSendsNoNotifyInTheWriteTransaction(t *testing.T) {
	t.Parallel()
	for _, inTx := range []bool{false, true} {
		t.Run(fmt.Sprintf("NotifyInTransaction=%t", inTx), func(t *testing.T) {
			ctx := deadline(t)
			url := testdb.URL(t)
			log := &batchLog{}
			pool := tracedPool(t, url, 2, log)
			engine := blog.MustNewEngine(pool, tvsync.Config{NotifyInTransaction: inTx})
			listener := listen(t, url, queue.QueueChannel(engine))
			runner := must(syncuow.New(pool, engine, syncuow.Options{Timing: syncuow.Deferred}))
			require.NoError(t, runner.Run(ctx, func(w *syncuow.Work) error {
				_, err := createUser(ctx, w, "notified")
				return err
			}))
			if inTx {
				assert.Len(t, log.notifyingBatches(), 1, "the old way: NOTIFY rides with the write's commit")
			} else {
				assert.Empty(t, log.notifyingBatches(), "no NOTIFY inside the write transaction")
			}
			wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			n, err := listener.WaitForNotification(wctx)
			require.NoError(t, err, "the workers are woken")
			assert.Equal(t, queue.QueueChannel(engine), n.Channel)
		})
	}
}

// failingPool is an engine's pool that fails, and counts, every use.
type failingPool struct{ uses atomic.Int64 }

var errPoolUsed = errors.New("failingPool: used")

func (p *failingPool) Exec(context.Context, string, ...any) (pgconn.CommandTag, error) {
	p.uses.Add(1)
	return pgconn.CommandTag{}, errPoolUsed
}
func (p *failingPool) Query(context.Context, string, ...any) (pgx.Rows, error) {
	p.uses.Add(1)
	return nil, errPoolUsed
}
func (p *failingPool) QueryRow(context.Context, string, ...any) pgx.Row {
	p.uses.Add(1)
	return nil
}
func (p *failingPool) SendBatch(context.Context, *pgx.Batch) pgx.BatchResults {
	p.uses.Add(1)
	return nil
}
func (p *failingPool) Begin(context.Context) (pgx.Tx, error) {
	p.uses.Add(1)
	return nil, errPoolUsed
}

// TestWaitFor_InlineAndAfterCommitAreReachedWithoutAQuery: the token of an
// inline unit of work, and of an after-commit one whose sync succeeded,
// says so; another process's engine (same key, a pool that fails on any
// use) reads it from its text and reports it reached without touching the
// database.
func TestWaitFor_InlineAndAfterCommitAreReachedWithoutAQuery(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	pool := testdb.New(t)
	engine := blog.MustNewEngine(pool, tvsync.Config{TokenKey: tokenKey})
	fp := &failingPool{}
	other := blog.MustNewEngine(fp, tvsync.Config{TokenKey: tokenKey})
	for _, mode := range []syncuow.Timing{syncuow.Inline, syncuow.AfterCommit} {
		tok, err := must(syncuow.New(pool, engine, syncuow.Options{Timing: mode})).RunToken(ctx, func(w *syncuow.Work) error {
			_, err := createUser(ctx, w, "rw_"+mode.String())
			return err
		})
		require.NoError(t, err, mode)
		assert.True(t, tok.Reached(), mode)
		parsed, err := other.ParseToken(tok.String())
		require.NoError(t, err, mode)
		res, err := other.WaitFor(ctx, parsed)
		require.NoError(t, err, mode)
		assert.Equal(t, tvsync.WaitReached, res.Status, mode)
	}
	assert.Zero(t, fp.uses.Load(), "no database round trip")
}

// TestWaitFor_NoWorkerTimesOut: nothing syncs a deferred write's rows; the
// wait ends with its context, as timed out, still counting them.
func TestWaitFor_NoWorkerTimesOut(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	pool := testdb.New(t)
	engine := blog.MustNewEngine(pool, tvsync.Config{})
	tok, err := must(syncuow.New(pool, engine, syncuow.Options{Timing: syncuow.Deferred})).RunToken(ctx, func(w *syncuow.Work) error {
		_, err := createUser(ctx, w, "nobody_syncs")
		return err
	})
	require.NoError(t, err)
	require.False(t, tok.Reached())
	wctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	res, err := engine.WaitFor(wctx, tok)
	require.NoError(t, err)
	assert.Equal(t, tvsync.WaitTimedOut, res.Status)
	assert.LessOrEqual(t, res.Pending, 1, "at most the user's row, as last seen (none if no check ended in time)")
	var queued int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM tvsync.sync_queue").Scan(&queued))
	assert.Equal(t, 1, queued, "the user's row is still queued")
}

// TestWaitFor_DeadRowsStallNamingThem: a deferred write's row is parked
// dead; the wait reports it stalled at once, naming the row, long before
// its context ends.
func TestWaitFor_DeadRowsStallNamingThem(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	pool := testdb.New(t)
	engine := blog.MustNewEngine(pool, tvsync.Config{})
	var id uuid.UUID
	tok, err := must(syncuow.New(pool, engine, syncuow.Options{Timing: syncuow.Deferred})).RunToken(ctx, func(w *syncuow.Work) error {
		var err error
		id, err = createUser(ctx, w, "parked")
		return err
	})
	require.NoError(t, err)
	_, err = pool.Exec(ctx, "UPDATE tvsync.sync_queue SET dead = true, attempts = 10, last_error = 'boom'")
	require.NoError(t, err)
	res, err := engine.WaitFor(ctx, tok)
	require.NoError(t, err)
	assert.Equal(t, tvsync.WaitStalled, res.Status)
	assert.Equal(t, 1, res.Dead)
	require.Len(t, res.Rows, 1)
	assert.Equal(t, blog.EntityUser, res.Rows[0].Entity)
	assert.Equal(t, id.String(), res.Rows[0].ID)
	assert.True(t, res.Rows[0].Dead)
	assert.Equal(t, "boom", res.Rows[0].LastError)
}

// TestWaitFor_NoProgressStalls: rows that no worker takes stall the wait
// after Config.StallAfter.
func TestWaitFor_NoProgressStalls(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	pool := testdb.New(t)
	engine := blog.MustNewEngine(pool, tvsync.Config{StallAfter: 200 * time.Millisecond})
	tok, err := must(syncuow.New(pool, engine, syncuow.Options{Timing: syncuow.Deferred})).RunToken(ctx, func(w *syncuow.Work) error {
		_, err := createUser(ctx, w, "idle")
		return err
	})
	require.NoError(t, err)
	res, err := engine.WaitFor(ctx, tok)
	require.NoError(t, err)
	assert.Equal(t, tvsync.WaitStalled, res.Status)
	assert.Zero(t, res.Dead)
	require.Len(t, res.Rows, 1)
	assert.Equal(t, blog.EntityUser, res.Rows[0].Entity)
}

// TestWaitFor_ForgedOrMalformedTokensAreRejected: an altered token, one of
// another key or namespace, and text that is no token are errors, at once.
func TestWaitFor_ForgedOrMalformedTokensAreRejected(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	pool := testdb.New(t)
	engine := blog.MustNewEngine(pool, tvsync.Config{TokenKey: tokenKey})
	tok, err := must(syncuow.New(pool, engine, syncuow.Options{Timing: syncuow.Deferred})).RunToken(ctx, func(w *syncuow.Work) error {
		_, err := createUser(ctx, w, "signed")
		return err
	})
	require.NoError(t, err)
	text := tok.String()
	_, err = engine.ParseToken(text)
	require.NoError(t, err, "the genuine token")

	flip := []byte(text)
	flip[3] ^= 1 // another base64url character
	if flip[3] == '-' || flip[3] == '_' {
		flip[3] = 'A'
	}
	otherKey := blog.MustNewEngine(pool, tvsync.Config{TokenKey: []byte("another key of sixteen bytes or more")})
	otherNS := blog.MustNewEngine(pool, tvsync.Config{TokenKey: tokenKey, Namespace: "tenant_b"})
	fromOtherKey := queue.Token(otherKey, nil).String()
	cases := map[string]string{
		"altered":            string(flip),
		"empty":              "",
		"not base64":         "not a token!",
		"truncated":          text[:len(text)-2],
		"too long":           strings.Repeat("A", 600),
		"another key":        fromOtherKey,
		"reached, other key": queue.ReachedToken(otherKey).String(),
	}
	for name, s := range cases {
		_, err := engine.ParseToken(s)
		assert.ErrorIs(t, err, tvsync.ErrInvalidToken, name)
	}
	_, err = otherNS.ParseToken(text)
	assert.ErrorIs(t, err, tvsync.ErrInvalidToken, "another namespace")
	_, err = otherNS.WaitFor(ctx, tok)
	assert.ErrorIs(t, err, tvsync.ErrInvalidToken, "another namespace's engine given the Token itself")
	_, err = engine.WaitFor(ctx, tvsync.Token{})
	assert.ErrorIs(t, err, tvsync.ErrInvalidToken, "the zero Token")
	assert.NotContains(t, text, "signed", "the token carries no data of the write")
}

// TestWaitFor_WaitsForCascadedDependents: a deferred rename of a user with
// posts queues one row; a worker's first batch syncs the user and queues
// the posts and comments, which show the username, as new rows. The token
// is not reached while those are stale, and is once they are synced.
func TestWaitFor_WaitsForCascadedDependents(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	pool := testdb.New(t)
	engine := blog.MustNewEngine(pool, tvsync.Config{TokenKey: tokenKey})
	var user, post uuid.UUID
	inline := must(syncuow.New(pool, engine, syncuow.Options{Timing: syncuow.Inline}))
	require.NoError(t, inline.Run(ctx, func(w *syncuow.Work) error {
		var err error
		if user, err = createUser(ctx, w, "before"); err != nil {
			return err
		}
		if err := w.Tx().QueryRow(ctx, "INSERT INTO tb_post (author_id, title, content, published) VALUES ($1, 't', 'c', true) RETURNING id", user).Scan(&post); err != nil {
			return err
		}
		if _, err := w.Tx().Exec(ctx, "INSERT INTO tb_comment (post_id, author_id, content) VALUES ($1, $2, 'hi')", post, user); err != nil {
			return err
		}
		w.Record(tvsync.Change{Entity: blog.EntityPost, IDs: []tvsync.ID{tvsync.UUIDKey(post)}, Cascade: true})
		return nil
	}))
	require.Equal(t, "before", postAuthor(t, pool, post))

	tok, err := must(syncuow.New(pool, engine, syncuow.Options{Timing: syncuow.Deferred})).RunToken(ctx, func(w *syncuow.Work) error {
		return renameUser(ctx, w, user, "after")
	})
	require.NoError(t, err)
	worker := must(tvsync.NewWorker(engine, pool, tvsync.WorkerConfig{}))
	r, err := drainOnce(ctx, worker)
	require.NoError(t, err)
	require.Equal(t, 1, r.Synced, "the user's row")
	require.Positive(t, r.Queued, "its dependents, queued")
	require.Equal(t, "before", postAuthor(t, pool, post), "the post is still stale")

	// With no worker running, the dependents make no progress: a waiter
	// that sees them reports them stalled; one that missed them would
	// report the token reached.
	impatient := blog.MustNewEngine(pool, tvsync.Config{TokenKey: tokenKey, StallAfter: 300 * time.Millisecond})
	res, err := impatient.WaitFor(ctx, tok)
	require.NoError(t, err)
	assert.Equal(t, tvsync.WaitStalled, res.Status, "not reached while a dependent is stale")
	assert.Equal(t, r.Queued, res.Pending, "the dependents' rows")
	require.NotEmpty(t, res.Rows)
	for _, row := range res.Rows {
		assert.Contains(t, []string{blog.EntityPost, blog.EntityComment}, row.Entity, "a dependent, not the user")
	}

	_, err = worker.Drain(ctx)
	require.NoError(t, err)
	res, err = engine.WaitFor(ctx, tok)
	require.NoError(t, err)
	assert.Equal(t, tvsync.WaitReached, res.Status)
	assert.Equal(t, "after", postAuthor(t, pool, post), "reached: the post shows the rename")
}

// postAuthor reads the username tv_post shows for the post's author.
func postAuthor(t *testing.T, pool *pgxpool.Pool, post uuid.UUID) string {
	t.Helper()
	var name string
	require.NoError(t, pool.QueryRow(context.Background(), "SELECT data->'author'->>'username' FROM tv_post WHERE id = $1", post).Scan(&name))
	return name
}

// TestWaitFor_LostWakeUpIsSyncedByThePoll: a writer that dies right after
// its commit never sends the wake-up; a worker that is already listening
// finds the row at its next poll, and the token is reached within a
// generous bound.
func TestWaitFor_LostWakeUpIsSyncedByThePoll(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	pool := testdb.New(t)
	engine := blog.MustNewEngine(pool, tvsync.Config{})
	worker := must(tvsync.NewWorker(engine, pool, tvsync.WorkerConfig{PollInterval: 100 * time.Millisecond}))
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- worker.Run(wctx) }()
	t.Cleanup(func() { stop(); <-done })

	// The writer: queue and commit, and die before the engine wakes the workers (no NOTIFY).
	var id uuid.UUID
	require.NoError(t, pool.QueryRow(ctx, "INSERT INTO tb_user (username) VALUES ('unannounced') RETURNING id").Scan(&id))
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	q, err := queue.Enqueue(ctx, engine, tx, 0, false, tvsync.Change{Entity: blog.EntityUser, IDs: []tvsync.ID{tvsync.UUIDKey(id)}})
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))

	bound, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	res, err := engine.WaitFor(bound, queue.Token(engine, q))
	require.NoError(t, err)
	require.Equal(t, tvsync.WaitReached, res.Status, "synced by the poll, with no wake-up")
	var n int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM tv_user WHERE id = $1", id).Scan(&n))
	assert.Equal(t, 1, n)
}

// TestWaitFor_ThousandWaitersOnAPoolOfTwo: a thousand waits at once, on an
// engine whose pool has two connections, all end reached once a worker
// syncs the rows: waiting holds no connection.
func TestWaitFor_ThousandWaitersOnAPoolOfTwo(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	url := testdb.URL(t)
	pool := poolOf(t, url, 2)
	engine := blog.MustNewEngine(pool, tvsync.Config{})
	runner := must(syncuow.New(pool, engine, syncuow.Options{Timing: syncuow.Deferred}))
	var toks []tvsync.Token
	for i := range 20 {
		tok, err := runner.RunToken(ctx, func(w *syncuow.Work) error {
			_, err := createUser(ctx, w, fmt.Sprintf("many_%d", i))
			return err
		})
		require.NoError(t, err)
		toks = append(toks, tok)
	}
	var reached atomic.Int64
	var wg gosync.WaitGroup
	for i := range 1000 {
		wg.Go(func() {
			res, err := engine.WaitFor(ctx, toks[i%len(toks)])
			if assert.NoError(t, err) && res.Status == tvsync.WaitReached {
				reached.Add(1)
			}
		})
	}
	workerPool := poolOf(t, url, 2)
	worker := must(tvsync.NewWorker(blog.MustNewEngine(workerPool, tvsync.Config{}), workerPool, tvsync.WorkerConfig{}))
	_, err := worker.Drain(ctx)
	require.NoError(t, err)
	wg.Wait()
	assert.EqualValues(t, 1000, reached.Load())
	assert.LessOrEqual(t, pool.Stat().MaxConns(), int32(2))
}

// TestUserAPI_ReadYourWritesAcrossRequests runs ExampleRunner_RunToken's
// API: a deferred write in one HTTP request, its token sent back with the
// next, which reads the user's tv_user document; and a forged token is a
// 400, not a wait.
func TestUserAPI_ReadYourWritesAcrossRequests(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	pool := testdb.New(t)
	engine := blog.MustNewEngine(pool, tvsync.Config{TokenKey: tokenKey})
	worker := must(tvsync.NewWorker(blog.MustNewEngine(pool, tvsync.Config{}), pool, tvsync.WorkerConfig{}))
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- worker.Run(wctx) }()
	t.Cleanup(func() { stop(); <-done })

	// A bound no loaded machine reaches: the read must get the document.
	api := UserAPI{Pool: pool, Engine: engine, Runner: must(syncuow.New(pool, engine, syncuow.Options{})), Wait: time.Minute}
	status, doc, err := readYourWrite(api, "ada")
	require.NoError(t, err)
	require.Equal(t, 200, status, doc)
	assert.Contains(t, doc, `"username": "ada"`)

	other := UserAPI{Pool: pool, Engine: blog.MustNewEngine(pool, tvsync.Config{TokenKey: []byte("not the application's key at all")}), Runner: api.Runner}
	status, _, err = readYourWrite(other, "bob")
	require.NoError(t, err)
	assert.Equal(t, 400, status, "a token signed with another key is refused")
}
