package sync_test

import (
	"context"
	"errors"
	"fmt"
	gosync "sync"
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
	"github.com/tvsync/tvsync/sync/syncuow"
)

// uuidLookup is a cascade look-up written as plain SQL over a uuid[] of
// the changed ids ($1), as a team may register one without sqlc.
func uuidLookup(sql string) func(p *tvsync.Pipeline, ids []tvsync.ID) func() ([]tvsync.ID, error) {
	return func(p *tvsync.Pipeline, ids []tvsync.ID) func() ([]tvsync.ID, error) {
		b := &pgx.Batch{}
		b.Queue(sql, tvsync.UUIDs(ids))
		br := p.SendBatch(context.Background(), b)
		return func() ([]tvsync.ID, error) {
			rows, err := br.Query()
			if err != nil {
				return nil, err
			}
			got, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
			return tvsync.UUIDKeys(got), err
		}
	}
}

// chainEntities are the blog's entities with their cascades declared one
// step at a time, as a team naturally declares them: a user's comments
// show it (user → comment), a post shows its comments (comment → post);
// with backEdges also the count back-edges (post → user for postCount,
// comment → user for commentCount). No cascade goes from a user straight
// to the posts it commented on: only following the chain reaches them.
//
// With on, each cascade names the keys of the document its dependents show
// (Cascade.On): the counts' back-edges then cascade only on a document
// created or deleted (On: id, a key that never changes).
func chainEntities(backEdges, on bool) []tvsync.Entity {
	keys := func(k ...string) []string {
		if on {
			return k
		}
		return nil
	}
	ents := blog.Entities()
	for i := range ents {
		switch ents[i].Name {
		case blog.EntityUser:
			ents[i].Cascades = []tvsync.Cascade{
				{Entity: blog.EntityPost, Referencing: true, On: keys("username", "fullName"), Lookup: uuidLookup("SELECT id FROM tb_post WHERE author_id = ANY($1)")},
				{Entity: blog.EntityComment, Referencing: true, On: keys("username"), Lookup: uuidLookup("SELECT id FROM tb_comment WHERE author_id = ANY($1)")},
			}
		case blog.EntityPost:
			ents[i].Cascades = []tvsync.Cascade{
				{Entity: blog.EntityComment, Referencing: true, On: keys("title"), Lookup: uuidLookup("SELECT id FROM tb_comment WHERE post_id = ANY($1)")},
			}
			if backEdges {
				ents[i].Cascades = append(ents[i].Cascades,
					tvsync.Cascade{Entity: blog.EntityUser, On: keys("id"), Lookup: uuidLookup("SELECT DISTINCT author_id FROM tb_post WHERE id = ANY($1)")})
			}
		case blog.EntityComment:
			ents[i].Cascades = []tvsync.Cascade{
				{Entity: blog.EntityPost, Lookup: uuidLookup("SELECT DISTINCT post_id FROM tb_comment WHERE id = ANY($1)")},
			}
			if backEdges {
				ents[i].Cascades = append(ents[i].Cascades,
					tvsync.Cascade{Entity: blog.EntityUser, On: keys("id"), Lookup: uuidLookup("SELECT DISTINCT author_id FROM tb_comment WHERE id = ANY($1)")})
			}
		}
	}
	return ents
}

func newChainEngine(t *testing.T, pool *pgxpool.Pool, cfg tvsync.Config, backEdges, on bool) *tvsync.Engine {
	t.Helper()
	e, err := tvsync.NewEngine(pool, cfg, chainEntities(backEdges, on)...)
	require.NoError(t, err)
	return e
}

// insertUser, insertPost and insertComment write command rows directly.
func insertUser(t *testing.T, pool *pgxpool.Pool, name string) uuid.UUID {
	t.Helper()
	var id uuid.UUID
	require.NoError(t, pool.QueryRow(context.Background(),
		"INSERT INTO tb_user (username, full_name) VALUES ($1, $1) RETURNING id", name).Scan(&id))
	return id
}

func insertPost(t *testing.T, pool *pgxpool.Pool, author uuid.UUID, title string) uuid.UUID {
	t.Helper()
	var id uuid.UUID
	require.NoError(t, pool.QueryRow(context.Background(),
		"INSERT INTO tb_post (author_id, title, content) VALUES ($1, $2, 'text') RETURNING id", author, title).Scan(&id))
	return id
}

func insertComments(t *testing.T, pool *pgxpool.Pool, post, author uuid.UUID, n int) {
	t.Helper()
	_, err := pool.Exec(context.Background(),
		"INSERT INTO tb_comment (post_id, author_id, content) SELECT $1, $2, 'c' || g FROM generate_series(1, $3) g", post, author, n)
	require.NoError(t, err)
}

func fullSyncAll(t *testing.T, e *tvsync.Engine) {
	t.Helper()
	for _, name := range e.Entities() {
		_, err := e.FullSync(context.Background(), name, tvsync.FullOptions{})
		require.NoError(t, err)
	}
}

func requireNoDrift(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	diff, err := expect.Check(context.Background(), pool)
	require.NoError(t, err)
	require.Empty(t, diff, "tv_ documents differ from an independent recomputation of tb_")
}

func queueRows(t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	var n int
	require.NoError(t, pool.QueryRow(context.Background(), "SELECT count(*) FROM tvsync.sync_queue").Scan(&n))
	return n
}

// Issue 18, item 1: renaming a user who commented on someone else's post
// reaches that post through user → comment → post, declared one step at a
// time.
func TestSync_FollowsChainsOfCascadesToTheEnd(t *testing.T) {
	ctx := context.Background()
	pool := testdb.New(t)
	for _, v := range []struct{ backEdges, on bool }{{false, false}, {true, false}, {true, true}} {
		t.Run(fmt.Sprintf("backEdges=%v,on=%v", v.backEdges, v.on), func(t *testing.T) {
			e := newChainEngine(t, pool, tvsync.Config{}, v.backEdges, v.on)
			author := insertUser(t, pool, fmt.Sprintf("author%v%v", v.backEdges, v.on))
			commenter := insertUser(t, pool, fmt.Sprintf("commenter%v%v", v.backEdges, v.on))
			post := insertPost(t, pool, author, "a post")
			insertComments(t, pool, post, commenter, 2)
			fullSyncAll(t, e)
			requireNoDrift(t, pool)

			_, err := pool.Exec(ctx, "UPDATE tb_user SET username = username || '-renamed' WHERE id = $1", commenter)
			require.NoError(t, err)
			rep, err := e.Sync(ctx, tvsync.ModeIncremental, tvsync.Change{Entity: blog.EntityUser, IDs: tvsync.UUIDKeys([]uuid.UUID{commenter}), Cascade: true})
			require.NoError(t, err)
			requireNoDrift(t, pool)
			assert.Equal(t, 1, rep.For(blog.EntityPost).Upserted, "the commented post shows the new name")
			assert.Zero(t, queueRows(t, pool), "a sync that finished leaves nothing queued")
		})
	}
}

// Issue 18, item 1: the cost follows what changed. At 200 users, 2,000
// posts and 10,000 comments with the count back-edges declared, a rename
// and a delete sync a small multiple of the documents they change (with
// Cascade.On naming what each dependent shows), and the look-up before a
// delete (Expand) does not return the database.
func TestSync_CascadeCostFollowsWhatChanged(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds 12,200 rows")
	}
	ctx := context.Background()
	for _, on := range []bool{false, true} {
		t.Run(fmt.Sprintf("on=%v", on), func(t *testing.T) {
			pool := testdb.New(t)
			_, err := seed.Load(ctx, pool, seed.Options{Users: 200, Posts: 2000, Comments: 10000, Seed: 18})
			require.NoError(t, err)
			e := newChainEngine(t, pool, tvsync.Config{}, true, on)
			fullSyncAll(t, e)
			var total int
			require.NoError(t, pool.QueryRow(ctx, "SELECT (SELECT count(*) FROM tb_user) + (SELECT count(*) FROM tb_post) + (SELECT count(*) FROM tb_comment)").Scan(&total))
			// bound is the most ids a sync may touch: without On, a
			// document that changed in a key its dependents do not show
			// still cascades (far from the whole database all the same);
			// with On, a small multiple of what changed.
			bound := func(changed int) int {
				if on {
					return 2*changed + 10
				}
				return total / 2
			}

			// The user with the most comments on other users' posts.
			var user uuid.UUID
			require.NoError(t, pool.QueryRow(ctx, `SELECT c.author_id FROM tb_comment c JOIN tb_post p ON p.id = c.post_id
				WHERE p.author_id <> c.author_id GROUP BY c.author_id ORDER BY count(*) DESC, c.author_id LIMIT 1`).Scan(&user))

			_, err = pool.Exec(ctx, "UPDATE tb_user SET username = username || '-renamed' WHERE id = $1", user)
			require.NoError(t, err)
			rep, err := e.Sync(ctx, tvsync.ModeIncremental, tvsync.Change{Entity: blog.EntityUser, IDs: tvsync.UUIDKeys([]uuid.UUID{user}), Cascade: true})
			require.NoError(t, err)
			requireNoDrift(t, pool)
			synced, changed := counts(rep)
			t.Logf("rename: %d ids synced, %d documents changed (%s)", synced, changed, perEntity(rep))
			assert.LessOrEqual(t, synced, bound(changed), "a rename syncs what it changes, not the database")

			affected, err := e.Expand(ctx, pool, tvsync.Change{Entity: blog.EntityUser, IDs: tvsync.UUIDKeys([]uuid.UUID{user})})
			require.NoError(t, err)
			n := 0
			for _, c := range affected {
				n += len(c.IDs)
			}
			t.Logf("delete: Expand before the delete returns %d of the %d rows", n, total)
			assert.Less(t, n, total/10, "the look-up before a delete follows referencing rows to the end and the others one step")
			_, err = pool.Exec(ctx, "DELETE FROM tb_user WHERE id = $1", user)
			require.NoError(t, err)
			rep, err = e.Sync(ctx, tvsync.ModeIncremental, affected...)
			require.NoError(t, err)
			requireNoDrift(t, pool)
			synced, changed = counts(rep)
			t.Logf("delete: %d ids synced, %d documents changed or deleted (%s)", synced, changed, perEntity(rep))
			assert.LessOrEqual(t, synced, bound(changed), "a delete syncs what it changes, not the database")
		})
	}
}

// counts returns the ids a report synced and the documents it changed.
func counts(rep tvsync.Report) (synced, changed int) {
	for _, r := range rep.Results {
		synced += r.Requested
		changed += r.Upserted + r.Deleted
	}
	return synced, changed
}

func perEntity(rep tvsync.Report) string {
	s := ""
	for _, r := range rep.Results {
		s += fmt.Sprintf("%s: %d synced, %d upserted, %d deleted; ", r.Entity, r.Requested, r.Upserted, r.Deleted)
	}
	return s
}

// cancelAfter is an Observer that cancels a context once n entity batches
// have committed, to stop a sync between two of its transactions.
type cancelAfter struct {
	mu     gosync.Mutex
	n      int
	cancel context.CancelFunc
}

func (c *cancelAfter) ObserveSync(tvsync.EntityResult) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n--; c.n == 0 {
		c.cancel()
	}
}

// Issue 18, item 2: an after-commit sync stopped after its first
// transaction leaves the rest of a cascade bigger than a batch queued, and
// ErrCommittedNotSynced says so truly: a worker finishes it.
func TestAfterCommit_StoppedSyncLeavesTheRestOfALargeCascadeQueued(t *testing.T) {
	pool := testdb.New(t)
	author := insertUser(t, pool, "stopped-author")
	commenter := insertUser(t, pool, "stopped-commenter")
	post := insertPost(t, pool, author, "stopped")
	insertComments(t, pool, post, commenter, 25)
	fullSyncAll(t, blog.MustNewEngine(pool, tvsync.Config{}))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := &cancelAfter{n: 1, cancel: cancel}
	e := blog.MustNewEngine(pool, tvsync.Config{BatchSize: 10, CascadeGrace: time.Nanosecond, Observer: stop})
	runner := must(syncuow.New(pool, e, syncuow.Options{AfterCommitGrace: time.Nanosecond}))
	err := runner.Run(ctx, func(w *syncuow.Work) error {
		if _, err := w.Tx().Exec(ctx, "UPDATE tb_user SET username = 'stopped-renamed' WHERE id = $1", commenter); err != nil {
			return err
		}
		w.Record(tvsync.Change{Entity: blog.EntityUser, IDs: tvsync.UUIDKeys([]uuid.UUID{commenter}), Cascade: true})
		return nil
	})
	require.ErrorIs(t, err, syncuow.ErrCommittedNotSynced)
	require.Positive(t, queueRows(t, pool), "the changes remain queued, as the error says")

	_, err = must(tvsync.NewWorker(blog.MustNewEngine(pool, tvsync.Config{}), pool, tvsync.WorkerConfig{})).Drain(context.Background())
	require.NoError(t, err)
	requireNoDrift(t, pool)
	assert.Zero(t, queueRows(t, pool))
}

// Issue 18, item 3: a dependent that fails during the after-commit sync
// stays queued, so once the cause is gone a worker syncs it.
func TestAfterCommit_FailingDependentStaysQueued(t *testing.T) {
	ctx := context.Background()
	pool := testdb.New(t)
	author := insertUser(t, pool, "failing-author")
	post := insertPost(t, pool, author, "poison")
	fullSyncAll(t, blog.MustNewEngine(pool, tvsync.Config{}))
	// A constraint on the query side (README: error isolation) that the
	// post's next document breaks.
	_, err := pool.Exec(ctx, `ALTER TABLE tv_post ADD CONSTRAINT no_poison CHECK (data->>'title' <> 'poison') NOT VALID`)
	require.NoError(t, err)

	e := blog.MustNewEngine(pool, tvsync.Config{CascadeGrace: time.Nanosecond})
	runner := must(syncuow.New(pool, e, syncuow.Options{AfterCommitGrace: time.Nanosecond}))
	err = runner.Run(ctx, func(w *syncuow.Work) error {
		if _, err := w.Tx().Exec(ctx, "UPDATE tb_user SET username = 'failing-renamed', full_name = 'x' WHERE id = $1", author); err != nil {
			return err
		}
		w.Record(tvsync.Change{Entity: blog.EntityUser, IDs: tvsync.UUIDKeys([]uuid.UUID{author}), Cascade: true})
		return nil
	})
	require.ErrorIs(t, err, syncuow.ErrCommittedNotSynced)
	var queued []string
	rows, err := pool.Query(ctx, "SELECT entity || ' ' || entity_id FROM tvsync.sync_queue ORDER BY 1")
	require.NoError(t, err)
	queued, err = pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	assert.Equal(t, []string{"post " + post.String()}, queued, "the failing post is queued; the user that synced is not")

	_, err = pool.Exec(ctx, "ALTER TABLE tv_post DROP CONSTRAINT no_poison")
	require.NoError(t, err)
	_, err = pool.Exec(ctx, "UPDATE tvsync.sync_queue SET available_at = now()") // past the failed attempt's backoff
	require.NoError(t, err)
	_, err = must(tvsync.NewWorker(e, pool, tvsync.WorkerConfig{})).Drain(ctx)
	require.NoError(t, err)
	requireNoDrift(t, pool)
	assert.Zero(t, queueRows(t, pool))
}

// lockProbe wraps the comment entity's refresh with a statement, sent in
// the same transaction right after it, that counts the advisory locks the
// transaction holds, and keeps the largest count seen.
type lockProbe struct {
	mu  gosync.Mutex
	max int
}

func (l *lockProbe) entities() []tvsync.Entity {
	ents := blog.Entities()
	for i := range ents {
		if ents[i].Name != blog.EntityComment {
			continue
		}
		refresh := ents[i].Refresh
		ents[i].RefreshWide = nil
		ents[i].Refresh = func(p *tvsync.Pipeline, ids []tvsync.ID) func() (tvsync.RefreshResult, error) {
			read := refresh(p, ids)
			b := &pgx.Batch{}
			b.Queue("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted")
			br := p.SendBatch(context.Background(), b)
			return func() (tvsync.RefreshResult, error) {
				r, err := read()
				if err != nil {
					return r, err
				}
				var n int
				if err := br.QueryRow().Scan(&n); err != nil {
					return r, err
				}
				l.mu.Lock()
				l.max = max(l.max, n)
				l.mu.Unlock()
				return r, nil
			}
		}
	}
	return ents
}

// Issue 18, item 4: a worker syncs a cascade of any size in transactions
// bounded by its batch: the rows a claimed change reaches are queued, not
// locked all at once (which ran out of shared memory at 20,000 comments).
// Inline mode likewise locks at most InlineLimit ids in the write
// transaction and syncs the rest right after its commit.
func TestCascades_SyncInBoundedTransactions(t *testing.T) {
	ctx := context.Background()
	for _, mode := range []syncuow.Timing{syncuow.Deferred, syncuow.Inline} {
		t.Run(mode.String(), func(t *testing.T) {
			pool := testdb.New(t)
			author := insertUser(t, pool, "big-author")
			commenter := insertUser(t, pool, "big-commenter")
			post := insertPost(t, pool, author, "big")
			insertComments(t, pool, post, commenter, 1500)
			probe := &lockProbe{}
			e, err := tvsync.NewEngine(pool, tvsync.Config{BatchSize: 200, InlineLimit: 100, CascadeGrace: time.Nanosecond}, probe.entities()...)
			require.NoError(t, err)
			fullSyncAll(t, e)
			probe.max = 0

			err = must(syncuow.New(pool, e, syncuow.Options{Timing: mode})).Run(ctx, func(w *syncuow.Work) error {
				if _, err := w.Tx().Exec(ctx, "UPDATE tb_user SET username = 'big-renamed' WHERE id = $1", commenter); err != nil {
					return err
				}
				w.Record(tvsync.Change{Entity: blog.EntityUser, IDs: tvsync.UUIDKeys([]uuid.UUID{commenter}), Cascade: true})
				return nil
			})
			require.NoError(t, err)
			if mode == syncuow.Deferred {
				res, err := must(tvsync.NewWorker(e, pool, tvsync.WorkerConfig{BatchSize: 100})).Drain(ctx)
				require.NoError(t, err)
				assert.Equal(t, res.Claimed, res.Synced, "every claimed row synced")
				assert.Zero(t, res.Failed+res.Dead+res.Kept)
			}
			requireNoDrift(t, pool)
			assert.Zero(t, queueRows(t, pool))
			assert.Positive(t, probe.max)
			// BatchSize (200) ids of each entity at most: 200 comments and a
			// post, and shared the rows the comments a sync starts from
			// reference (Cascade.Referenced): their post and their author.
			assert.LessOrEqual(t, probe.max, 203, "no transaction held more advisory locks than a batch and what it references (1,502 ids are affected)")
		})
	}
}

// Issue 18, item 5: queueing never waits for a lock on a queued row of the
// same id (a unit of work or a worker holding it), so enqueue cannot take
// part in a deadlock.
func TestEnqueue_NeverWaitsForAnotherTransaction(t *testing.T) {
	ctx := context.Background()
	pool := testdb.New(t)
	e := blog.MustNewEngine(pool, tvsync.Config{})
	id := uuid.New()
	change := tvsync.Change{Entity: blog.EntityUser, IDs: tvsync.UUIDKeys([]uuid.UUID{id})}
	_, err := e.Enqueue(ctx, pool, time.Hour, false, change)
	require.NoError(t, err)

	holder, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = holder.Rollback(ctx) }()
	_, err = holder.Exec(ctx, "SELECT 1 FROM tvsync.sync_queue FOR UPDATE")
	require.NoError(t, err)

	for _, cascade := range []bool{false, true} {
		tx, err := pool.Begin(ctx)
		require.NoError(t, err)
		_, err = tx.Exec(ctx, "SET LOCAL lock_timeout = '500ms'")
		require.NoError(t, err)
		change.Cascade = cascade
		_, err = e.Enqueue(ctx, tx, 0, true, change)
		require.NoError(t, err, "queueing must not wait for the holder of the queued row")
		require.NoError(t, tx.Commit(ctx))
	}
	assert.Equal(t, 3, queueRows(t, pool))
}

// Issue 18, item 5: units of work on a few hot rows, in every mode that
// queues, never fail inside tvsync's enqueue (a deadlock there failed about
// 12% of them).
func TestUnitsOfWork_HotRowsNeverDeadlockInEnqueue(t *testing.T) {
	ctx := context.Background()
	pool := testdb.New(t)
	e := blog.MustNewEngine(pool, tvsync.Config{})
	var users []uuid.UUID
	for i := range 6 {
		u := insertUser(t, pool, fmt.Sprintf("hot%d", i))
		insertPost(t, pool, u, "hot")
		users = append(users, u)
	}
	fullSyncAll(t, e)
	for _, mode := range []syncuow.Timing{syncuow.AfterCommit, syncuow.Deferred} {
		runner := must(syncuow.New(pool, e, syncuow.Options{Timing: mode}))
		var wg gosync.WaitGroup
		errs := make(chan error, 16*12)
		for g := range 16 {
			wg.Go(func() {
				for k := range 12 {
					a, b := users[(g+k)%6], users[(g+2*k+1)%6]
					err := runner.Run(ctx, func(w *syncuow.Work) error {
						w.Record(tvsync.Change{Entity: blog.EntityUser, IDs: tvsync.UUIDKeys([]uuid.UUID{a})},
							tvsync.Change{Entity: blog.EntityUser, IDs: tvsync.UUIDKeys([]uuid.UUID{b}), Cascade: true},
							tvsync.Change{Entity: blog.EntityPost, IDs: tvsync.UUIDKeys([]uuid.UUID{a, b})})
						return nil
					})
					if err != nil {
						errs <- err
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		var all []error
		for err := range errs {
			all = append(all, err)
		}
		require.Empty(t, all, "%s: %v", mode, errors.Join(all...))
	}
	_, err := must(tvsync.NewWorker(e, pool, tvsync.WorkerConfig{})).Drain(ctx)
	require.NoError(t, err)
	requireNoDrift(t, pool)
}

// A pool of one connection, eight goroutines, every mode, on the chain
// declared one step at a time: inline units whose deeper levels are
// queued for after their commit, after-commit units going on level by
// level, deferred units drained by a worker on the same pool. Nothing
// hangs, nothing fails, nothing drifts.
func TestCascades_PoolOfOneManyGoroutinesEveryMode(t *testing.T) {
	ctx := context.Background()
	base := testdb.New(t)
	cfg := base.Config().Copy()
	cfg.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	defer pool.Close()
	e := newChainEngine(t, pool, tvsync.Config{BatchSize: 5, InlineLimit: 4, CascadeGrace: time.Nanosecond}, true, true)
	var users []uuid.UUID
	for i := range 4 {
		u := insertUser(t, base, fmt.Sprintf("one-conn-%d", i))
		p := insertPost(t, base, u, "p")
		insertComments(t, base, p, users0(users, u), 6)
		users = append(users, u)
	}
	fullSyncAll(t, e)
	modes := []syncuow.Timing{syncuow.AfterCommit, syncuow.Inline, syncuow.Deferred}
	var wg gosync.WaitGroup
	errs := make(chan error, 8*6)
	for g := range 8 {
		wg.Go(func() {
			runner := must(syncuow.New(pool, e, syncuow.Options{Timing: modes[g%3], AfterCommitGrace: time.Nanosecond}))
			for k := range 6 {
				u := users[(g+k)%len(users)]
				err := runner.Run(ctx, func(w *syncuow.Work) error {
					if _, err := w.Tx().Exec(ctx, "UPDATE tb_user SET username = $2 WHERE id = $1", u, fmt.Sprintf("u%d-%d", g, k)); err != nil {
						return err
					}
					w.Record(tvsync.Change{Entity: blog.EntityUser, IDs: tvsync.UUIDKeys([]uuid.UUID{u}), Cascade: true})
					return nil
				})
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	_, err = must(tvsync.NewWorker(e, pool, tvsync.WorkerConfig{})).Drain(ctx)
	require.NoError(t, err)
	requireNoDrift(t, base)
	assert.Zero(t, queueRows(t, base))
}

// users0 is the first user of users, or u when there is none: comments of
// another user than the post's author, so the chain user → comment → post
// crosses documents.
func users0(users []uuid.UUID, u uuid.UUID) uuid.UUID {
	if len(users) > 0 {
		return users[0]
	}
	return u
}
