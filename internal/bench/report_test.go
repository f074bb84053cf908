package bench

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func ds(ms ...float64) []time.Duration {
	out := make([]time.Duration, len(ms))
	for i, m := range ms {
		out[i] = time.Duration(m * float64(time.Millisecond))
	}
	return out
}

func TestRatioOf_IsTheMedianOfPerRunRatios(t *testing.T) {
	// Run by run the API takes 1.25×, 0.8× and 1.25× raw; the medians
	// (20 vs 24 ms) would say 0.83×.
	api, raw := Summarize(ds(10, 20, 30)), Summarize(ds(8, 25, 24))
	r := RatioOf(api, raw)
	assert.InDelta(t, 1.25, r.Median, 1e-9)
	assert.InDelta(t, 0.8, r.Min, 1e-9)
	assert.InDelta(t, 1.25, r.Max, 1e-9)
	assert.Equal(t, 3, r.Runs)
	assert.Equal(t, ds(10, 20, 30), api.All, "Summarize keeps the run order")
	assert.Equal(t, RatioStat{}, RatioOf(api, Stat{}), "no runs, no ratio")
}

// TestTargets_JudgeOnTheMedianOfPerRunRatios: a noisy run must not flip a
// verdict, so a target is judged on the per-run ratios.
func TestTargets_JudgeOnTheMedianOfPerRunRatios(t *testing.T) {
	r := &Results{Batch: &BatchResult{Sizes: []int{100}, Stats: map[int]map[string]Stat{100: {
		BatchEngine: Summarize(ds(10, 20, 30)),
		BatchRawPgx: Summarize(ds(8, 25, 24)),   // API/raw: 1.25, 0.8, 1.25
		BatchPerRow: Summarize(ds(70, 60, 210)), // loop/API: 7, 3, 7
	}}}}
	ts := r.Targets()
	require.Len(t, ts, 2)
	assert.False(t, ts[0].Met, "API ≤ 1.15× raw: the per-run ratios' median is 1.25 (the medians' ratio, 0.83, would pass): %s", ts[0].Measured)
	assert.Contains(t, ts[0].Measured, "1.25×")
	assert.True(t, ts[1].Met, "≥ 6× the loop: the per-run ratios' median is 7 (the medians' ratio, 3, would fail): %s", ts[1].Measured)
}

func TestTargets_LagJudgesTheMedianRunAndReportsTheHighRateFigure(t *testing.T) {
	run := func(p99 float64, deferred, plain float64, load Load) LagRun {
		return LagRun{TargetRate: 500, Achieved: 500, Workers: 2, LagP99: ds(p99)[0],
			DeferredP50: ds(deferred)[0], PlainP50: ds(plain)[0], Load: load}
	}
	r := &Results{Lag: &LagResult{
		Runs: []LagRun{run(5, 1.0, 1.0, 0.4), run(400, 3.0, 1.0, 3.9), run(6, 1.1, 1.0, 0.5)}, // one noisy run
		High: &LagRun{TargetRate: 2000, Achieved: 1990, Workers: 4, LagP99: ds(42)[0], Load: 0.7},
	}}
	ts := r.Targets()
	require.Len(t, ts, 2)
	assert.True(t, ts[0].Met, "commit ratios 1.0, 3.0, 1.1: median 1.1 ≤ 1.2: %s", ts[0].Measured)
	assert.True(t, ts[1].Met, "p99s 5, 400, 6 ms: median 6 ms: %s", ts[1].Measured)
	assert.Contains(t, ts[1].Measured, "load 0.40, 3.90, 0.50")
	assert.Contains(t, r.Markdown(), "**Figure to beat:** deferred lag p99 **42.0 ms** at 2000 writes/s")
}

func TestParseLoadAvg(t *testing.T) {
	l, err := parseLoadAvg("0.52 0.58 0.59 1/467 12345\n")
	require.NoError(t, err)
	assert.Equal(t, Load(0.52), l)
	assert.Equal(t, "0.52", l.String())
	assert.Equal(t, "n/a", Load(-1).String())
	_, err = parseLoadAvg("")
	assert.Error(t, err)
	_, err = parseLoadAvg("x 1 2")
	assert.ErrorContains(t, err, `"x 1 2"`)
}

// TestWriteFiles_MainReportCarriesTheLatest1MScaleTable: the scale table
// is measured by the 1M run, and latest.md shows it whichever of the two
// runs wrote last.
func TestWriteFiles_MainReportCarriesTheLatest1MScaleTable(t *testing.T) {
	dir := t.TempDir()
	main := &Results{Scale: ScaleMain, Started: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC), Batch: &BatchResult{
		Sizes: []int{100}, Stats: map[int]map[string]Stat{100: {BatchEngine: Summarize(ds(10)), BatchRawPgx: Summarize(ds(9)), BatchPerRow: Summarize(ds(60))}},
	}}
	large := &Results{Scale: Scale1M, Started: time.Date(2026, 11, 25, 11, 0, 0, 0, time.UTC), ScaleTable: &ScaleResult{
		Child: true, Loads: []Load{0.3, 0.4},
		Points: []ScalePoint{
			{Scale: ScaleMain, Posts: 100_002, Times: Summarize(ds(5000, 5200)), RSS: []int64{40 << 20, 41 << 20}},
			{Scale: Scale1M, Posts: 1_000_002, Times: Summarize(ds(52000, 53000)), RSS: []int64{60 << 20, 61 << 20}},
		},
	}}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		return string(b)
	}

	_, _, err := main.WriteFiles(dir)
	require.NoError(t, err)
	assert.Contains(t, read("latest.md"), "Not measured yet: run `tvsync-bench --scale 1m`")

	md, _, err := large.WriteFiles(dir)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, "latest-1m.md"), md)
	assert.Contains(t, read("latest-1m.md"), "| 1m | 1000002 |")
	latest := read("latest.md")
	assert.Contains(t, latest, "Measured by `tvsync-bench --scale 1m` on 2026-11-25 11:00 UTC", "the 1M run rewrites latest.md")
	assert.Contains(t, latest, "## 1. Batch sync", "with the main run's sections")
	assert.Contains(t, latest, "full sync per row at 1000002 posts ≤ 1.2× the figure at 100002 posts")

	_, _, err = main.WriteFiles(dir)
	require.NoError(t, err)
	assert.Contains(t, read("latest.md"), "| 1m | 1000002 |", "a later main run keeps the last 1M scale table")
	_, err = os.Stat(filepath.Join(dir, "latest.png"))
	assert.NoError(t, err)
}

// TestSetup_KeptTemplateSeedsOnceAndIsRebuiltWhenStale: with KeepTemplate
// the second Setup clones the data set without seeding; a template built
// from other migrations or row counts (another key), or never finished
// (no comment), is rebuilt.
func TestSetup_KeptTemplateSeedsOnceAndIsRebuiltWhenStale(t *testing.T) {
	ctx := context.Background()
	opts := Options{AdminURL: adminURL, Scale: ScaleTiny, NoWriteClone: true, KeepTemplate: true}
	tmpl := TemplateName(ScaleTiny)
	admin, err := (&Env{adminURL: adminURL}).openAdmin(ctx)
	require.NoError(t, err)
	drop := func() {
		_, err := admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+tmpl+" WITH (FORCE)")
		require.NoError(t, err)
	}
	drop() // left by an interrupted run on a lasting server
	t.Cleanup(func() {
		drop()
		admin.Close()
	})
	seeded := func(e *Env) bool {
		for _, p := range e.SetupTimes {
			if len(p.Name) >= 4 && p.Name[:4] == "seed" {
				return true
			}
		}
		return false
	}
	setup := func() *Env {
		e, err := Setup(ctx, opts)
		require.NoError(t, err)
		t.Cleanup(e.Close)
		require.Len(t, e.PostIDs, ScaleTiny.Seed.Posts)
		require.Len(t, e.HotPosts, len(HotPostComments))
		return e
	}

	first := setup()
	assert.False(t, first.Template.Reused)
	assert.True(t, seeded(first))
	second := setup()
	assert.True(t, second.Template.Reused, "the kept template is cloned")
	assert.False(t, seeded(second), "no seeding the second time: %v", second.SetupTimes)
	assert.True(t, first.Template.Built.Equal(second.Template.Built))
	assert.Equal(t, first.Template.BuildTime(), second.Template.BuildTime(), "the build time is remembered")
	assert.Equal(t, first.PostIDs, second.PostIDs)

	_, err = admin.Exec(ctx, `COMMENT ON DATABASE `+tmpl+` IS '{"Tvsync": "tvsync bench data set", "Key": "0123456789abcdef"}'`)
	require.NoError(t, err)
	third := setup()
	assert.False(t, third.Template.Reused, "a template with another key is rebuilt")
	assert.True(t, seeded(third))

	_, err = admin.Exec(ctx, `COMMENT ON DATABASE `+tmpl+` IS NULL`)
	require.NoError(t, err)
	assert.False(t, setup().Template.Reused, "an unfinished template is rebuilt")
}

// TestStartServer_KeptClusterDropsLeftoversButKeepsTemplates: an
// interrupted run leaves its clones on a kept cluster; the next start drops
// them and keeps the templates.
func TestStartServer_KeptClusterDropsLeftoversButKeepsTemplates(t *testing.T) {
	ctx := context.Background()
	parent, err := os.MkdirTemp("", "bench-datadir-*")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(parent) })
	require.NoError(t, os.Chmod(parent, 0o755)) // the server user must reach the cluster
	dir := filepath.Join(parent, "cluster")
	logger := slog.New(slog.DiscardHandler)
	databases := func(url string) []string {
		conn, err := pgx.Connect(ctx, url)
		require.NoError(t, err)
		defer conn.Close(ctx)
		rows, err := conn.Query(ctx, "SELECT datname FROM pg_database WHERE datname LIKE 'tvsync%' ORDER BY 1")
		require.NoError(t, err)
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		return names
	}

	url, stop, err := StartServer(ctx, "", dir, logger)
	require.NoError(t, err)
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	for _, name := range []string{TemplateName(Scale1M), "tvsync_bench_0badf00d", "tvsync_bench_0badf00d_write", "tvsync_bench_tmpl_1m_0badf00d", "tvsyncbenchother"} {
		_, err := conn.Exec(ctx, "CREATE DATABASE "+name)
		require.NoError(t, err)
	}
	require.NoError(t, conn.Close(ctx))
	stop()

	url, stop, err = StartServer(ctx, "", dir, logger)
	require.NoError(t, err)
	defer stop()
	assert.Equal(t, []string{TemplateName(Scale1M), "tvsyncbenchother"}, databases(url))
}
