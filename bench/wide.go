package bench

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PostRefreshWideSQL is a candidate "wide" plan of PostRefresh for large
// batches: the same documents as tv_post_source, but with the comments and
// likes of all the batch's posts pre-aggregated set-based (GROUP BY post_id
// over post_id = ANY(@ids), which PostgreSQL can run as one scan and a hash
// aggregate) and then joined, instead of one LATERAL lookup per post. The
// upsert and the result row are the same as PostRefresh's.
const PostRefreshWideSQL = `WITH c AS (
    SELECT cm.post_id,
           count(*) AS comment_count,
           jsonb_agg(jsonb_build_object(
               'id', cm.id,
               'content', cm.content,
               'createdAt', tvsync_ts(cm.created_at),
               'author', jsonb_build_object('id', cu.id, 'username', cu.username)
           ) ORDER BY cm.created_at DESC, cm.id DESC) AS comments
    FROM tb_comment cm
    JOIN tb_user cu ON cu.id = cm.author_id
    WHERE cm.post_id = ANY($1::uuid[])
    GROUP BY cm.post_id
),
l AS (
    SELECT pl.post_id, count(*) AS like_count
    FROM tb_post_like pl
    WHERE pl.post_id = ANY($1::uuid[])
    GROUP BY pl.post_id
),
src AS (
    SELECT p.id,
           jsonb_build_object(
               'id', p.id,
               'title', p.title,
               'content', p.content,
               'published', p.published,
               'createdAt', tvsync_ts(p.created_at),
               'author', jsonb_build_object('id', u.id, 'username', u.username, 'fullName', u.full_name),
               'commentCount', coalesce(c.comment_count, 0),
               'likeCount', coalesce(l.like_count, 0),
               'comments', coalesce(c.comments, '[]'::jsonb)
           ) AS data
    FROM tb_post p
    JOIN tb_user u ON u.id = p.author_id
    LEFT JOIN c ON c.post_id = p.id
    LEFT JOIN l ON l.post_id = p.id
    WHERE p.id = ANY($1::uuid[])
),
upserted AS (
    INSERT INTO tv_post (id, data, updated_at)
    SELECT src.id, src.data, clock_timestamp() FROM src
    ON CONFLICT (id) DO UPDATE
        SET data = EXCLUDED.data, updated_at = EXCLUDED.updated_at
        WHERE tv_post.data IS DISTINCT FROM EXCLUDED.data
    RETURNING tv_post.id
)
SELECT (SELECT count(*) FROM src)::int      AS found,
       (SELECT count(*) FROM upserted)::int AS upserted,
       clock_timestamp()::timestamptz       AS finished_at`

// PostRefreshRangeSQL is the candidate statement for full-sync chunks: the
// wide plan with the batch given as a keyset range, id in ($1, $2], instead
// of an id array. The range lets PostgreSQL read tb_comment and
// tb_post_like through their post_id indexes as one contiguous range scan.
var PostRefreshRangeSQL = strings.NewReplacer(
	"cm.post_id = ANY($1::uuid[])", "cm.post_id > $1::uuid AND cm.post_id <= $2::uuid",
	"pl.post_id = ANY($1::uuid[])", "pl.post_id > $1::uuid AND pl.post_id <= $2::uuid",
	"p.id = ANY($1::uuid[])", "p.id > $1::uuid AND p.id <= $2::uuid",
).Replace(PostRefreshWideSQL)

// postDeleteRangeSQL removes the tv_post rows of a keyset range whose post is gone.
const postDeleteRangeSQL = `DELETE FROM tv_post t
WHERE t.id > $1::uuid AND ($2::uuid IS NULL OR t.id <= $2::uuid)
  AND NOT EXISTS (SELECT 1 FROM tb_post p WHERE p.id = t.id)`

// Refresh plans compared by MeasureWideCrossover.
const (
	// PlanLateral is the current PostRefresh: tv_post_source filtered by
	// id, one LATERAL aggregate per post.
	PlanLateral = "current PostRefresh (lateral, per id)"
	// PlanWide is PostRefreshWideSQL.
	PlanWide = "candidate wide (GROUP BY, hash join)"
)

// PlanVariants lists the refresh plans in report order.
var PlanVariants = []string{PlanLateral, PlanWide}

// RefreshPlan sends the refresh statement of plan for ids through raw pgx,
// in autocommit, and returns how many rows it upserted.
func RefreshPlan(ctx context.Context, pool *pgxpool.Pool, plan string, ids []uuid.UUID) (int, error) {
	sql := PostRefreshSQL
	if plan == PlanWide {
		sql = PostRefreshWideSQL
	}
	var found, upserted int
	var at time.Time
	if err := pool.QueryRow(ctx, sql, ids).Scan(&found, &upserted, &at); err != nil {
		return 0, fmt.Errorf("bench: %s of %d posts: %w", plan, len(ids), err)
	}
	return upserted, nil
}

// WideResult is the crossover measurement.
type WideResult struct {
	// Sizes are the batch sizes; 0 stands for "all posts".
	Sizes []int
	// Stats[size][plan].
	Stats map[int]map[string]Stat
}

// MeasureWideCrossover times both refresh plans on the same ids for each
// batch size (0 meaning every post), runs times, interleaved. Before each
// run the ids' tv_post rows are overwritten with '{}' (not timed), so both
// plans rewrite every row; each run must report every id upserted, and the
// first run of each plan is checked against tv_post_source.
func MeasureWideCrossover(ctx context.Context, env *Env, sizes []int, runs int) (WideResult, error) {
	res := WideResult{Sizes: sizes, Stats: map[int]map[string]Stat{}}
	for _, n := range sizes {
		batch := env.PostIDs
		if n > 0 {
			batch = sample(env.PostIDs, n, uint64(n)+7)
		}
		times := map[string][]time.Duration{}
		for run := range runs {
			for _, plan := range PlanVariants {
				if err := StalePosts(ctx, env.Pool, batch); err != nil {
					return res, err
				}
				start := time.Now()
				up, err := RefreshPlan(ctx, env.Pool, plan, batch)
				if err != nil {
					return res, err
				}
				times[plan] = append(times[plan], time.Since(start))
				if up != len(batch) {
					return res, fmt.Errorf("bench: %s upserted %d of %d posts", plan, up, len(batch))
				}
				if run == 0 {
					if err := CheckPosts(ctx, env.Pool, batch); err != nil {
						return res, fmt.Errorf("bench: %s: %w", plan, err)
					}
				}
			}
		}
		res.Stats[n] = map[string]Stat{}
		for plan, ds := range times {
			res.Stats[n][plan] = Summarize(ds)
		}
		env.log.InfoContext(ctx, "bench: refresh plans", slog.Int("ids", len(batch)),
			slog.Duration("lateral", res.Stats[n][PlanLateral].Median), slog.Duration("wide", res.Stats[n][PlanWide].Median))
	}
	return res, nil
}
