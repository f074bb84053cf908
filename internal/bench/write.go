package bench

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tvsync/tvsync/blog"
	"github.com/tvsync/tvsync/repository"
	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/syncuow"
)

// Write path variants: how tv_post is kept current when comments are added.
const (
	// WritePlain inserts and commits, with no sync at all (the baseline).
	WritePlain = "plain insert, no sync (baseline)"
	// WriteRowTrigger has an AFTER INSERT FOR EACH ROW trigger upsert
	// tv_post for NEW.post_id from tv_post_source.
	WriteRowTrigger = "row trigger (FOR EACH ROW)"
	// WriteStmtTrigger has an AFTER INSERT FOR EACH STATEMENT trigger with
	// a transition table upsert tv_post once for the distinct post ids.
	WriteStmtTrigger = "statement trigger (transition table)"
	// WriteAfterCommit is a repository unit of work at syncuow.AfterCommit
	// (the default) recording the post ids: explicit batch sync.
	WriteAfterCommit = "tvsync UoW after-commit"
	// WriteInline is the same unit of work at syncuow.Inline.
	WriteInline = "tvsync UoW inline"
	// WriteDeferred is the same unit of work at syncuow.Deferred, timed
	// until its commit returns.
	WriteDeferred = "tvsync UoW deferred (commit)"
	// WriteDeferredDrained is the deferred unit of work timed until a
	// Worker (Drain, run right after the commit) has synced the queue.
	WriteDeferredDrained = "tvsync UoW deferred (until drained)"
	// WriteAddComment is the repository's typed API, uow.AddComment per
	// comment, after commit: it also keeps tv_comment and tv_user current,
	// so it does more than the others (shown for reference).
	WriteAddComment = "tvsync uow.AddComment, after-commit (+tv_comment, tv_user)"
)

// WriteVariants lists the write path variants in report order.
var WriteVariants = []string{WritePlain, WriteRowTrigger, WriteStmtTrigger, WriteAfterCommit, WriteInline,
	WriteDeferred, WriteDeferredDrained, WriteAddComment}

// NewComment is one comment to write.
type NewComment struct {
	PostID, AuthorID uuid.UUID
	Content          string
}

// insertCommentsSQL writes a set of comments in one statement; every
// variant but WriteAddComment uses it, so the writes are identical.
const insertCommentsSQL = `INSERT INTO tb_comment (post_id, author_id, content)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[])
RETURNING id`

// InsertComments writes cs in one statement on conn and returns their ids.
func InsertComments(ctx context.Context, conn interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, cs []NewComment) ([]uuid.UUID, error) {
	posts := make([]uuid.UUID, len(cs))
	authors := make([]uuid.UUID, len(cs))
	texts := make([]string, len(cs))
	for i, c := range cs {
		posts[i], authors[i], texts[i] = c.PostID, c.AuthorID, c.Content
	}
	out, err := ids(ctx, conn, insertCommentsSQL, posts, authors, texts)
	if err != nil {
		return nil, fmt.Errorf("insert %d comments: %w", len(cs), err)
	}
	return out, nil
}

// Trigger kinds for InstallTrigger.
const (
	TriggerRow       = "row"
	TriggerStatement = "statement"
)

// triggerSQL installs the comparison triggers; both upsert with the same
// statement shape as PostRefresh (IS DISTINCT FROM included).
var triggerSQL = map[string]string{
	TriggerRow: `
CREATE FUNCTION bench_tv_post_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tv_post (id, data, updated_at)
    SELECT s.id, s.data, clock_timestamp() FROM tv_post_source s WHERE s.id = NEW.post_id
    ON CONFLICT (id) DO UPDATE SET data = EXCLUDED.data, updated_at = EXCLUDED.updated_at
        WHERE tv_post.data IS DISTINCT FROM EXCLUDED.data;
    RETURN NULL;
END $$;
CREATE TRIGGER bench_tv_post_row AFTER INSERT ON tb_comment
    FOR EACH ROW EXECUTE FUNCTION bench_tv_post_row();`,
	TriggerStatement: `
CREATE FUNCTION bench_tv_post_stmt() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tv_post (id, data, updated_at)
    SELECT s.id, s.data, clock_timestamp() FROM tv_post_source s
    WHERE s.id = ANY(ARRAY(SELECT DISTINCT post_id FROM new_rows))
    ON CONFLICT (id) DO UPDATE SET data = EXCLUDED.data, updated_at = EXCLUDED.updated_at
        WHERE tv_post.data IS DISTINCT FROM EXCLUDED.data;
    RETURN NULL;
END $$;
CREATE TRIGGER bench_tv_post_stmt AFTER INSERT ON tb_comment
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION bench_tv_post_stmt();`,
}

// InstallTrigger creates the row or statement trigger on tb_comment.
func InstallTrigger(ctx context.Context, pool *pgxpool.Pool, kind string) error {
	sql, ok := triggerSQL[kind]
	if !ok {
		return fmt.Errorf("bench: unknown trigger kind %q", kind)
	}
	if _, err := pool.Exec(ctx, sql); err != nil {
		return fmt.Errorf("bench: install %s trigger: %w", kind, err)
	}
	return nil
}

// DropTriggers removes both comparison triggers, if present.
func DropTriggers(ctx context.Context, pool *pgxpool.Pool) error {
	_, err := pool.Exec(ctx, `
DROP TRIGGER IF EXISTS bench_tv_post_row ON tb_comment;
DROP TRIGGER IF EXISTS bench_tv_post_stmt ON tb_comment;
DROP FUNCTION IF EXISTS bench_tv_post_row();
DROP FUNCTION IF EXISTS bench_tv_post_stmt();`)
	if err != nil {
		return fmt.Errorf("bench: drop triggers: %w", err)
	}
	return nil
}

// Writer runs write-path variants on one database.
type Writer struct {
	db     *DB
	repo   *repository.Repository
	worker *tvsync.Worker
}

// NewWriter returns a Writer on d.
func NewWriter(d *DB) (*Writer, error) {
	worker, err := tvsync.NewWorker(d.Engine, d.Pool, tvsync.WorkerConfig{})
	if err != nil {
		return nil, err
	}
	return &Writer{
		db:     d,
		repo:   repository.New(d.Pool, d.Engine, repository.Options{}),
		worker: worker,
	}, nil
}

// WriteTiming is one timed write: until the commit returned, and until
// tv_post was current (the same but for deferred mode).
type WriteTiming struct {
	Commit, Current time.Duration
	// CommentIDs are the comments written.
	CommentIDs []uuid.UUID
}

// Write writes cs in one transaction with variant v and times it. For the
// trigger variants the trigger must be installed (InstallTrigger) first.
// WriteDeferred leaves the changes queued (Undo empties the queue);
// WriteDeferredDrained then drains the queue with a Worker and reports
// both the commit and the drained time.
func (w *Writer) Write(ctx context.Context, v string, cs []NewComment) (WriteTiming, error) {
	var t WriteTiming
	start := time.Now()
	var err error
	switch v {
	case WritePlain, WriteRowTrigger, WriteStmtTrigger:
		err = pgx.BeginFunc(ctx, w.db.Pool, func(tx pgx.Tx) error {
			t.CommentIDs, err = InsertComments(ctx, tx, cs)
			return err
		})
	case WriteAfterCommit, WriteInline, WriteDeferred, WriteDeferredDrained:
		mode := map[string]syncuow.Timing{WriteAfterCommit: syncuow.AfterCommit, WriteInline: syncuow.Inline,
			WriteDeferred: syncuow.Deferred, WriteDeferredDrained: syncuow.Deferred}[v]
		err = w.repo.WithTiming(mode).InTx(ctx, func(uow *repository.UnitOfWork) error {
			var err error
			if t.CommentIDs, err = InsertComments(ctx, uow.Tx(), cs); err != nil {
				return err
			}
			uow.Record(tvsync.Change{Entity: blog.EntityPost, IDs: tvsync.UUIDKeys(postsOf(cs))})
			return nil
		})
	case WriteAddComment:
		err = w.repo.InTx(ctx, func(uow *repository.UnitOfWork) error {
			for _, c := range cs {
				id, err := uow.AddComment(ctx, c.PostID, c.AuthorID, c.Content)
				if err != nil {
					return err
				}
				t.CommentIDs = append(t.CommentIDs, id)
			}
			return nil
		})
	default:
		err = fmt.Errorf("bench: unknown write variant %q", v)
	}
	if err != nil {
		return t, fmt.Errorf("%s: %w", v, err)
	}
	t.Commit = time.Since(start)
	t.Current = t.Commit
	if v == WriteDeferredDrained {
		if _, err := w.worker.Drain(ctx); err != nil {
			return t, fmt.Errorf("%s: drain: %w", v, err)
		}
		t.Current = time.Since(start)
	}
	return t, nil
}

// Undo deletes the comments written and re-syncs what they touched, so the
// next run starts from the same data. Not timed.
func (w *Writer) Undo(ctx context.Context, cs []NewComment, commentIDs []uuid.UUID) error {
	if _, err := w.db.Pool.Exec(ctx, "DELETE FROM tb_comment WHERE id = ANY($1)", commentIDs); err != nil {
		return fmt.Errorf("undo: delete %d comments: %w", len(commentIDs), err)
	}
	authors := make([]uuid.UUID, len(cs))
	for i, c := range cs {
		authors[i] = c.AuthorID
	}
	_, err := w.db.Engine.Sync(tvsync.WithoutSyncLog(ctx), tvsync.ModeRepair,
		tvsync.Change{Entity: blog.EntityComment, IDs: tvsync.UUIDKeys(commentIDs)},
		tvsync.Change{Entity: blog.EntityPost, IDs: tvsync.UUIDKeys(postsOf(cs))},
		tvsync.Change{Entity: blog.EntityUser, IDs: tvsync.UUIDKeys(authors)})
	if err != nil {
		return fmt.Errorf("undo: re-sync: %w", err)
	}
	if _, err := w.db.Pool.Exec(ctx, "DELETE FROM tvsync.sync_queue"); err != nil {
		return fmt.Errorf("undo: empty sync_queue: %w", err)
	}
	return nil
}

// postsOf returns the distinct post ids of cs, sorted.
func postsOf(cs []NewComment) []uuid.UUID {
	seen := map[uuid.UUID]bool{}
	var out []uuid.UUID
	for _, c := range cs {
		if !seen[c.PostID] {
			seen[c.PostID] = true
			out = append(out, c.PostID)
		}
	}
	slices.SortFunc(out, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })
	return out
}

// Comments returns n comments spread round-robin over posts, by authors
// picked round-robin from users.
func Comments(n int, posts, users []uuid.UUID) []NewComment {
	cs := make([]NewComment, n)
	for i := range cs {
		cs[i] = NewComment{PostID: posts[i%len(posts)], AuthorID: users[(i*7)%len(users)], Content: fmt.Sprintf("bench comment %d", i)}
	}
	return cs
}

// WriteResult is the write-path measurement.
type WriteResult struct {
	// BulkComments comments over BulkPosts posts in one transaction.
	BulkComments, BulkPosts int
	// Bulk is the time of one such transaction, per variant.
	Bulk map[string]Stat
	// SingleWrites one-comment transactions per run.
	SingleWrites int
	// Single is, per variant, the mean time of one single-comment
	// transaction in each run.
	Single map[string]Stat
	// RowsChecked says the tv_post rows were verified current after every
	// variant's runs.
	RowsChecked bool
	// Loads is the 1-minute load average at the start of each run.
	Loads []Load
	// Network is the delay added each way (Env.Network), zero for none.
	Network time.Duration
}

// MeasureWritePath times every write variant on the write clone: bulk
// transactions of bulkComments comments over bulkPosts posts, and
// singleWrites one-comment transactions, runs times each, variants
// alternating run by run. Triggers are installed only for their own runs;
// every run is undone (not timed) so all start from the same data. On a
// Networked env every statement crosses its proxy.
func MeasureWritePath(ctx context.Context, env *Env, bulkComments, bulkPosts, singleWrites, runs int) (WriteResult, error) {
	res := WriteResult{BulkComments: bulkComments, BulkPosts: bulkPosts, SingleWrites: singleWrites,
		Bulk: map[string]Stat{}, Single: map[string]Stat{}, Network: env.Network}
	if env.Write == nil {
		return res, errNoWriteDB
	}
	w, err := NewWriter(env.Write)
	if err != nil {
		return res, err
	}
	posts := sample(env.PostIDs, bulkPosts, 100)
	users := sample(env.UserIDs, 1000, 101)
	bulk := Comments(bulkComments, posts, users)
	if err := DropTriggers(ctx, w.db.Pool); err != nil {
		return res, err
	}
	bulkTimes, singleTimes := map[string][]time.Duration{}, map[string][]time.Duration{}
	for run := range runs {
		res.Loads = append(res.Loads, LoadAvg())
		env.log.InfoContext(ctx, "bench: write path", slog.Int("run", run+1), slog.Int("of", runs), slog.Duration("network", env.Network))
		for _, v := range WriteVariants {
			if v == WriteDeferred {
				continue // measured within the WriteDeferredDrained runs
			}
			if err := w.prepare(ctx, v); err != nil {
				return res, err
			}
			t, err := w.Write(ctx, v, bulk)
			if err != nil {
				return res, err
			}
			if err := w.check(ctx, v, posts); err != nil {
				return res, fmt.Errorf("%s (bulk): %w", v, err)
			}
			bulkTimes[v] = append(bulkTimes[v], t.Current)
			if v == WriteDeferredDrained {
				bulkTimes[WriteDeferred] = append(bulkTimes[WriteDeferred], t.Commit)
			}
			if err := w.Undo(ctx, bulk, t.CommentIDs); err != nil {
				return res, err
			}

			var commit, current time.Duration
			var written []uuid.UUID
			singles := Comments(singleWrites, posts, users)
			for _, c := range singles {
				t, err := w.Write(ctx, v, []NewComment{c})
				if err != nil {
					return res, err
				}
				commit += t.Commit
				current += t.Current
				written = append(written, t.CommentIDs...)
			}
			if err := w.check(ctx, v, postsOf(singles)); err != nil {
				return res, fmt.Errorf("%s (single): %w", v, err)
			}
			singleTimes[v] = append(singleTimes[v], current/time.Duration(singleWrites))
			if v == WriteDeferredDrained {
				singleTimes[WriteDeferred] = append(singleTimes[WriteDeferred], commit/time.Duration(singleWrites))
			}
			if err := w.Undo(ctx, singles, written); err != nil {
				return res, err
			}
			if err := DropTriggers(ctx, w.db.Pool); err != nil {
				return res, err
			}
		}
	}
	for v, ds := range bulkTimes {
		res.Bulk[v] = Summarize(ds)
	}
	for v, ds := range singleTimes {
		res.Single[v] = Summarize(ds)
	}
	res.RowsChecked = true
	return res, nil
}

// prepare installs the trigger variant v needs, if any.
func (w *Writer) prepare(ctx context.Context, v string) error {
	switch v {
	case WriteRowTrigger:
		return InstallTrigger(ctx, w.db.Pool, TriggerRow)
	case WriteStmtTrigger:
		return InstallTrigger(ctx, w.db.Pool, TriggerStatement)
	}
	return nil
}

// check verifies that variant v left the tv_post rows of posts current
// (the baseline syncs nothing, so there is nothing to check).
func (w *Writer) check(ctx context.Context, v string, posts []uuid.UUID) error {
	if v == WritePlain {
		return nil
	}
	return CheckPosts(ctx, w.db.Pool, posts)
}
