package bench

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/tvsync/tvsync/blog"
	tvsync "github.com/tvsync/tvsync/sync"
)

// ScalePoint is the full sync of tv_post measured on one data set.
type ScalePoint struct {
	// Scale is the data set; Posts the rows of tb_post.
	Scale Scale
	Posts int
	// Times are the wall times of the full syncs from empty, runs in order.
	Times Stat
	// RSS are their peak resident set sizes in bytes, runs in order (none
	// when the syncs ran in-process).
	RSS []int64
	// Template is the template database the data set was cloned from.
	Template TemplateInfo
}

// PerRow returns the time per post of each run, in run order.
func (p ScalePoint) PerRow() []float64 {
	out := make([]float64, len(p.Times.All))
	for i, d := range p.Times.All {
		out[i] = float64(d) / float64(max(p.Posts, 1))
	}
	return out
}

// PeakRSS is the largest RSS of the runs, zero when not measured.
func (p ScalePoint) PeakRSS() int64 {
	var m int64
	for _, r := range p.RSS {
		m = max(m, r)
	}
	return m
}

// ScaleResult is the scale table: full sync time per row and peak memory
// on two data sets of different size, measured alternately in one sitting.
type ScaleResult struct {
	// Points, smallest data set first.
	Points []ScalePoint
	// Loads is the 1-minute load average at the start of each run.
	Loads []Load
	// Child says each sync ran as `tvsync sync --entity post --all` in a
	// child process (so RSS was measured); else in-process, with Note
	// saying why.
	Child bool
	Note  string
}

// PerRowRatio is the largest data set's time per row over the smallest's,
// run by run: flat cost gives 1.
func (r ScaleResult) PerRowRatio() RatioStat {
	if len(r.Points) < 2 {
		return RatioStat{}
	}
	return RunRatios(r.Points[len(r.Points)-1].PerRow(), r.Points[0].PerRow())
}

// MeasureScale times full syncs of tv_post from empty (TRUNCATE, not
// timed) on each of envs in turn, runs times: as a child process running
// `bin sync --entity post --all` when bin is set, which also gives its
// peak RSS, else in-process with engine.FullSync, after one untimed
// warm-up run on each data set, which is checked: the whole of tv_post against tv_post_source up to
// 200k posts, beyond that the row count and 1000 sampled posts.
func MeasureScale(ctx context.Context, envs []*Env, runs int, bin string) (ScaleResult, error) {
	res := ScaleResult{Child: bin != ""}
	if bin == "" {
		res.Note = "peak RSS not measured: no tvsync executable given; syncs ran in-process"
	}
	times := make([][]time.Duration, len(envs))
	for _, env := range envs {
		res.Points = append(res.Points, ScalePoint{Scale: env.Scale, Posts: len(env.PostIDs) + len(env.HotPosts), Template: env.Template})
	}
	// fullSync empties tv_post of env and rebuilds it, returning the time
	// and (from a child process) the peak RSS.
	fullSync := func(env *Env) (took time.Duration, rss int64, err error) {
		if _, err := env.Pool.Exec(ctx, "TRUNCATE tv_post"); err != nil {
			return 0, 0, fmt.Errorf("bench: scale %s: truncate tv_post: %w", env.Scale.Name, err)
		}
		if bin != "" {
			rss, took, err = fullSyncChild(ctx, env, bin)
			return took, rss, err
		}
		start := time.Now()
		if _, err := env.Engine.FullSync(ctx, blog.EntityPost, tvsync.FullOptions{}); err != nil {
			return 0, 0, fmt.Errorf("bench: scale %s: full sync: %w", env.Scale.Name, err)
		}
		return time.Since(start), 0, nil
	}
	// One untimed run per data set first: a freshly cloned data set starts
	// with a cold page cache, and the first sync of a 1M-post clone took
	// three times as long as the third.
	for _, env := range envs {
		took, _, err := fullSync(env)
		if err != nil {
			return res, err
		}
		env.log.InfoContext(ctx, "bench: scale warm-up (not timed)", slog.String("scale", env.Scale.Name), slog.Duration("took", took.Round(time.Millisecond)))
		if err := checkScale(ctx, env); err != nil {
			return res, fmt.Errorf("bench: scale %s: %w", env.Scale.Name, err)
		}
	}
	for run := range runs {
		res.Loads = append(res.Loads, LoadAvg())
		for i, env := range envs {
			took, rss, err := fullSync(env)
			if err != nil {
				return res, err
			}
			if bin != "" {
				res.Points[i].RSS = append(res.Points[i].RSS, rss)
			}
			times[i] = append(times[i], took)
			env.log.InfoContext(ctx, "bench: scale", slog.String("scale", env.Scale.Name), slog.Int("run", run+1),
				slog.Duration("took", took.Round(time.Millisecond)), slog.String("load", res.Loads[run].String()))
		}
	}
	for i := range envs {
		res.Points[i].Times = Summarize(times[i])
	}
	return res, nil
}

// checkScale checks tv_post after a full sync: wholly up to 200k posts,
// else by row count and 1000 sampled posts (plus the hot ones).
func checkScale(ctx context.Context, env *Env) error {
	if len(env.PostIDs) <= 200_000 {
		return checkFull(ctx, env)
	}
	var n int
	if err := env.Pool.QueryRow(ctx, "SELECT count(*) FROM tv_post").Scan(&n); err != nil {
		return fmt.Errorf("count tv_post: %w", err)
	}
	if want := len(env.PostIDs) + len(env.HotPosts); n != want {
		return fmt.Errorf("tv_post has %d rows after the full sync, want %d", n, want)
	}
	return CheckPosts(ctx, env.Pool, append(sample(env.PostIDs, 1000, 7), hotIDs(env.HotPosts)...))
}
