package bench

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tvsync/tvsync/db"
)

// Refresh plans compared by MeasureWideCrossover.
const (
	// PlanLateral is the current PostRefresh: tv_post_source filtered by
	// id, one LATERAL aggregate per post.
	PlanLateral = "current PostRefresh (lateral, per id)"
	// PlanWide is PostWideRefresh.
	PlanWide = "wide PostWideRefresh (GROUP BY, hash join)"
)

// PlanVariants lists the refresh plans in report order.
var PlanVariants = []string{PlanLateral, PlanWide}

// RefreshPlan sends the refresh statement of plan for ids through its
// generated sqlc method on the pool (one statement, implicit transaction),
// and returns how many rows it upserted.
func RefreshPlan(ctx context.Context, pool *pgxpool.Pool, plan string, ids []uuid.UUID) (int, error) {
	q := db.New()
	var upserted int32
	var err error
	if plan == PlanWide {
		q.PostWideRefresh(ctx, pool, [][]uuid.UUID{ids}).QueryRow(func(_ int, r db.PostWideRefreshRow, e error) { upserted, err = r.Upserted, e })
	} else {
		q.PostRefresh(ctx, pool, [][]uuid.UUID{ids}).QueryRow(func(_ int, r db.PostRefreshRow, e error) { upserted, err = r.Upserted, e })
	}
	if err != nil {
		return 0, fmt.Errorf("bench: %s of %d posts: %w", plan, len(ids), err)
	}
	return int(upserted), nil
}

// WideResult is the crossover measurement.
type WideResult struct {
	// Sizes are the batch sizes; 0 stands for "all posts".
	Sizes []int
	// Stats[size][plan].
	Stats map[int]map[string]Stat
	// Loads is the 1-minute load average at the start of each run.
	Loads []Load
}

// MeasureWideCrossover times both refresh plans on the same ids for each
// batch size (0 meaning every post), runs times, interleaved. Before each
// run the ids' tv_post rows are overwritten with '{}' (not timed), so both
// plans rewrite every row; each run must report every id upserted, and the
// first run of each plan is checked against tv_post_source.
func MeasureWideCrossover(ctx context.Context, env *Env, sizes []int, runs int) (WideResult, error) {
	res := WideResult{Sizes: sizes, Stats: map[int]map[string]Stat{}}
	for _, n := range sizes {
		batch := append(slices.Clone(env.PostIDs), hotIDs(env.HotPosts)...)
		if n > 0 {
			batch = sample(env.PostIDs, n, uint64(n)+7)
		}
		times := map[string][]time.Duration{}
		for run := range runs {
			res.Loads = append(res.Loads, LoadAvg())
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
