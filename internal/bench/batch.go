package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tvsync/tvsync/blog"
	tvsync "github.com/tvsync/tvsync/sync"
)

// PostRefreshSQL is the exact text of the PostRefresh statement that sqlc
// generates into db/ from queries/post.sql (a test keeps the two equal): the
// statement the engine sends for a batch of post ids.
const PostRefreshSQL = `-- name: PostRefresh :batchone
WITH src AS (
    SELECT s.id, s.data
    FROM (SELECT DISTINCT unnest($1::uuid[]) AS id) b
    CROSS JOIN LATERAL (SELECT v.id, v.data FROM tv_post_source v WHERE v.id = b.id OFFSET 0) s
),
upserted AS (
    INSERT INTO tv_post (id, data, updated_at)
    SELECT src.id, src.data, clock_timestamp() FROM src
    ON CONFLICT (id) DO UPDATE
        SET data = EXCLUDED.data, updated_at = EXCLUDED.updated_at
        WHERE tv_post.data IS DISTINCT FROM EXCLUDED.data
    RETURNING tv_post.id, tv_post.data
)
SELECT (SELECT count(*) FROM src)::int      AS found,
       (SELECT count(*) FROM upserted)::int AS upserted,
       (SELECT coalesce(jsonb_agg(jsonb_build_array(u.id::text,
                CASE WHEN jsonb_typeof(o.data) = 'object' AND jsonb_typeof(u.data) = 'object' THEN
                    (SELECT coalesce(jsonb_agg(k.key ORDER BY k.key), '[]'::jsonb)
                     FROM (SELECT jsonb_object_keys(u.data) UNION SELECT jsonb_object_keys(o.data)) AS k(key)
                     WHERE u.data -> k.key IS DISTINCT FROM o.data -> k.key)
                END)), '[]'::jsonb)
        FROM upserted u
        LEFT JOIN LATERAL (SELECT t.data FROM tv_post t WHERE t.id = u.id OFFSET 0) o ON true)::jsonb AS changed,
       clock_timestamp()::timestamptz       AS finished_at
`

// Batch sync variants.
const (
	// BatchEngine is tvsync's public API: engine.Sync(ctx, ModeIncremental,
	// Change{Entity: "post", IDs: ids, Cascade: false}) — one pipelined
	// transaction with the advisory locks, PostRefresh, PostDeleteMissing
	// and the sync_log row.
	BatchEngine = "tvsync engine.Sync"
	// BatchRawPgx is the PostRefresh statement text sent by pool.Exec with
	// the id array, autocommit: no locks, no delete, no sync_log.
	BatchRawPgx = "raw pgx Exec(PostRefresh)"
	// BatchPerRow is the seed's per-row loop: per id, fetch the post and its
	// author, fetch its comments, build the JSON in Go, upsert.
	BatchPerRow = "per-row loop (seed)"
)

// BatchVariants lists the batch sync variants in report order.
var BatchVariants = []string{BatchEngine, BatchRawPgx, BatchPerRow}

// SyncBatchEngine syncs the tv_post rows of ids through tvsync's public
// API, without cascades.
func SyncBatchEngine(ctx context.Context, engine *tvsync.Engine, ids []uuid.UUID) error {
	_, err := engine.Sync(ctx, tvsync.ModeIncremental, tvsync.Change{Entity: blog.EntityPost, IDs: tvsync.UUIDKeys(ids)})
	if err != nil {
		return fmt.Errorf("engine sync of %d posts: %w", len(ids), err)
	}
	return nil
}

// SyncBatchRaw sends the PostRefresh statement for ids through raw pgx, in
// autocommit.
func SyncBatchRaw(ctx context.Context, pool *pgxpool.Pool, ids []uuid.UUID) error {
	if _, err := pool.Exec(ctx, PostRefreshSQL, ids); err != nil {
		return fmt.Errorf("raw PostRefresh of %d posts: %w", len(ids), err)
	}
	return nil
}

// The per-row loop's statements, as in the seed: the post joined with its
// author (and its like count, so the document is the same as tvsync's), its
// comments newest first, and an unconditional upsert.
const (
	perRowPostSQL = `SELECT p.id, p.title, p.content, p.published, p.created_at,
       u.id, u.username, u.full_name,
       (SELECT count(*) FROM tb_post_like pl WHERE pl.post_id = p.id)
FROM tb_post p JOIN tb_user u ON u.id = p.author_id
WHERE p.id = $1`
	perRowCommentsSQL = `SELECT c.id, c.content, c.created_at, u.id, u.username
FROM tb_comment c JOIN tb_user u ON u.id = c.author_id
WHERE c.post_id = $1
ORDER BY c.created_at DESC, c.id DESC`
	perRowUpsertSQL = `INSERT INTO tv_post (id, data, updated_at)
VALUES ($1, $2, now())
ON CONFLICT (id) DO UPDATE SET data = EXCLUDED.data, updated_at = EXCLUDED.updated_at`
)

// PostDoc is the tv_post document as the per-row loop builds it in Go.
type PostDoc struct {
	ID           uuid.UUID    `json:"id"`
	Title        string       `json:"title"`
	Content      string       `json:"content"`
	Published    bool         `json:"published"`
	CreatedAt    string       `json:"createdAt"`
	Author       PostAuthor   `json:"author"`
	CommentCount int          `json:"commentCount"`
	LikeCount    int64        `json:"likeCount"`
	Comments     []CommentDoc `json:"comments"`
}

// PostAuthor is a post's embedded author.
type PostAuthor struct {
	ID       uuid.UUID `json:"id"`
	Username string    `json:"username"`
	FullName string    `json:"fullName"`
}

// CommentDoc is a comment embedded in a tv_post document.
type CommentDoc struct {
	ID        uuid.UUID `json:"id"`
	Content   string    `json:"content"`
	CreatedAt string    `json:"createdAt"`
	Author    struct {
		ID       uuid.UUID `json:"id"`
		Username string    `json:"username"`
	} `json:"author"`
}

// tsFormat is tvsync_ts's format: UTC with microseconds.
const tsFormat = "2006-01-02T15:04:05.000000Z"

// SyncBatchPerRow is the seed's per-row loop with pgx on one connection, in
// autocommit: three statements and a JSON encoding per id.
func SyncBatchPerRow(ctx context.Context, pool *pgxpool.Pool, ids []uuid.UUID) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("per-row loop: acquire: %w", err)
	}
	defer conn.Release()
	for _, id := range ids {
		var doc PostDoc
		var created time.Time
		err := conn.QueryRow(ctx, perRowPostSQL, id).Scan(&doc.ID, &doc.Title, &doc.Content, &doc.Published, &created,
			&doc.Author.ID, &doc.Author.Username, &doc.Author.FullName, &doc.LikeCount)
		if err != nil {
			return fmt.Errorf("per-row loop: fetch post %s: %w", id, err)
		}
		doc.CreatedAt = created.UTC().Format(tsFormat)
		rows, err := conn.Query(ctx, perRowCommentsSQL, id)
		if err != nil {
			return fmt.Errorf("per-row loop: fetch comments of post %s: %w", id, err)
		}
		doc.Comments = []CommentDoc{}
		for rows.Next() {
			var c CommentDoc
			if err := rows.Scan(&c.ID, &c.Content, &created, &c.Author.ID, &c.Author.Username); err != nil {
				rows.Close()
				return fmt.Errorf("per-row loop: read comments of post %s: %w", id, err)
			}
			c.CreatedAt = created.UTC().Format(tsFormat)
			doc.Comments = append(doc.Comments, c)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("per-row loop: read comments of post %s: %w", id, err)
		}
		doc.CommentCount = len(doc.Comments)
		data, err := json.Marshal(doc)
		if err != nil {
			return fmt.Errorf("per-row loop: encode post %s: %w", id, err)
		}
		if _, err := conn.Exec(ctx, perRowUpsertSQL, id, data); err != nil {
			return fmt.Errorf("per-row loop: upsert post %s: %w", id, err)
		}
	}
	return nil
}

// StalePosts overwrites the tv_post documents of ids with '{}', so that
// the next sync of ids really rewrites every row. The benchmarks call it
// before every timed run, outside the timing.
func StalePosts(ctx context.Context, pool *pgxpool.Pool, ids []uuid.UUID) error {
	if _, err := pool.Exec(ctx, "UPDATE tv_post SET data = '{}' WHERE id = ANY($1)", ids); err != nil {
		return fmt.Errorf("mark %d tv_post rows stale: %w", len(ids), err)
	}
	return nil
}

// CheckPosts fails unless the tv_post rows of ids all exist and equal
// their definition (view tv_post_source): proof that a sync did its work.
func CheckPosts(ctx context.Context, pool *pgxpool.Pool, ids []uuid.UUID) error {
	var n, bad int
	err := pool.QueryRow(ctx, `
		SELECT count(*), count(*) FILTER (WHERE t.data IS DISTINCT FROM s.data)
		FROM tv_post_source s LEFT JOIN tv_post t ON t.id = s.id
		WHERE s.id = ANY($1)`, ids).Scan(&n, &bad)
	if err != nil {
		return fmt.Errorf("check %d tv_post rows: %w", len(ids), err)
	}
	if n != len(ids) || bad != 0 {
		return fmt.Errorf("check tv_post: %d of %d ids found, %d stale or missing", n, len(ids), bad)
	}
	return nil
}

// BatchResult is the batch sync measurement: per batch size, per variant.
type BatchResult struct {
	Sizes []int
	// Stats[size][variant], the runs in order (variants alternate run by
	// run, so RatioOf compares them run by run).
	Stats map[int]map[string]Stat
	// Loads[size] is the 1-minute load average at the start of each run.
	Loads map[int][]Load
	// Network is the delay added each way (Env.Network); RTT the median
	// round trip of `SELECT 1` on the pool the variants used.
	Network, RTT time.Duration
}

// MeasureBatchSync times each batch variant on the same ids for every size
// in sizes, runs times, alternating the variants run by run. Before each run
// the ids' tv_post rows are overwritten with '{}' (not timed) so every run
// rewrites them all; after each run they are checked against tv_post_source
// (not timed). On a Networked env every statement crosses its proxy.
func MeasureBatchSync(ctx context.Context, env *Env, sizes []int, runs int) (BatchResult, error) {
	res := BatchResult{Sizes: sizes, Stats: map[int]map[string]Stat{}, Loads: map[int][]Load{}, Network: env.Network}
	var err error
	if res.RTT, err = MeasureRTT(ctx, env.Pool, 50); err != nil {
		return res, err
	}
	for _, n := range sizes {
		batch := sample(env.PostIDs, n, uint64(n))
		times := map[string][]time.Duration{}
		for range runs {
			res.Loads[n] = append(res.Loads[n], LoadAvg())
			for _, v := range BatchVariants {
				d, err := timeBatch(ctx, env, v, batch)
				if err != nil {
					return res, err
				}
				times[v] = append(times[v], d)
			}
		}
		res.Stats[n] = map[string]Stat{}
		for v, ds := range times {
			res.Stats[n][v] = Summarize(ds)
		}
		env.log.InfoContext(ctx, "bench: batch sync", slog.Int("ids", n), slog.Duration("network", env.Network),
			slog.Duration("engine", res.Stats[n][BatchEngine].Median), slog.Duration("raw", res.Stats[n][BatchRawPgx].Median),
			slog.Duration("per_row", res.Stats[n][BatchPerRow].Median))
	}
	return res, nil
}

// timeBatch stales ids, times one run of variant v, and checks the result.
func timeBatch(ctx context.Context, env *Env, v string, ids []uuid.UUID) (time.Duration, error) {
	if err := StalePosts(ctx, env.Pool, ids); err != nil {
		return 0, err
	}
	start := time.Now()
	var err error
	switch v {
	case BatchEngine:
		err = SyncBatchEngine(ctx, env.Engine, ids)
	case BatchRawPgx:
		err = SyncBatchRaw(ctx, env.Pool, ids)
	case BatchPerRow:
		err = SyncBatchPerRow(ctx, env.Pool, ids)
	default:
		err = fmt.Errorf("bench: unknown batch variant %q", v)
	}
	d := time.Since(start)
	if err != nil {
		return 0, err
	}
	if err := CheckPosts(ctx, env.Pool, ids); err != nil {
		return 0, fmt.Errorf("%s: %w", v, err)
	}
	return d, nil
}

// MeasureRTT returns the median round trip of n `SELECT 1` on one
// connection of pool.
func MeasureRTT(ctx context.Context, pool *pgxpool.Pool, n int) (time.Duration, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("bench: round trip: acquire: %w", err)
	}
	defer conn.Release()
	ds := make([]time.Duration, n)
	for i := range ds {
		start := time.Now()
		if _, err := conn.Exec(ctx, "SELECT 1"); err != nil {
			return 0, fmt.Errorf("bench: round trip: %w", err)
		}
		ds[i] = time.Since(start)
	}
	return Summarize(ds).Median, nil
}
