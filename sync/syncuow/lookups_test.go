package syncuow_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/blog"
	"github.com/tvsync/tvsync/internal/testdb"
	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/syncuow"
)

// Issue 19, documents that age: Work.Schedule queues a re-sync at a due
// time with the unit of work's writes, in every mode; the unit's own
// changes of the same id (recorded before and after, with and without
// cascade) and its own sync never cancel it; it is not taken before it is
// due and is synced once it is; a unit of work that rolls back schedules
// nothing.
func TestWork_ScheduleSurvivesTheUnitsOwnChangesInEveryMode(t *testing.T) {
	t.Parallel()
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			ctx := deadline(t)
			url := testdb.URL(t)
			pool := poolOf(t, url, 2)
			r := must(syncuow.New(pool, blog.MustNewEngine(pool, tvsync.Config{}), syncuow.Options{Timing: mode}))
			var id uuid.UUID
			require.NoError(t, r.Run(ctx, func(w *syncuow.Work) (err error) {
				id, err = createUser(ctx, w, "ada")
				return err
			}))
			drain(t, ctx, url)
			due := time.Now().Add(time.Hour)
			user := tvsync.Change{Entity: blog.EntityUser, IDs: []tvsync.ID{tvsync.UUIDKey(id)}}

			require.NoError(t, r.Run(ctx, func(w *syncuow.Work) error {
				w.Record(user)
				if err := w.Schedule(ctx, due, user); err != nil {
					return err
				}
				return renameUser(ctx, w, id, "ada-renamed") // records user again, with cascade
			}))
			drain(t, ctx, url) // deferred: the worker syncs the unit's changes, not the scheduled row
			assert.Equal(t, "ada-renamed", tvName(t, pool, id), "the unit's own changes were synced")
			all, ready := queued(t, pool, id)
			assert.Equal(t, []int{1, 0}, []int{all, ready}, "one row left, the scheduled one, not due")
			assert.Equal(t, 1, count(t, pool,
				"SELECT count(*) FROM tvsync.sync_queue WHERE scheduled AND entity_id = $1 AND available_at BETWEEN $2::timestamptz - interval '1 minute' AND $2::timestamptz + interval '1 minute'",
				id.String(), due), "scheduled at the due time")

			boom := errors.New("boom")
			require.ErrorIs(t, r.Run(ctx, func(w *syncuow.Work) error {
				if err := w.Schedule(ctx, due, user); err != nil {
					return err
				}
				return boom
			}), boom)
			all, _ = queued(t, pool, id)
			assert.Equal(t, 1, all, "a unit of work that rolled back scheduled nothing")

			// The due time comes: stale without a write, the worker syncs it.
			_, err := pool.Exec(ctx, "UPDATE tb_user SET full_name = 'aged' WHERE id = $1", id)
			require.NoError(t, err)
			_, err = pool.Exec(ctx, "UPDATE tvsync.sync_queue SET available_at = now() WHERE scheduled")
			require.NoError(t, err)
			drain(t, ctx, url)
			all, _ = queued(t, pool, id)
			assert.Zero(t, all)
			assertNoDrift(t, pool)
		})
	}
}

// TestWork_ScheduleAfterRunIsDone: the Work is over once fn returns.
func TestWork_ScheduleAfterRunIsDone(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	pool := poolOf(t, testdb.URL(t), 2)
	r := must(syncuow.New(pool, blog.MustNewEngine(pool, tvsync.Config{}), syncuow.Options{}))
	var kept *syncuow.Work
	require.NoError(t, r.Run(ctx, func(w *syncuow.Work) error { kept = w; return nil }))
	err := kept.Schedule(ctx, time.Now(), tvsync.Change{Entity: blog.EntityUser, IDs: []tvsync.ID{tvsync.UUIDKey(uuid.New())}})
	require.ErrorIs(t, err, syncuow.ErrDone)
	assert.Zero(t, count(t, pool, "SELECT count(*) FROM tvsync.sync_queue"))
}

// TestWork_RecordBeforeDeleteFindsWhatTheDeleteTakes: deleting a user
// deletes their posts and the comments on them (ON DELETE CASCADE, here
// their own: a comment of another user would leave that user's
// commentCount, a back-edge the blog declares no cascade for);
// RecordBeforeDelete finds them from the registered cascades alone, before
// the rows are gone, and the sync removes every stale document.
func TestWork_RecordBeforeDeleteFindsWhatTheDeleteTakes(t *testing.T) {
	t.Parallel()
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			ctx := deadline(t)
			url := testdb.URL(t)
			pool := poolOf(t, url, 2)
			r := must(syncuow.New(pool, blog.MustNewEngine(pool, tvsync.Config{}), syncuow.Options{Timing: mode}))
			var author, post, comment uuid.UUID
			require.NoError(t, r.Run(ctx, func(w *syncuow.Work) (err error) {
				if author, err = createUser(ctx, w, "author"); err != nil {
					return err
				}
				if err = w.Tx().QueryRow(ctx, "INSERT INTO tb_post (author_id, title) VALUES ($1, 'p') RETURNING id", author).Scan(&post); err != nil {
					return err
				}
				if err = w.Tx().QueryRow(ctx, "INSERT INTO tb_comment (post_id, author_id, content) VALUES ($1, $2, 'c') RETURNING id", post, author).Scan(&comment); err != nil {
					return err
				}
				w.Record(tvsync.Change{Entity: blog.EntityPost, IDs: []tvsync.ID{tvsync.UUIDKey(post)}},
					tvsync.Change{Entity: blog.EntityComment, IDs: []tvsync.ID{tvsync.UUIDKey(comment)}})
				return nil
			}))
			drain(t, ctx, url)
			require.Equal(t, 1, count(t, pool, "SELECT count(*) FROM tv_comment WHERE id = $1", comment))

			require.NoError(t, r.Run(ctx, func(w *syncuow.Work) error {
				if _, err := w.Tx().Exec(ctx, "SELECT 1 FROM tb_user WHERE id = $1 FOR UPDATE", author); err != nil {
					return err
				}
				if err := w.RecordBeforeDelete(ctx, tvsync.Change{Entity: blog.EntityUser, IDs: []tvsync.ID{tvsync.UUIDKey(author)}}); err != nil {
					return err
				}
				assert.ElementsMatch(t, []tvsync.Change{
					{Entity: blog.EntityComment, IDs: []tvsync.ID{tvsync.UUIDKey(comment)}},
					{Entity: blog.EntityPost, IDs: []tvsync.ID{tvsync.UUIDKey(post)}},
					{Entity: blog.EntityUser, IDs: []tvsync.ID{tvsync.UUIDKey(author)}},
				}, w.Changes(), "the user, their post and the comment on it, looked up while they exist")
				_, err := w.Tx().Exec(ctx, "DELETE FROM tb_user WHERE id = $1", author)
				return err
			}))
			drain(t, ctx, url)
			assert.Zero(t, count(t, pool, "SELECT count(*) FROM tv_comment WHERE id = $1", comment))
			assert.Zero(t, count(t, pool, "SELECT count(*) FROM tv_post WHERE id = $1", post))
			assert.Empty(t, tvName(t, pool, author))
			assertNoDrift(t, pool)
		})
	}
}

// commentPost is a cascade of the kind tvsync gen writes for a table
// without a document (tables: in tvsync.yaml), here over tb_comment: the
// posts the comments of the given ids are on.
func commentPost(ctx context.Context) tvsync.Cascade {
	return tvsync.Cascade{Entity: blog.EntityPost, Lookup: func(p *tvsync.Pipeline, ids []tvsync.ID) func() ([]tvsync.ID, error) {
		keys := make([]uuid.UUID, len(ids))
		for i, id := range ids {
			keys[i] = id.UUID()
		}
		b := &pgx.Batch{}
		b.Queue("SELECT DISTINCT post_id FROM tb_comment WHERE id = ANY($1)", keys)
		br := p.SendBatch(ctx, b)
		return func() ([]tvsync.ID, error) {
			rows, err := br.Query()
			if err != nil {
				return nil, err
			}
			got, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
			return tvsync.UUIDKeys(got), err
		}
	}}
}

// TestWork_RecordCascadesRecordsTheDocumentsThatEmbedTheRows: the look-ups
// run on the unit's transaction (they see its uncommitted rows) and record
// the documents they find, without cascade; a failing look-up records
// nothing and says which.
func TestWork_RecordCascadesRecordsTheDocumentsThatEmbedTheRows(t *testing.T) {
	t.Parallel()
	ctx := deadline(t)
	url := testdb.URL(t)
	pool := poolOf(t, url, 2)
	r := must(syncuow.New(pool, blog.MustNewEngine(pool, tvsync.Config{}), syncuow.Options{}))
	var post, comment uuid.UUID
	require.NoError(t, r.Run(ctx, func(w *syncuow.Work) (err error) {
		author, err := createUser(ctx, w, "author")
		if err != nil {
			return err
		}
		if err = w.Tx().QueryRow(ctx, "INSERT INTO tb_post (author_id, title) VALUES ($1, 'p') RETURNING id", author).Scan(&post); err != nil {
			return err
		}
		if err = w.Tx().QueryRow(ctx, "INSERT INTO tb_comment (post_id, author_id, content) VALUES ($1, $2, 'c') RETURNING id", post, author).Scan(&comment); err != nil {
			return err
		}
		require.NoError(t, w.RecordCascades(ctx, nil, tvsync.UUIDKey(comment)), "no cascades: nothing to do")
		require.NoError(t, w.RecordCascades(ctx, []tvsync.Cascade{commentPost(ctx)}), "no ids: nothing to do")
		require.NoError(t, w.RecordCascades(ctx, []tvsync.Cascade{commentPost(ctx)}, tvsync.UUIDKey(comment), tvsync.UUIDKey(uuid.New())))
		assert.Contains(t, w.Changes(), tvsync.Change{Entity: blog.EntityPost, IDs: []tvsync.ID{tvsync.UUIDKey(post)}})

		broken := tvsync.Cascade{Entity: blog.EntityPost, Lookup: func(p *tvsync.Pipeline, ids []tvsync.ID) func() ([]tvsync.ID, error) {
			b := &pgx.Batch{}
			b.Queue("SELECT post_id FROM tb_no_such_table")
			br := p.SendBatch(ctx, b)
			return func() ([]tvsync.ID, error) { _, err := br.Query(); return nil, err }
		}}
		// A nested unit of work, so that the failing look-up aborts its
		// savepoint only; it records nothing into this one.
		before := w.Changes()
		err = must(syncuow.New(w.Tx(), blog.MustNewEngine(pool, tvsync.Config{}), syncuow.Options{})).Run(ctx, func(iw *syncuow.Work) error {
			iw.Record(tvsync.Change{Entity: blog.EntityPost, IDs: []tvsync.ID{tvsync.UUIDKey(uuid.New())}})
			return iw.RecordCascades(ctx, []tvsync.Cascade{broken}, tvsync.UUIDKey(comment))
		})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "look up the post documents")
		assert.Equal(t, before, w.Changes())
		return nil
	}))
	assert.Equal(t, 1, count(t, pool, "SELECT count(*) FROM tv_post WHERE id = $1", post), "the post the comment is on was synced")
	assertNoDrift(t, pool)
}
