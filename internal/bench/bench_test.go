package bench

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/internal/testdb"
)

// The package's tests use one PostgreSQL server: TVSYNC_TEST_ADMIN_URL's
// when set, else a throwaway one. The Go benchmarks share one Env at the
// scale named by TVSYNC_BENCH_SCALE (default main), set up on first use,
// so `go test` without -bench never loads it.
var (
	adminURL string
	// startReplica starts a replica of the throwaway server (nil on
	// TVSYNC_TEST_ADMIN_URL's).
	startReplica ReplicaStarter
	shared       *Env
	sharedErr    error
	sharedOnce   gosync.Once
)

func TestMain(m *testing.M) {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	url, replica, stop, err := StartServerWithReplica(ctx, os.Getenv(testdb.AdminURLEnv), "", logger)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	adminURL, startReplica = url, replica
	code := m.Run()
	shared.Close()
	stop()
	os.Exit(code)
}

// benchEnv returns the shared benchmark Env, setting it up on first use.
func benchEnv(b *testing.B) *Env {
	b.Helper()
	sharedOnce.Do(func() {
		scale, err := ParseScale(os.Getenv("TVSYNC_BENCH_SCALE"))
		if err != nil {
			sharedErr = err
			return
		}
		logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
		shared, sharedErr = Setup(context.Background(), Options{AdminURL: adminURL, Scale: scale, Logger: logger})
	})
	if sharedErr != nil {
		b.Fatal(sharedErr)
	}
	return shared
}

func TestPostRefreshSQL_IsTheStatementSqlcGenerates(t *testing.T) {
	generated, err := os.ReadFile("../../db/batch.go")
	require.NoError(t, err)
	assert.Contains(t, string(generated), "const postRefresh = `"+PostRefreshSQL+"`",
		"bench.PostRefreshSQL must be the PostRefresh text of db/: update it from queries/post.sql")
}

func TestSummarize_MedianMinMax(t *testing.T) {
	s := Summarize([]time.Duration{5, 1, 3, 9})
	assert.Equal(t, Stat{Median: 4, Min: 1, Max: 9, Runs: 4, All: []time.Duration{5, 1, 3, 9}}, s)
	assert.Equal(t, time.Duration(3), Summarize([]time.Duration{3, 1, 7}).Median)
	assert.Equal(t, Stat{}, Summarize(nil))
	assert.Equal(t, time.Duration(99), Percentile(seq(100), 99))
	assert.Equal(t, time.Duration(50), Percentile(seq(100), 50))
}

func seq(n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[n-1-i] = time.Duration(i + 1)
	}
	return out
}

// TestRun_TinyScaleRunsEveryMeasurementAndChecksTheWork runs the whole
// suite on a tiny data set. Every measurement verifies its own work against
// tv_post_source (the per-row loop's Go-built documents, the triggers', the
// wide plan's, the full syncs of the scale table), so a variant that
// stopped producing the right documents fails here.
func TestRun_TinyScaleRunsEveryMeasurementAndChecksTheWork(t *testing.T) {
	ctx := context.Background()
	res, err := Run(ctx, Config{AdminURL: adminURL, Scale: ScaleTiny, Replica: startReplica})
	require.NoError(t, err)
	if startReplica != nil {
		require.NotNil(t, res.Replica)
		for _, v := range ReplicaVariants {
			assert.Equal(t, 2, res.Replica.Rates[v].Runs, v)
			assert.Positive(t, res.Replica.Rates[v].Median, v)
		}
		served := res.Replica.Stats.Primary
		for _, r := range res.Replica.Stats.Replicas {
			served += r.Served
		}
		assert.Equal(t, int64(2*8*10), served, "every token read served once, by the replica or the primary")
		assert.Contains(t, res.Markdown(), "## 6. Replica reads")
	}

	require.NotNil(t, res.Batch)
	require.NotNil(t, res.BatchNet, "the network variant of the batch sync")
	for _, n := range res.Batch.Sizes {
		for _, v := range BatchVariants {
			assert.Equal(t, 2, res.Batch.Stats[n][v].Runs, "batch %d %s", n, v)
			assert.Len(t, res.Batch.Stats[n][v].All, 2, "per-run times kept for the ratios")
			assert.Equal(t, 2, res.BatchNet.Stats[n][v].Runs, "network batch %d %s", n, v)
		}
		assert.Len(t, res.Batch.Loads[n], 2, "a load average per run")
	}
	assert.Equal(t, NetworkDelay, res.BatchNet.Network)
	// A lower bound, not a speed assertion: through the proxy a round trip
	// waits at least the delay each way.
	assert.GreaterOrEqual(t, res.BatchNet.RTT, 2*(NetworkDelay-sleepSlack))

	require.NotNil(t, res.Write)
	require.NotNil(t, res.WriteNet)
	for _, v := range WriteVariants {
		assert.Equal(t, 1, res.Write.Bulk[v].Runs, v)
		assert.Equal(t, 1, res.Write.Single[v].Runs, v)
		assert.Equal(t, 1, res.WriteNet.Bulk[v].Runs, v)
	}
	assert.True(t, res.WriteNet.RowsChecked)
	assert.GreaterOrEqual(t, res.Write.Bulk[WriteDeferredDrained].Median, res.Write.Bulk[WriteDeferred].Median)
	require.NotNil(t, res.Full)
	assert.Len(t, res.Full.Stats[StateStale], 2, "no materialized view for the stale state")
	assert.Len(t, res.Full.Stats[StateCurrent], 3)

	require.NotNil(t, res.Read)
	require.Len(t, res.Read.Cases, 1+len(HotPostComments), "the average post and each hot post")
	for i, n := range HotPostComments {
		c := res.Read.Cases[1+i]
		assert.Equal(t, float64(n), c.Comments, "the hot post really has %d comments", n)
		assert.Equal(t, 2, c.Rates[ReadStored].Runs)
		assert.Positive(t, c.Rates[ReadBuilt].Median)
	}

	require.NotNil(t, res.Lag)
	require.Len(t, res.Lag.Runs, 3)
	for _, run := range res.Lag.Runs {
		assert.Equal(t, 30, run.Writes)
		assert.Equal(t, 30, run.Measured)
		assert.Positive(t, run.PlainWrites, "plain writes run beside the deferred ones")
		assert.Positive(t, run.PlainP50)
		assert.Positive(t, run.Samples, "pg_stat_activity was sampled")
	}
	require.NotNil(t, res.Lag.High)
	assert.Equal(t, 4, res.Lag.High.Workers)
	assert.Equal(t, 60, res.Lag.High.Writes)
	var roles []string
	for _, run := range append(res.Lag.Runs, *res.Lag.High) {
		for _, w := range run.WaitEvents {
			roles = append(roles, w.Role)
		}
	}
	assert.Subset(t, roles, []string{"deferred"}, "the deferred writers are seen by their application_name")
	c := res.Lag.Compare
	require.NotNil(t, c, "both wake-up variants are compared")
	require.Len(t, c.Base, 3)
	require.Len(t, c.High, 1)
	require.Len(t, c.Sweep, 1)
	for i, p := range append(append(c.Base, c.High...), c.Sweep...) {
		assert.True(t, p.Before.NotifyInTx, "pair %d: before NOTIFYs in the transaction", i)
		assert.False(t, p.After.NotifyInTx, "pair %d: after does not", i)
		assert.Equal(t, p.Before.TargetRate, p.After.TargetRate)
		assert.Equal(t, i%2 == 0, p.BeforeFirst, "the order alternates")
	}
	assert.Equal(t, 150.0, c.Sweep[0].After.TargetRate)
	lagMD := res.Markdown()
	assert.Contains(t, lagMD, "### Wake-ups: NOTIFY in the write transaction (before) vs coalesced after the commit (after)")
	assert.Contains(t, lagMD, "whose lag p99 (median of that rate's runs) stays under 10.0 ms")

	require.NotNil(t, res.Wide)
	assert.Equal(t, 1, res.Wide.Stats[0][PlanWide].Runs)

	require.NotNil(t, res.ScaleTable)
	require.Len(t, res.ScaleTable.Points, 2)
	small, large := res.ScaleTable.Points[0], res.ScaleTable.Points[1]
	assert.Equal(t, ScaleTiny.Seed.Posts+len(HotPostComments), small.Posts)
	assert.Equal(t, ScaleTiny10.Seed.Posts+len(HotPostComments), large.Posts)
	assert.Equal(t, 2, large.Times.Runs)
	assert.Equal(t, 2, res.ScaleTable.PerRowRatio().Runs)

	md := res.Markdown()
	for _, section := range []string{"## Targets", "## Scale: full sync per row", "## 1. Batch sync", "## 1n. Batch sync over a network",
		"**How far apart:**", "## 2. Write path", "## 2n. Write path over a network", "## 3. Full rebuild",
		"## 4. Read path", "post with 500 comments", "## 5. Deferred mode under load", "high rate", "**Figure to beat:**",
		"Top wait events", "## Refresh plan crossover", "median of the per-run ratios", "Load per run"} {
		assert.Contains(t, md, section)
	}
	assert.Len(t, res.Targets(), 11+len(HotPostComments)+1+4,
		"every target but peak RSS (no executable given) is judged, the read path once per kind of post, plus the scale table and issue 21's four wake-up targets:\n%s", md)

	dir := t.TempDir()
	mdPath, pngPath, err := res.WriteFiles(dir)
	require.NoError(t, err)
	assert.True(t, strings.HasSuffix(mdPath, "latest-tiny.md"))
	png, err := os.ReadFile(pngPath)
	require.NoError(t, err)
	assert.Equal(t, "\x89PNG", string(png[:4]))
	saved, err := readResults(dir, ScaleTiny.Name)
	require.NoError(t, err)
	require.NotNil(t, saved)
	assert.Equal(t, res.Targets(), saved.Targets(), "the saved results judge the same as the run's")
}

func BenchmarkBatchSync(b *testing.B) {
	env := benchEnv(b)
	ctx := context.Background()
	fns := map[string]func([]uuid.UUID) error{
		BatchEngine: func(ids []uuid.UUID) error { return SyncBatchEngine(ctx, env.Engine, ids) },
		BatchRawPgx: func(ids []uuid.UUID) error { return SyncBatchRaw(ctx, env.Pool, ids) },
		BatchPerRow: func(ids []uuid.UUID) error { return SyncBatchPerRow(ctx, env.Pool, ids) },
	}
	for _, n := range []int{1, 10, 100, 1000} {
		ids := sample(env.PostIDs, n, uint64(n))
		for _, v := range BatchVariants {
			b.Run(fmt.Sprintf("ids=%d/%s", n, v), func(b *testing.B) {
				for range b.N {
					b.StopTimer()
					require.NoError(b, StalePosts(ctx, env.Pool, ids))
					b.StartTimer()
					require.NoError(b, fns[v](ids))
				}
			})
		}
	}
}

func BenchmarkWritePath(b *testing.B) {
	env := benchEnv(b)
	ctx := context.Background()
	w, err := NewWriter(env.Write)
	require.NoError(b, err)
	posts := sample(env.PostIDs, 100, 100)
	users := sample(env.UserIDs, 1000, 101)
	for _, size := range []int{1000, 1} {
		cs := Comments(size, posts, users)
		for _, v := range WriteVariants {
			b.Run(fmt.Sprintf("comments=%d/%s", size, v), func(b *testing.B) {
				require.NoError(b, w.prepare(ctx, v))
				defer func() { require.NoError(b, DropTriggers(ctx, w.db.Pool)) }()
				for range b.N {
					t, err := w.Write(ctx, v, cs)
					require.NoError(b, err)
					b.StopTimer()
					require.NoError(b, w.Undo(ctx, cs, t.CommentIDs))
					b.StartTimer()
				}
			})
		}
	}
}

func BenchmarkFullRebuild(b *testing.B) {
	env := benchEnv(b)
	ctx := context.Background()
	require.NoError(b, CreateMatview(ctx, env))
	defer func() { require.NoError(b, DropMatview(ctx, env)) }()
	for _, state := range []string{StateEmpty, StateStale, StateCurrent} {
		for _, v := range FullVariants {
			if v == FullMatview && state == StateStale {
				continue
			}
			b.Run(state+"/"+v, func(b *testing.B) {
				for range b.N {
					b.StopTimer()
					require.NoError(b, PrepareFull(ctx, env, v, state))
					b.StartTimer()
					require.NoError(b, RebuildFull(ctx, env, v, state))
				}
			})
		}
	}
}

func BenchmarkReadPath(b *testing.B) {
	env := benchEnv(b)
	ctx := context.Background()
	ids := sample(env.PostIDs, 10_000, 400)
	for _, v := range ReadVariants {
		b.Run(v, func(b *testing.B) {
			b.SetParallelism(8) // 8 × GOMAXPROCS readers, at least 8
			var next int64
			var mu gosync.Mutex
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					mu.Lock()
					id := ids[next%int64(len(ids))]
					next++
					mu.Unlock()
					if _, err := ReadPost(ctx, env, v, id); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

func BenchmarkDeferredLag(b *testing.B) {
	env := benchEnv(b)
	for range b.N {
		r, err := MeasureLagRun(context.Background(), env, 500, 10*time.Second, 2, 500, false)
		require.NoError(b, err)
		b.ReportMetric(float64(r.LagP50)/1e6, "lag-p50-ms")
		b.ReportMetric(float64(r.LagP99)/1e6, "lag-p99-ms")
		b.ReportMetric(r.CommitRatio(), "commit-x-plain")
	}
}

func BenchmarkRefreshPlan(b *testing.B) {
	env := benchEnv(b)
	ctx := context.Background()
	for _, n := range []int{1000, 5000, 20000, 0} {
		ids := env.PostIDs
		if n > 0 {
			ids = sample(env.PostIDs, n, uint64(n)+7)
		}
		for _, plan := range PlanVariants {
			b.Run(fmt.Sprintf("ids=%d/%s", len(ids), plan), func(b *testing.B) {
				for range b.N {
					b.StopTimer()
					require.NoError(b, StalePosts(ctx, env.Pool, ids))
					b.StartTimer()
					_, err := RefreshPlan(ctx, env.Pool, plan, ids)
					require.NoError(b, err)
				}
			})
		}
	}
}

// TestRunPeakRSS_MeasuresTheChildNotTheParent runs a small child while this
// test process holds far more memory than the child ever will: the peak
// must be the child's. rusage's ru_maxrss of a child Go started reports the
// parent's size (Go starts children with vfork), which this rules out.
func TestRunPeakRSS_MeasuresTheChildNotTheParent(t *testing.T) {
	ballast := make([]byte, 256<<20)
	for i := range ballast {
		ballast[i] = byte(i)
	}
	rss, err := runPeakRSS(exec.Command("sleep", "0.2"))
	require.NoError(t, err)
	assert.Greater(t, rss, int64(0))
	assert.Less(t, rss, int64(64<<20), "sleep's peak RSS, not this test's %d MiB", len(ballast)>>20)
	runtime.KeepAlive(ballast)
}
