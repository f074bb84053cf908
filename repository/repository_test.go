package repository_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/blog"
	"github.com/tvsync/tvsync/internal/expect"
	"github.com/tvsync/tvsync/internal/testdb"
	"github.com/tvsync/tvsync/repository"
	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/syncuow"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

type bundle struct {
	pool   *pgxpool.Pool
	engine *tvsync.Engine
	repo   *repository.Repository
}

func setup(t *testing.T, mode syncuow.Timing) bundle {
	t.Helper()
	pool := testdb.New(t)
	engine := blog.MustNewEngine(pool, tvsync.Config{})
	return bundle{pool: pool, engine: engine, repo: repository.New(pool, engine, repository.Options{Sync: mode})}
}

func decode(t *testing.T, raw []byte) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(raw, &m))
	return m
}

// assertNoDrift compares every tv_ row with an independent recomputation in Go.
func assertNoDrift(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	diff, err := expect.Check(context.Background(), pool)
	require.NoError(t, err)
	assert.Empty(t, diff, "tv_ differs from what tb_ implies")
}

func TestUnitOfWork_CreatePostSyncsPostAndAuthor(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, syncuow.AfterCommit)
	var userID, postID uuid.UUID
	require.NoError(t, b.repo.InTx(ctx, func(uow *repository.UnitOfWork) error {
		var err error
		if userID, err = uow.CreateUser(ctx, "ada", "Ada Lovelace"); err != nil {
			return err
		}
		postID, err = uow.CreatePost(ctx, userID, "Notes on the Engine", "…", true)
		return err
	}))

	raw, err := b.repo.GetPost(ctx, postID)
	require.NoError(t, err)
	post := decode(t, raw)
	assert.Equal(t, "Notes on the Engine", post["title"])
	assert.Equal(t, true, post["published"])
	assert.Equal(t, map[string]any{"id": userID.String(), "username": "ada", "fullName": "Ada Lovelace"}, post["author"])
	assert.Equal(t, []any{}, post["comments"])
	assert.NotContains(t, post, "viewCount")

	raw, err = b.repo.GetUser(ctx, userID)
	require.NoError(t, err)
	assert.Equal(t, float64(1), decode(t, raw)["postCount"])

	var queued int
	require.NoError(t, b.pool.QueryRow(ctx, "SELECT count(*) FROM tvsync.sync_queue").Scan(&queued))
	assert.Zero(t, queued, "the after-commit sync removes the rows it queued")
	assertNoDrift(t, b.pool)
}

func TestSync_BatchOfPostsInOneCall(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, syncuow.AfterCommit)
	// Write 50 posts straight to tb_ (no sync), then sync them in one batch.
	var author uuid.UUID
	require.NoError(t, b.pool.QueryRow(ctx, "INSERT INTO tb_user (username) VALUES ('bulk') RETURNING id").Scan(&author))
	rows, err := b.pool.Query(ctx, "INSERT INTO tb_post (author_id, title) SELECT $1, 'post ' || g FROM generate_series(1, 50) g RETURNING id", author)
	require.NoError(t, err)
	var ids []uuid.UUID
	for rows.Next() {
		var id uuid.UUID
		require.NoError(t, rows.Scan(&id))
		ids = append(ids, id)
	}
	require.NoError(t, rows.Err())

	report, err := blog.Syncer{Syncer: b.engine}.SyncPost(ctx, ids, tvsync.ModeIncremental)
	require.NoError(t, err)
	res := report.For(blog.EntityPost)
	assert.Equal(t, 50, res.Requested)
	assert.Equal(t, 50, res.Upserted)
	assert.Zero(t, res.Unchanged)
	var n int
	require.NoError(t, b.pool.QueryRow(ctx, "SELECT count(*) FROM tv_post").Scan(&n))
	assert.Equal(t, 50, n)

	var logged, requested int
	require.NoError(t, b.pool.QueryRow(ctx, "SELECT count(*), sum(requested) FROM tvsync.sync_log WHERE entity = 'post'").Scan(&logged, &requested))
	assert.Equal(t, 1, logged, "one sync_log row per entity batch, not per id")
	assert.Equal(t, 50, requested)
}

func TestUnitOfWork_CommentsEmbeddedNewestFirst(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, syncuow.AfterCommit)
	var postID uuid.UUID
	var commentIDs []uuid.UUID
	require.NoError(t, b.repo.InTx(ctx, func(uow *repository.UnitOfWork) error {
		author, err := uow.CreateUser(ctx, "author", "")
		if err != nil {
			return err
		}
		reader, err := uow.CreateUser(ctx, "reader", "")
		if err != nil {
			return err
		}
		if postID, err = uow.CreatePost(ctx, author, "Nested", "", false); err != nil {
			return err
		}
		for _, text := range []string{"first", "second", "third"} {
			id, err := uow.AddComment(ctx, postID, reader, text)
			if err != nil {
				return err
			}
			commentIDs = append(commentIDs, id)
			// Distinct created_at values: now() is per transaction, so set them apart explicitly.
			if _, err := uow.Tx().Exec(ctx, "UPDATE tb_comment SET created_at = now() + make_interval(secs => $2) WHERE id = $1", id, len(commentIDs)); err != nil {
				return err
			}
		}
		return nil
	}))
	raw, err := b.repo.GetPost(ctx, postID)
	require.NoError(t, err)
	post := decode(t, raw)
	assert.Equal(t, float64(3), post["commentCount"])
	comments := post["comments"].([]any)
	require.Len(t, comments, 3)
	for i, want := range []string{"third", "second", "first"} {
		c := comments[i].(map[string]any)
		assert.Equal(t, want, c["content"])
		assert.Equal(t, "reader", c["author"].(map[string]any)["username"])
	}
	assertNoDrift(t, b.pool)
}

func TestUnitOfWork_ViewCountAndNoOpSyncWriteNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, syncuow.AfterCommit)
	var postID uuid.UUID
	require.NoError(t, b.repo.InTx(ctx, func(uow *repository.UnitOfWork) error {
		author, err := uow.CreateUser(ctx, "viewed", "")
		if err != nil {
			return err
		}
		postID, err = uow.CreatePost(ctx, author, "Popular", "", true)
		return err
	}))
	var before time.Time
	var beforeData []byte
	require.NoError(t, b.pool.QueryRow(ctx, "SELECT updated_at, data FROM tv_post WHERE id = $1", postID).Scan(&before, &beforeData))

	require.NoError(t, b.repo.InTx(ctx, func(uow *repository.UnitOfWork) error {
		assert.Empty(t, uow.Changes())
		err := uow.IncrementViewCount(ctx, postID)
		assert.Empty(t, uow.Changes(), "a view count change records no sync")
		return err
	}))
	report, err := blog.Syncer{Syncer: b.engine}.SyncPost(ctx, []uuid.UUID{postID}, tvsync.ModeIncremental)
	require.NoError(t, err)
	assert.Equal(t, 0, report.For(blog.EntityPost).Upserted)
	assert.Equal(t, 1, report.For(blog.EntityPost).Unchanged)

	var after time.Time
	var afterData []byte
	var views int
	require.NoError(t, b.pool.QueryRow(ctx, "SELECT updated_at, data FROM tv_post WHERE id = $1", postID).Scan(&after, &afterData))
	require.NoError(t, b.pool.QueryRow(ctx, "SELECT view_count FROM tb_post WHERE id = $1", postID).Scan(&views))
	assert.Equal(t, 1, views)
	assert.True(t, before.Equal(after), "updated_at kept: %s vs %s", before, after)
	assert.JSONEq(t, string(beforeData), string(afterData))
}

func TestUnitOfWork_DeleteUserCascades(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, syncuow.AfterCommit)
	var gone, stays, goneOwnPost, staysPost, commentOnGonePost, commentByGone uuid.UUID
	require.NoError(t, b.repo.InTx(ctx, func(uow *repository.UnitOfWork) error {
		var err error
		must := func(id uuid.UUID, e error) uuid.UUID {
			if err == nil {
				err = e
			}
			return id
		}
		gone = must(uow.CreateUser(ctx, "gone", ""))
		stays = must(uow.CreateUser(ctx, "stays", ""))
		goneOwnPost = must(uow.CreatePost(ctx, gone, "by gone", "", true))
		staysPost = must(uow.CreatePost(ctx, stays, "by stays", "", true))
		commentOnGonePost = must(uow.AddComment(ctx, goneOwnPost, stays, "on gone's post"))
		commentByGone = must(uow.AddComment(ctx, staysPost, gone, "by gone"))
		if err == nil {
			err = uow.LikePost(ctx, staysPost, gone)
		}
		return err
	}))
	raw, err := b.repo.GetPost(ctx, staysPost)
	require.NoError(t, err)
	assert.Equal(t, float64(1), decode(t, raw)["likeCount"])

	require.NoError(t, b.repo.InTx(ctx, func(uow *repository.UnitOfWork) error { return uow.DeleteUser(ctx, gone) }))

	for _, probe := range []struct {
		get func(context.Context, uuid.UUID) (json.RawMessage, error)
		id  uuid.UUID
	}{{b.repo.GetUser, gone}, {b.repo.GetPost, goneOwnPost}, {b.repo.GetComment, commentOnGonePost}, {b.repo.GetComment, commentByGone}} {
		_, err := probe.get(ctx, probe.id)
		assert.ErrorIs(t, err, repository.ErrNotFound, "tv_ row of %s should be gone", probe.id)
	}
	raw, err = b.repo.GetPost(ctx, staysPost)
	require.NoError(t, err)
	post := decode(t, raw)
	assert.Equal(t, float64(0), post["commentCount"])
	assert.Equal(t, float64(0), post["likeCount"])
	raw, err = b.repo.GetUser(ctx, stays)
	require.NoError(t, err)
	assert.Equal(t, float64(0), decode(t, raw)["commentCount"], "their comment on the deleted post went with it")
	assertNoDrift(t, b.pool)
}

func TestUnitOfWork_AddCommentSyncsPostUserAndComment(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, syncuow.AfterCommit)
	var author, commenter, postID uuid.UUID
	require.NoError(t, b.repo.InTx(ctx, func(uow *repository.UnitOfWork) error {
		var err error
		if author, err = uow.CreateUser(ctx, "a", ""); err != nil {
			return err
		}
		if commenter, err = uow.CreateUser(ctx, "c", ""); err != nil {
			return err
		}
		postID, err = uow.CreatePost(ctx, author, "Talk", "", true)
		return err
	}))
	var commentID uuid.UUID
	require.NoError(t, b.repo.InTx(ctx, func(uow *repository.UnitOfWork) error {
		var err error
		commentID, err = uow.AddComment(ctx, postID, commenter, "hello")
		return err
	}))
	raw, err := b.repo.GetComment(ctx, commentID)
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"id": postID.String(), "title": "Talk"}, decode(t, raw)["post"])
	raw, err = b.repo.GetPost(ctx, postID)
	require.NoError(t, err)
	assert.Equal(t, float64(1), decode(t, raw)["commentCount"])
	raw, err = b.repo.GetUser(ctx, commenter)
	require.NoError(t, err)
	assert.Equal(t, float64(1), decode(t, raw)["commentCount"])
	assertNoDrift(t, b.pool)
}

func TestFullSync_RebuildsTruncatedView(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, syncuow.AfterCommit)
	require.NoError(t, b.repo.InTx(ctx, func(uow *repository.UnitOfWork) error {
		u, err := uow.CreateUser(ctx, "full", "")
		if err != nil {
			return err
		}
		for i := range 30 {
			if _, err := uow.CreatePost(ctx, u, "p"+string(rune('a'+i)), "", i%2 == 0); err != nil {
				return err
			}
		}
		return nil
	}))
	_, err := b.pool.Exec(ctx, "TRUNCATE tv_post")
	require.NoError(t, err)
	// An orphan that full sync must remove.
	_, err = b.pool.Exec(ctx, `INSERT INTO tv_post (id, data) VALUES (gen_random_uuid(), '{}')`)
	require.NoError(t, err)

	var progress []int
	report, err := b.engine.FullSync(ctx, blog.EntityPost, tvsync.FullOptions{ChunkSize: 7, Workers: 2, Progress: func(done int) { progress = append(progress, done) }})
	require.NoError(t, err)
	res := report.For(blog.EntityPost)
	assert.Equal(t, 30, res.Requested)
	assert.Equal(t, 30, res.Upserted)
	assert.Equal(t, 1, res.Deleted)
	// Chunks of at most 7 ids.
	require.GreaterOrEqual(t, len(progress), 5, "30 ids in chunks of at most 7")
	for i, done := range progress {
		prev := 0
		if i > 0 {
			prev = progress[i-1]
		}
		assert.True(t, done > prev && done-prev <= 7, "progress %v grows by 1 to 7 ids per chunk", progress)
	}
	assert.Equal(t, 30, progress[len(progress)-1])
	assertNoDrift(t, b.pool)
}

func TestSync_UnknownIDsAreCountedNotErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, syncuow.AfterCommit)
	unknown := []uuid.UUID{uuid.New(), uuid.New(), uuid.New()}
	// One of them has a stale tv_ row: sync removes it.
	_, err := b.pool.Exec(ctx, `INSERT INTO tv_post (id, data) VALUES ($1, '{"title":"ghost"}')`, unknown[0])
	require.NoError(t, err)
	report, err := blog.Syncer{Syncer: b.engine}.SyncPost(ctx, append(unknown, unknown[1]), tvsync.ModeIncremental)
	require.NoError(t, err)
	res := report.For(blog.EntityPost)
	assert.Equal(t, 3, res.Requested, "duplicates removed")
	assert.Equal(t, 3, res.Missing)
	assert.Equal(t, 1, res.Deleted)
	assert.Zero(t, res.Upserted)
	assert.Zero(t, res.Failed)
	var n int
	require.NoError(t, b.pool.QueryRow(ctx, "SELECT count(*) FROM tv_post").Scan(&n))
	assert.Zero(t, n)

	// Empty input is a no-op; bad input is a clear error.
	report, err = blog.Syncer{Syncer: b.engine}.SyncPost(ctx, nil, tvsync.ModeIncremental)
	require.NoError(t, err)
	assert.Empty(t, report.Results)
	_, err = b.engine.Sync(ctx, tvsync.ModeIncremental, tvsync.Change{Entity: "postz", IDs: tvsync.UUIDKeys(unknown)})
	assert.ErrorIs(t, err, tvsync.ErrUnknownEntity)
	assert.ErrorContains(t, err, `"postz"`)
	_, err = blog.Syncer{Syncer: b.engine}.SyncPost(ctx, unknown, tvsync.Mode("sometimes"))
	assert.ErrorIs(t, err, tvsync.ErrInvalidMode)
}

func TestSync_IsolatesFailingIDs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, syncuow.AfterCommit)
	var author uuid.UUID
	require.NoError(t, b.pool.QueryRow(ctx, "INSERT INTO tb_user (username) VALUES ('iso') RETURNING id").Scan(&author))
	var ids []uuid.UUID
	for i := range 10 {
		title := "fine"
		if i == 6 {
			title = "poison"
		}
		var id uuid.UUID
		require.NoError(t, b.pool.QueryRow(ctx, "INSERT INTO tb_post (author_id, title) VALUES ($1, $2) RETURNING id", author, title).Scan(&id))
		ids = append(ids, id)
	}
	// A rule on the query side that one document breaks.
	_, err := b.pool.Exec(ctx, `ALTER TABLE tv_post ADD CONSTRAINT no_poison CHECK (data->>'title' <> 'poison')`)
	require.NoError(t, err)

	report, err := blog.Syncer{Syncer: b.engine}.SyncPost(ctx, ids, tvsync.ModeIncremental)
	var failed *tvsync.FailedError
	require.ErrorAs(t, err, &failed)
	assert.ErrorIs(t, err, tvsync.ErrSyncFailed)
	assert.Equal(t, map[string][]tvsync.ID{blog.EntityPost: {tvsync.UUIDKey(ids[6])}}, failed.IDs)
	assert.ErrorContains(t, err, ids[6].String())
	res := report.For(blog.EntityPost)
	assert.Equal(t, 9, res.Upserted)
	assert.Equal(t, 1, res.Failed)
	var n int
	require.NoError(t, b.pool.QueryRow(ctx, "SELECT count(*) FROM tv_post").Scan(&n))
	assert.Equal(t, 9, n)
	var logged int
	require.NoError(t, b.pool.QueryRow(ctx, "SELECT count(*) FROM tvsync.sync_log WHERE failed = 1 AND error LIKE '%no_poison%'").Scan(&logged))
	assert.Equal(t, 1, logged)
}

func TestUnitOfWork_InlineRollbackLeavesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, syncuow.Inline)
	boom := errors.New("boom")
	err := b.repo.InTx(ctx, func(uow *repository.UnitOfWork) error {
		if _, err := uow.CreateUser(ctx, "ghost", ""); err != nil {
			return err
		}
		return boom
	})
	require.ErrorIs(t, err, boom)
	var users, views, queued int
	require.NoError(t, b.pool.QueryRow(ctx, "SELECT (SELECT count(*) FROM tb_user), (SELECT count(*) FROM tv_user), (SELECT count(*) FROM tvsync.sync_queue)").Scan(&users, &views, &queued))
	assert.Zero(t, users+views+queued)

	// Inline success: tv_ visible as soon as InTx returns, nothing queued.
	var id uuid.UUID
	require.NoError(t, b.repo.InTx(ctx, func(uow *repository.UnitOfWork) error {
		var err error
		id, err = uow.CreateUser(ctx, "real", "Real")
		return err
	}))
	raw, err := b.repo.GetUser(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, "Real", decode(t, raw)["fullName"])
}

func TestUnitOfWork_BadInputIsAClearErrorAndChangesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, syncuow.AfterCommit)
	missing := uuid.New()
	err := b.repo.InTx(ctx, func(uow *repository.UnitOfWork) error {
		_, err := uow.CreatePost(ctx, missing, "orphan", "", false)
		return err
	})
	assert.ErrorIs(t, err, repository.ErrNotFound)
	assert.ErrorContains(t, err, missing.String())

	err = b.repo.InTx(ctx, func(uow *repository.UnitOfWork) error { return uow.RenameUser(ctx, missing, "x", "") })
	assert.ErrorIs(t, err, repository.ErrNotFound)

	err = b.repo.InTx(ctx, func(uow *repository.UnitOfWork) error {
		if _, err := uow.CreateUser(ctx, "dup", ""); err != nil {
			return err
		}
		_, err := uow.CreateUser(ctx, "dup", "")
		return err
	})
	assert.ErrorIs(t, err, repository.ErrConflict)

	err = b.repo.InTx(ctx, func(uow *repository.UnitOfWork) error {
		_, err := uow.CreateUser(ctx, "  ", "")
		return err
	})
	assert.ErrorIs(t, err, repository.ErrInvalid)

	var rows int
	require.NoError(t, b.pool.QueryRow(ctx, "SELECT (SELECT count(*) FROM tb_user) + (SELECT count(*) FROM tv_user) + (SELECT count(*) FROM tvsync.sync_queue)").Scan(&rows))
	assert.Zero(t, rows, "failed units of work leave no partial state")
}

// TestUnitOfWork_CommitReusesPooledConnections: queueing rides with COMMIT
// in one round trip, and the connection must still go back to the pool
// (a destroyed connection would mean a reconnect per unit of work).
func TestUnitOfWork_CommitReusesPooledConnections(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, mode := range []syncuow.Timing{syncuow.AfterCommit, syncuow.Deferred, syncuow.Inline} {
		b := setup(t, mode)
		require.NoError(t, b.repo.InTx(ctx, func(uow *repository.UnitOfWork) error {
			_, err := uow.CreateUser(ctx, "warm", "")
			return err
		}))
		before := b.pool.Stat().NewConnsCount()
		for i := range 30 {
			require.NoError(t, b.repo.InTx(ctx, func(uow *repository.UnitOfWork) error {
				_, err := uow.CreateUser(ctx, fmt.Sprintf("u%d", i), "")
				return err
			}))
		}
		assert.LessOrEqual(t, b.pool.Stat().NewConnsCount()-before, int64(1), mode.String())
		var queued int
		require.NoError(t, b.pool.QueryRow(ctx, "SELECT count(*) FROM tvsync.sync_queue").Scan(&queued))
		if mode == syncuow.Deferred {
			assert.Equal(t, 31, queued, "every deferred change is queued")
		} else {
			assert.Zero(t, queued, mode.String())
		}
	}
}
