package sync_test

import (
	"context"
	"log/slog"
	"slices"
	gosync "sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/blog"
	"github.com/tvsync/tvsync/internal/testdb"
	tvsync "github.com/tvsync/tvsync/sync"
)

// observeRecorder is an Observer that keeps every result it is given.
type observeRecorder struct {
	mu      gosync.Mutex
	results []tvsync.EntityResult
}

func (r *observeRecorder) ObserveSync(res tvsync.EntityResult) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.results = append(r.results, res)
}

func (r *observeRecorder) failed() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, res := range r.results {
		n += res.Failed
	}
	return n
}

// recordHandler is a slog.Handler that keeps every record.
type recordHandler struct {
	mu      *gosync.Mutex
	records *[]slog.Record
}

func newRecordHandler() recordHandler {
	return recordHandler{mu: &gosync.Mutex{}, records: &[]slog.Record{}}
}

func (recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h recordHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	*h.records = append(*h.records, r.Clone())
	return nil
}
func (h recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h recordHandler) WithGroup(string) slog.Handler      { return h }

// withMessage returns the records logged with msg.
func (h recordHandler) withMessage(msg string) []slog.Record {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []slog.Record
	for _, r := range *h.records {
		if r.Message == msg {
			out = append(out, r)
		}
	}
	return out
}

func attrsOf(r slog.Record) map[string]slog.Value {
	out := map[string]slog.Value{}
	r.Attrs(func(a slog.Attr) bool {
		out[a.Key] = a.Value
		return true
	})
	return out
}

// observePosts inserts an author and one post per title and returns the
// post ids. A title "poison" is made unsyncable by a CHECK on tv_post.
func observePosts(t *testing.T, pool *pgxpool.Pool, titles ...string) []uuid.UUID {
	t.Helper()
	ctx := context.Background()
	var author uuid.UUID
	require.NoError(t, pool.QueryRow(ctx, "INSERT INTO tb_user (username) VALUES ('observed') RETURNING id").Scan(&author))
	ids := make([]uuid.UUID, len(titles))
	for i, title := range titles {
		require.NoError(t, pool.QueryRow(ctx, "INSERT INTO tb_post (author_id, title) VALUES ($1, $2) RETURNING id", author, title).Scan(&ids[i]))
	}
	_, err := pool.Exec(ctx, `ALTER TABLE tv_post ADD CONSTRAINT no_poison CHECK (data->>'title' <> 'poison')`)
	require.NoError(t, err)
	return ids
}

type syncLogRow struct {
	Entity, Mode                                    string
	Requested, Upserted, Unchanged, Deleted, Failed int
	DurationUs                                      int64
	Error                                           string
	StartedAt                                       time.Time
}

func syncLogRows(t *testing.T, pool *pgxpool.Pool) []syncLogRow {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT entity, mode, requested, upserted, unchanged, deleted, failed, duration_us, error, started_at FROM tvsync.sync_log ORDER BY id`)
	require.NoError(t, err)
	defer rows.Close()
	var out []syncLogRow
	for rows.Next() {
		var r syncLogRow
		require.NoError(t, rows.Scan(&r.Entity, &r.Mode, &r.Requested, &r.Upserted, &r.Unchanged, &r.Deleted, &r.Failed, &r.DurationUs, &r.Error, &r.StartedAt))
		out = append(out, r)
	}
	require.NoError(t, rows.Err())
	return out
}

func TestSyncLog_OneRowPerBatchWithItsCountsAndTheIsolatedFailure(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	engine := blog.MustNewEngine(pool, tvsync.Config{})
	ids := observePosts(t, pool, "first", "second", "poison")
	missing := uuid.New()
	before := time.Now()

	// Four ids, one failing: the two halves are synced apart and the half
	// with the poison is split again, so two batches commit (of 2 and 1 ids)
	// and the poison is logged alone.
	_, err := engine.Sync(ctx, tvsync.ModeIncremental, tvsync.Change{Entity: blog.EntityPost, IDs: tvsync.UUIDKeys(append(slices.Clone(ids), missing))})
	require.ErrorIs(t, err, tvsync.ErrSyncFailed)

	rows := syncLogRows(t, pool)
	require.Len(t, rows, 3)
	var committed []int
	sum := syncLogRow{}
	for _, r := range rows {
		assert.Equal(t, "post", r.Entity)
		assert.Equal(t, "incremental", r.Mode)
		assert.Zero(t, r.Deleted)
		assert.WithinDuration(t, before, r.StartedAt, time.Minute)
		if r.Failed > 0 {
			assert.Equal(t, 1, r.Requested)
			assert.Equal(t, 1, r.Failed)
			assert.Contains(t, r.Error, "no_poison")
			continue
		}
		assert.Empty(t, r.Error)
		assert.GreaterOrEqual(t, r.DurationUs, int64(0))
		committed = append(committed, r.Requested)
		sum.Upserted += r.Upserted
		sum.Unchanged += r.Unchanged
	}
	slices.Sort(committed)
	assert.Equal(t, []int{1, 2}, committed, "ids per committed batch")
	assert.Equal(t, 2, sum.Upserted, "first and second; the missing id is requested but not upserted")
	assert.Zero(t, sum.Unchanged)

	// Again after deleting "second": one batch of 4, one unchanged, one
	// deleted tv_ row, the poison failing again in a batch of its own.
	_, err = pool.Exec(ctx, "DELETE FROM tb_post WHERE id = $1", ids[1])
	require.NoError(t, err)
	_, err = engine.Sync(ctx, tvsync.ModeRepair, tvsync.Change{Entity: blog.EntityPost, IDs: tvsync.UUIDKeys(append(slices.Clone(ids), missing))})
	require.ErrorIs(t, err, tvsync.ErrSyncFailed)
	var batches, requested, upserted, unchanged, deleted, failed int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE failed = 0), sum(requested), sum(upserted), sum(unchanged), sum(deleted), sum(failed)
		FROM tvsync.sync_log WHERE mode = 'repair'`).Scan(&batches, &requested, &upserted, &unchanged, &deleted, &failed))
	assert.Equal(t, []int{2, 4, 0, 1, 1, 1}, []int{batches, requested, upserted, unchanged, deleted, failed})
}

func TestSyncLog_SwitchedOffWritesNoRowButObserversStillSeeTheSync(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		cfg tvsync.Config
		ctx func(context.Context) context.Context
	}{
		"WithoutSyncLog": {ctx: tvsync.WithoutSyncLog},
		"DisableSyncLog": {cfg: tvsync.Config{DisableSyncLog: true}, ctx: func(ctx context.Context) context.Context { return ctx }},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			pool := testdb.New(t)
			rec := &observeRecorder{}
			tc.cfg.Observer = rec
			engine := blog.MustNewEngine(pool, tc.cfg)
			ids := observePosts(t, pool, "kept", "poison")

			report, err := engine.Sync(tc.ctx(context.Background()), tvsync.ModeIncremental, tvsync.Change{Entity: blog.EntityPost, IDs: tvsync.UUIDKeys(ids)})
			require.ErrorIs(t, err, tvsync.ErrSyncFailed)
			assert.Equal(t, 1, report.For(blog.EntityPost).Upserted)
			assert.Equal(t, 1, countOf(t, pool, "SELECT count(*) FROM tv_post"), "the sync itself happened")
			assert.Equal(t, 1, rec.failed(), "the observer saw the isolated failure")
			assert.Empty(t, syncLogRows(t, pool), "neither the committed batch nor the failure is logged")
		})
	}
	// The same sync with sync_log on does write rows: the switch is what
	// made the difference above.
	pool := testdb.New(t)
	ids := observePosts(t, pool, "kept", "poison")
	_, err := blog.MustNewEngine(pool, tvsync.Config{}).Sync(context.Background(), tvsync.ModeIncremental, tvsync.Change{Entity: blog.EntityPost, IDs: tvsync.UUIDKeys(ids)})
	require.ErrorIs(t, err, tvsync.ErrSyncFailed)
	assert.Len(t, syncLogRows(t, pool), 2)
}

func countOf(t *testing.T, pool *pgxpool.Pool, sql string) int {
	t.Helper()
	var n int
	require.NoError(t, pool.QueryRow(context.Background(), sql).Scan(&n))
	return n
}

func TestLog_SlowSyncWarnsWithEntityAndBatchSize(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	var author uuid.UUID
	require.NoError(t, pool.QueryRow(ctx, "INSERT INTO tb_user (username) VALUES ('slow') RETURNING id").Scan(&author))
	var ids []uuid.UUID
	require.NoError(t, pool.QueryRow(ctx, `WITH p AS (INSERT INTO tb_post (author_id, title) SELECT $1, 'p' || g FROM generate_series(1, 3) g RETURNING id) SELECT array_agg(id) FROM p`, author).Scan(&ids))

	h := newRecordHandler()
	engine := blog.MustNewEngine(pool, tvsync.Config{Logger: slog.New(h), SlowThreshold: time.Nanosecond})
	_, err := engine.Sync(ctx, tvsync.ModeIncremental, tvsync.Change{Entity: blog.EntityPost, IDs: tvsync.UUIDKeys(ids)})
	require.NoError(t, err)

	warnings := h.withMessage("tvsync: slow sync")
	require.Len(t, warnings, 1, "one entity batch, one warning")
	w := warnings[0]
	assert.Equal(t, slog.LevelWarn, w.Level)
	attrs := attrsOf(w)
	assert.Equal(t, "post", attrs["entity"].String())
	assert.Equal(t, int64(3), attrs["requested"].Int64())
	assert.Equal(t, int64(3), attrs["upserted"].Int64())
	assert.Equal(t, "incremental", attrs["mode"].String())
	assert.Equal(t, time.Nanosecond, attrs["threshold"].Duration())
	assert.Empty(t, h.withMessage("tvsync: sync done"), "a slow batch is not also logged as done")

	// A negative threshold switches the warning off: the batch is logged at debug.
	quiet := newRecordHandler()
	engine = blog.MustNewEngine(pool, tvsync.Config{Logger: slog.New(quiet), SlowThreshold: -1})
	_, err = engine.Sync(ctx, tvsync.ModeIncremental, tvsync.Change{Entity: blog.EntityPost, IDs: tvsync.UUIDKeys(ids)})
	require.NoError(t, err)
	assert.Empty(t, quiet.withMessage("tvsync: slow sync"))
	done := quiet.withMessage("tvsync: sync done")
	require.Len(t, done, 1)
	assert.Equal(t, slog.LevelDebug, done[0].Level)
	assert.Equal(t, int64(3), attrsOf(done[0])["unchanged"].Int64())
}

func TestLog_FullSyncAndRepairChunksNeverWarnSlow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	var ids []uuid.UUID
	require.NoError(t, pool.QueryRow(ctx, `WITH u AS (INSERT INTO tb_user (username) VALUES ('bulk') RETURNING id),
		p AS (INSERT INTO tb_post (author_id, title) SELECT u.id, 'p' || g FROM u, generate_series(1, 3) g RETURNING id)
		SELECT array_agg(id) FROM p`).Scan(&ids))

	h := newRecordHandler()
	engine := blog.MustNewEngine(pool, tvsync.Config{Logger: slog.New(h), SlowThreshold: time.Nanosecond})
	_, err := engine.FullSync(ctx, blog.EntityPost, tvsync.FullOptions{})
	require.NoError(t, err)
	_, err = engine.Sync(ctx, tvsync.ModeRepair, tvsync.Change{Entity: blog.EntityPost, IDs: tvsync.UUIDKeys(ids)})
	require.NoError(t, err)
	assert.Empty(t, h.withMessage("tvsync: slow sync"), "every batch took over 1ns, none is a write's sync")
	assert.NotEmpty(t, h.withMessage("tvsync: sync done"), "they are logged at debug")

	_, err = engine.Sync(ctx, tvsync.ModeDeferred, tvsync.Change{Entity: blog.EntityPost, IDs: tvsync.UUIDKeys(ids)})
	require.NoError(t, err)
	assert.Len(t, h.withMessage("tvsync: slow sync"), 1, "a deferred batch syncs writes: it warns")
}
