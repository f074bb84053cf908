//go:build linux

package chaos_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strings"
	gosync "sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/blog"
	"github.com/tvsync/tvsync/internal/expect"
	"github.com/tvsync/tvsync/internal/migrate"
	"github.com/tvsync/tvsync/internal/seed"
	"github.com/tvsync/tvsync/internal/workload"
	"github.com/tvsync/tvsync/repository"
	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/syncdbtest"
	"github.com/tvsync/tvsync/sync/syncuow"
)

// A fault the chaos test can inject.
type fault string

const (
	// faultWorkerKill SIGKILLs a worker process now and then and starts another.
	faultWorkerKill fault = "worker-kill"
	// faultTerminate ends a random client backend with pg_terminate_backend.
	faultTerminate fault = "terminate"
	// faultRestart restarts the server with an immediate shutdown.
	faultRestart fault = "restart"
	// faultRebuild runs Engine.Rebuild, two at a time, on random entities.
	faultRebuild fault = "rebuild"
	// faultPoison queues rows of an entity no worker knows (a rolling deploy).
	faultPoison fault = "poison"
)

var allFaults = []fault{faultWorkerKill, faultTerminate, faultRestart, faultRebuild, faultPoison}

// shortFaults are the faults of the short variant that `make test` runs:
// all of them.
var shortFaults = allFaults

var (
	longFlag     = flag.Bool("chaos.long", false, "run the long chaos variant (make chaos): longer, more writers, every fault")
	faultsFlag   = flag.String("chaos.faults", "", "comma-separated faults to inject instead of the variant's: worker-kill,terminate,restart,rebuild,poison")
	durationFlag = flag.Duration("chaos.duration", 0, "how long writes and faults run, instead of the variant's")
)

// variant sizes a chaos run. Intervals are means; each wait is drawn
// uniformly between half and one and a half of it.
type variant struct {
	name             string
	duration         time.Duration
	writers, workers int
	killEvery        time.Duration // a worker process SIGKILLed
	terminateEvery   time.Duration // a backend terminated
	restartEvery     time.Duration // an immediate restart
	rebuildPause     time.Duration // between two rebuilds of one goroutine
	faults           map[fault]bool
}

func chosenVariant(t *testing.T) variant {
	t.Helper()
	v := variant{name: "short", duration: 15 * time.Second, writers: 6, workers: 2,
		killEvery: 2 * time.Second, terminateEvery: 300 * time.Millisecond, restartEvery: 8 * time.Second, rebuildPause: time.Second}
	faults := shortFaults
	if *longFlag {
		v = variant{name: "long", duration: 3 * time.Minute, writers: 12, workers: 3,
			killEvery: 1500 * time.Millisecond, terminateEvery: 150 * time.Millisecond, restartEvery: 30 * time.Second, rebuildPause: 300 * time.Millisecond}
		faults = allFaults
	}
	if *durationFlag > 0 {
		v.duration = *durationFlag
	}
	if *faultsFlag != "" {
		faults = nil
		for _, f := range strings.Split(*faultsFlag, ",") {
			require.Contains(t, allFaults, fault(f), "-chaos.faults: unknown fault %q", f)
			faults = append(faults, fault(f))
		}
	}
	v.faults = map[fault]bool{}
	for _, f := range faults {
		v.faults[f] = true
	}
	return v
}

// jitter returns a duration drawn uniformly in [d/2, 3d/2).
func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d)
}

// The worker processes are this test binary run again (see TestMain).
const (
	workerChildEnv = "TVSYNC_CHAOS_WORKER_URL"
	workerApp      = "chaos-worker"
	poisonEntity   = "chaos_unknown_entity"
)

func TestMain(m *testing.M) {
	if url := os.Getenv(workerChildEnv); url != "" {
		os.Exit(workerChild(url))
	}
	os.Exit(m.Run())
}

// workerChild runs a worker on url until it is killed.
func workerChild(url string) int {
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos worker:", err)
		return 3
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = workerApp
	cfg.MaxConns = 4
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos worker:", err)
		return 3
	}
	w := must(tvsync.NewWorker(blog.MustNewEngine(pool, tvsync.Config{}), pool, tvsync.WorkerConfig{
		BatchSize: 100, PollInterval: 100 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}))
	_ = w.Run(ctx) // until SIGKILL
	return 0
}

// figures are what a chaos run did, printed at the end.
type figures struct {
	writes, ok, notSynced, domain, faulted atomic.Int64
	workerKills, terminated, restarts      atomic.Int64
	rebuilds, rebuildsFailed, poisoned     atomic.Int64
	rebuildsRefused                        atomic.Int64 // ErrRebuildRunning: the other rebuild held the entity
	mu                                     gosync.Mutex
	faultErrors                            map[string]int // a sample of the errors faults caused, by message
	unexpected                             []error
}

func (f *figures) faultError(err error) {
	msg := err.Error()
	if len(msg) > 90 {
		msg = msg[:90] + "…"
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.faultErrors == nil {
		f.faultErrors = map[string]int{}
	}
	if _, ok := f.faultErrors[msg]; ok || len(f.faultErrors) < 12 {
		f.faultErrors[msg]++
	}
}

func newPool(t *testing.T, ctx context.Context, url string, maxConns int32, app string) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(url)
	require.NoError(t, err)
	cfg.MaxConns = maxConns
	cfg.ConnConfig.RuntimeParams["application_name"] = app
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

func loadIDs(t *testing.T, ctx context.Context, pool *pgxpool.Pool, table string) *workload.Bag {
	t.Helper()
	rows, err := pool.Query(ctx, "SELECT id FROM "+table)
	require.NoError(t, err)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	require.NoError(t, err)
	return workload.NewBag(ids)
}

// TestChaos runs mixed writes in every sync mode against a server of its
// own while the variant's faults strike: worker processes SIGKILLed,
// backends terminated, immediate server restarts, concurrent rebuilds,
// queue rows of an unknown entity. Once the faults stop and a worker has
// drained the queue, no queued row of a known entity may be dead or left,
// and every tv_ row must match its definition by Engine.Verify and by the
// independent recomputation of internal/expect.
func TestChaos(t *testing.T) {
	v := chosenVariant(t)
	ctx, cancel := context.WithTimeout(context.Background(), v.duration+4*time.Minute)
	defer cancel()

	srv, err := syncdbtest.Start(ctx, syncdbtest.ServerOptions{Settings: map[string]string{
		"max_connections": "300",
		// Ends the backend of a SIGKILLed worker even while it waits for a lock.
		"client_connection_check_interval": "1s",
	}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Stop() })
	admin, err := pgx.Connect(ctx, srv.URL("postgres"))
	require.NoError(t, err)
	_, err = admin.Exec(ctx, "CREATE DATABASE chaos")
	require.NoError(t, err)
	require.NoError(t, admin.Close(ctx))
	url := srv.URL("chaos")

	setupPool := newPool(t, ctx, url, 8, "chaos-setup")
	_, err = migrate.Up(ctx, setupPool, nil)
	require.NoError(t, err)
	_, err = seed.Load(ctx, setupPool, seed.Options{Users: 60, Posts: 400, Comments: 1500, Likes: 600})
	require.NoError(t, err)
	setupEngine := blog.MustNewEngine(setupPool, tvsync.Config{})
	for _, entity := range setupEngine.Entities() {
		_, err := setupEngine.FullSync(ctx, entity, tvsync.FullOptions{})
		require.NoError(t, err)
	}
	users, posts, comments := loadIDs(t, ctx, setupPool, "tb_user"), loadIDs(t, ctx, setupPool, "tb_post"), loadIDs(t, ctx, setupPool, "tb_comment")
	setupPool.Close()

	var fig figures
	stop := make(chan struct{})
	stopped := func() bool {
		select {
		case <-stop:
			return true
		default:
			return false
		}
	}
	sleep := func(d time.Duration) bool { // false once stopped
		select {
		case <-stop:
			return false
		case <-time.After(d):
			return true
		}
	}
	var running gosync.WaitGroup

	// Worker processes, SIGKILLed now and then when the fault is on.
	var procMu gosync.Mutex
	var procs []*exec.Cmd
	startWorker := func() {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), workerChildEnv+"="+url)
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			t.Errorf("start a worker process: %v", err)
			return
		}
		procMu.Lock()
		procs = append(procs, cmd)
		procMu.Unlock()
	}
	killWorker := func(i int) {
		procMu.Lock()
		cmd := procs[i]
		procs = slices.Delete(procs, i, i+1)
		procMu.Unlock()
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
	}
	t.Cleanup(func() {
		for len(procs) > 0 {
			killWorker(0)
		}
	})
	for range v.workers {
		startWorker()
	}
	if v.faults[faultWorkerKill] {
		running.Go(func() {
			for sleep(jitter(v.killEvery)) {
				killWorker(rand.IntN(v.workers))
				fig.workerKills.Add(1)
				startWorker()
			}
		})
	}

	// Writers, in every mode, sharing fewer connections than there are
	// writers (a unit of work must never need a second one).
	pool := newPool(t, ctx, url, int32(max(2, v.writers/2)), "chaos-writer")
	engine := blog.MustNewEngine(pool, tvsync.Config{})
	base := repository.New(pool, engine, repository.Options{AfterCommitGrace: 300 * time.Millisecond})
	repos := []*repository.Repository{
		base.WithTiming(syncuow.AfterCommit),
		base.WithTiming(syncuow.Inline),
		base.WithTiming(syncuow.Deferred),
	}
	for g := range v.writers {
		running.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), uint64(time.Now().UnixNano())))
			repo := repos[g%len(repos)]
			for i := 0; !stopped(); i++ {
				wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				err := repo.InTx(wctx, func(uow *repository.UnitOfWork) error {
					return workload.RandomWrite(wctx, uow, r, fmt.Sprintf("g%d_%d", g, i), users, posts, comments)
				})
				cancel()
				fig.writes.Add(1)
				switch {
				case err == nil:
					fig.ok.Add(1)
				case errors.Is(err, repository.ErrCommittedNotSynced):
					fig.notSynced.Add(1) // committed; the queue repairs it
					fig.faultError(err)
				case errors.Is(err, repository.ErrInvalid) || errors.Is(err, repository.ErrUnitOfWorkDone):
					fig.mu.Lock()
					fig.unexpected = append(fig.unexpected, fmt.Errorf("writer %d write %d (%s): %w", g, i, repo.Timing(), err))
					fig.mu.Unlock()
				case workload.ExpectedFailure(err):
					fig.domain.Add(1)
				default:
					fig.faulted.Add(1) // a connection ended, the server was down
					fig.faultError(err)
					sleep(20 * time.Millisecond)
				}
			}
		})
	}

	// Terminated backends.
	if v.faults[faultTerminate] {
		killer := newPool(t, ctx, srv.URL("postgres"), 1, "chaos-killer")
		running.Go(func() {
			for sleep(jitter(v.terminateEvery)) {
				var n int64
				err := killer.QueryRow(ctx, `
					SELECT count(*) FROM (
						SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity
						WHERE datname = 'chaos' AND backend_type = 'client backend' AND pid <> pg_backend_pid()
						ORDER BY random() LIMIT 1) s
					WHERE ok`).Scan(&n)
				if err == nil {
					fig.terminated.Add(n)
				}
			}
		})
	}

	// Immediate restarts.
	if v.faults[faultRestart] {
		running.Go(func() {
			for sleep(jitter(v.restartEvery)) {
				if err := srv.Restart(ctx); err != nil {
					fig.mu.Lock()
					fig.unexpected = append(fig.unexpected, fmt.Errorf("restart: %w", err))
					fig.mu.Unlock()
					return
				}
				fig.restarts.Add(1)
			}
		})
	}

	// Concurrent rebuilds.
	if v.faults[faultRebuild] {
		for range 2 {
			running.Go(func() {
				for sleep(jitter(v.rebuildPause)) {
					entity := engine.Entities()[rand.IntN(len(engine.Entities()))]
					_, err := engine.Rebuild(ctx, entity, tvsync.RebuildOptions{ChunkSize: 500})
					if errors.Is(err, tvsync.ErrRebuildRunning) {
						fig.rebuildsRefused.Add(1)
						continue
					}
					if err != nil {
						fig.rebuildsFailed.Add(1)
						fig.faultError(fmt.Errorf("rebuild %s: %w", entity, err))
						continue
					}
					fig.rebuilds.Add(1)
				}
			})
		}
	}

	// Rows of an entity no worker knows, as a newer version would queue.
	if v.faults[faultPoison] {
		running.Go(func() {
			for i := 0; i < 3 && sleep(v.duration/4); i++ {
				if _, err := pool.Exec(ctx, "INSERT INTO tvsync.sync_queue (entity, entity_id) VALUES ($1, $2)", poisonEntity, uuid.New()); err == nil {
					fig.poisoned.Add(1)
				}
			}
		})
	}

	chaosStart := time.Now()
	time.Sleep(v.duration)
	close(stop)
	running.Wait()
	chaosTime := time.Since(chaosStart)
	for len(procs) > 0 {
		killWorker(0)
	}

	// The end: a fresh pool, the dead workers' sessions gone, one worker
	// drains what is left.
	final := newPool(t, ctx, url, 8, "chaos-final")
	_, err = final.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", workerApp)
	require.NoError(t, err)
	fengine := blog.MustNewEngine(final, tvsync.Config{})
	drainer := must(tvsync.NewWorker(fengine, final, tvsync.WorkerConfig{BatchSize: 300, MaxBackoff: 200 * time.Millisecond}))
	count := func(sql string, args ...any) int {
		t.Helper()
		var n int
		require.NoError(t, final.QueryRow(ctx, sql, args...).Scan(&n))
		return n
	}
	pendingSQL := "SELECT count(*) FROM tvsync.sync_queue WHERE NOT dead AND entity <> $1"
	drainStart := time.Now()
	var drainErr error
	for count(pendingSQL, poisonEntity) > 0 && time.Since(drainStart) < 90*time.Second {
		if _, err := drainer.Drain(ctx); err != nil {
			drainErr = err
		}
		time.Sleep(50 * time.Millisecond)
	}
	drainTime := time.Since(drainStart)

	pending := count(pendingSQL, poisonEntity)
	dead := count("SELECT count(*) FROM tvsync.sync_queue WHERE dead AND entity <> $1", poisonEntity)
	poisonLeft := count("SELECT count(*) FROM tvsync.sync_queue WHERE entity = $1", poisonEntity)
	drift := map[string]int{}
	for _, entity := range fengine.Entities() {
		res, err := fengine.Verify(ctx, entity, tvsync.VerifyOptions{})
		require.NoError(t, err)
		drift[entity] = res.Drifted()
		assert.Zero(t, res.Drifted(), "verify %s: missing=%d stale=%d orphaned=%d samples=%v", entity, res.Missing, res.Stale, res.Orphaned, res.Samples)
	}
	diff, err := expect.Check(ctx, final)
	require.NoError(t, err)

	var faults []string
	for _, f := range allFaults {
		if v.faults[f] {
			faults = append(faults, string(f))
		}
	}
	t.Logf("chaos (%s variant, faults %s, %s of chaos, %d writers, %d worker processes):", v.name, strings.Join(faults, ","), chaosTime.Round(time.Second), v.writers, v.workers)
	t.Logf("  writes: %d attempted, %d ok, %d committed but left to the queue, %d failed by the workload (row gone, deadlock), %d failed by a fault",
		fig.writes.Load(), fig.ok.Load(), fig.notSynced.Load(), fig.domain.Load(), fig.faulted.Load())
	t.Logf("  faults: %d worker processes SIGKILLed, %d backends terminated, %d immediate restarts, %d rebuilds done, %d refused (the other one ran), %d failed, %d unknown-entity rows queued",
		fig.workerKills.Load(), fig.terminated.Load(), fig.restarts.Load(), fig.rebuilds.Load(), fig.rebuildsRefused.Load(), fig.rebuildsFailed.Load(), fig.poisoned.Load())
	t.Logf("  end: queue drained in %s (last drain error: %v); %d rows of known entities pending, %d dead; %d unknown-entity rows kept",
		drainTime.Round(time.Millisecond), drainErr, pending, dead, poisonLeft)
	t.Logf("  drift: verify %v, independent recomputation %d differences", drift, len(diff))
	for msg, n := range fig.faultErrors {
		t.Logf("  fault error ×%d: %s", n, msg)
	}

	assert.Empty(t, fig.unexpected, "errors no fault explains")
	assert.Zero(t, pending, "every queued row of a known entity was synced")
	if dead > 0 {
		rows, err := final.Query(ctx, "SELECT entity || ' ' || entity_id || ': ' || last_error FROM tvsync.sync_queue WHERE dead AND entity <> $1 LIMIT 5", poisonEntity)
		require.NoError(t, err)
		samples, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		assert.Zero(t, dead, "no innocent queued row is dead: %s", strings.Join(samples, "; "))
	}
	assert.Equal(t, int(fig.poisoned.Load()), poisonLeft, "rows of an unknown entity are kept for the version that knows it")
	assert.Empty(t, diff, "tv_ matches what tb_ implies")
	// How many writes go through between faults depends on how busy the
	// machine is (a third was too many at a load of 25 on 2 cores): the
	// test asks for progress, and the figures above say how much.
	assert.Positive(t, fig.ok.Load(), "writes went through between the faults")
	if v.faults[faultWorkerKill] {
		assert.Positive(t, fig.workerKills.Load())
	}
	if v.faults[faultRestart] {
		assert.Positive(t, fig.restarts.Load())
	}
	if v.faults[faultTerminate] {
		assert.Positive(t, fig.terminated.Load())
	}
}
