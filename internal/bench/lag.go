package bench

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	gosync "sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"

	"github.com/tvsync/tvsync/blog"
	"github.com/tvsync/tvsync/repository"
	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/syncuow"
)

// LagRun is one run of the deferred-mode measurement.
type LagRun struct {
	// TargetRate is the paced rate of deferred writes asked for
	// (writes/s); Achieved is what the writers sustained; Duration how
	// long the deferred writes took.
	TargetRate, Achieved float64
	Duration             time.Duration
	Workers, Writers     int
	// Writes is how many deferred units of work committed; Measured how
	// many of them had a lag measured (their post written only once).
	Writes, Measured int
	// Lag is commit → tv_post current, per write.
	LagP50, LagP99, LagMax time.Duration
	// Commit latency (begin to commit returned) of the deferred units of
	// work, and of plain writes (same insert, no queue) paced at
	// PlainRate at the same time, with the same workers running.
	DeferredP50, DeferredP99 time.Duration
	PlainRate                float64
	PlainWrites              int
	PlainP50, PlainP99       time.Duration
	// Drain is how long the queue took to empty after the last write.
	Drain time.Duration
	// Load and LoadEnd are the 1-minute load average before and after.
	Load, LoadEnd Load
	// QueueMax is the most rows seen pending in sync_queue, and
	// OldestMax the oldest pending row's greatest age, sampled every
	// 50 ms while the writes ran.
	QueueMax  int64
	OldestMax time.Duration
	// WaitEvents are the 20 most frequent (role, state, wait event) of the
	// database's backends, sampled from pg_stat_activity every 10 ms
	// while the writes ran (Samples samples).
	WaitEvents []WaitEvent
	Samples    int
	// NotifyInTx is the variant: the deferred writers' engine NOTIFYs
	// inside every write transaction (Config.NotifyInTransaction, the way
	// before issue 21), rather than once per NotifyInterval after commits.
	NotifyInTx bool
}

// Variant names the run's wake-up variant.
func (r LagRun) Variant() string {
	if r.NotifyInTx {
		return "before"
	}
	return "after"
}

// CommitRatio is the deferred commit latency over the plain one (p50s).
func (r LagRun) CommitRatio() float64 {
	if r.PlainP50 <= 0 {
		return 0
	}
	return float64(r.DeferredP50) / float64(r.PlainP50)
}

// WaitEvent is how often backends of one role were seen in one state and
// wait event.
type WaitEvent struct {
	// Role is deferred (writers of deferred units of work), plain (plain
	// writers), worker (sync workers), or a background process type.
	Role, State string
	// Event is "type:event", or "CPU" for an active backend with no wait
	// event (running, or runnable and waiting for a core).
	Event string
	// Count is how many samples saw it; PerSample is Count / Samples, the
	// mean number of backends in it.
	Count     int
	PerSample float64
}

// LagResult is the deferred-mode lag measurement.
type LagResult struct {
	// Runs at the base rate, one after the other.
	Runs []LagRun
	// High is the run at the high rate with more workers: its lag p99 is
	// the figure to beat. Nil when not run.
	High *LagRun
	// Compare, with LagOptions.Compare, holds every run of both wake-up
	// variants in pairs run one after the other (Runs and High are then
	// the "after" runs).
	Compare *LagCompare
}

// LagCompare is the before/after comparison of deferred wake-ups: the NOTIFY
// inside each write transaction (before) against the coalesced NOTIFY after
// commits (after).
type LagCompare struct {
	// Base and High are the pairs at LagOptions.Rate and HighRate; Sweep
	// one pair per LagOptions.SweepRates, with HighWorkers workers.
	Base, High, Sweep []LagPair
}

// LagPair is one run of each variant, one after the other (BeforeFirst
// says in which order: the order alternates from pair to pair).
type LagPair struct {
	Before, After LagRun
	BeforeFirst   bool
}

// LagOptions configures MeasureDeferredLag.
type LagOptions struct {
	// Rate writes/s for For with Workers workers, Runs times.
	Rate    float64
	For     time.Duration
	Workers int
	Runs    int
	// HighRate writes/s with HighWorkers workers, once; zero skips it.
	HighRate    float64
	HighWorkers int
	// Compare runs every run in both wake-up variants (LagRun.NotifyInTx),
	// in pairs whose order alternates; HighRuns pairs at HighRate (zero:
	// Runs), and one pair per SweepRates rate (HighWorkers workers), to find
	// the highest rate whose lag p99 stays under 10 ms.
	Compare    bool
	HighRuns   int
	SweepRates []float64
}

// Pool roles, as application_name, for the wait-event sampling.
const (
	appDeferred = "tvsync-bench-deferred"
	appPlain    = "tvsync-bench-plain"
	appWorker   = "tvsync-bench-worker"
	appSampler  = "tvsync-bench-sampler"
)

// paced calls fn(i) for i in [0, n) at rate calls per second, from
// writers goroutines, and returns when all calls are done, with the first
// error. Calls that fall behind schedule start as soon as a writer is free.
func paced(ctx context.Context, n, writers int, rate float64, fn func(i int) error) (time.Duration, error) {
	jobs := make(chan int, n)
	var (
		wg    gosync.WaitGroup
		once  gosync.Once
		first error
	)
	for range writers {
		wg.Go(func() {
			for i := range jobs {
				if err := fn(i); err != nil {
					once.Do(func() { first = err })
				}
			}
		})
	}
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	for i := range n {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil {
			break
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return time.Since(start), first
}

// MeasureDeferredLag runs opts.Runs runs at opts.Rate, then one at
// opts.HighRate (see MeasureLagRun), on the write clone.
func MeasureDeferredLag(ctx context.Context, env *Env, opts LagOptions) (LagResult, error) {
	var res LagResult
	if opts.Compare {
		return measureLagCompare(ctx, env, opts)
	}
	for run := range opts.Runs {
		r, err := MeasureLagRun(ctx, env, opts.Rate, opts.For, opts.Workers, uint64(500+run), false)
		if err != nil {
			return res, err
		}
		res.Runs = append(res.Runs, r)
	}
	if opts.HighRate > 0 {
		r, err := MeasureLagRun(ctx, env, opts.HighRate, opts.For, opts.HighWorkers, 600, false)
		if err != nil {
			return res, err
		}
		res.High = &r
	}
	return res, nil
}

// measureLagCompare runs MeasureDeferredLag's runs in both variants, in
// pairs whose order alternates, then the sweep.
func measureLagCompare(ctx context.Context, env *Env, opts LagOptions) (LagResult, error) {
	res := LagResult{Compare: &LagCompare{}}
	c := res.Compare
	pairs := 0
	pair := func(rate float64, workers int, seedValue uint64) (LagPair, error) {
		p := LagPair{BeforeFirst: pairs%2 == 0}
		pairs++
		for i, inTx := range []bool{p.BeforeFirst, !p.BeforeFirst} {
			r, err := MeasureLagRun(ctx, env, rate, opts.For, workers, seedValue+uint64(i)*1000, inTx)
			if err != nil {
				return p, err
			}
			if inTx {
				p.Before = r
			} else {
				p.After = r
			}
		}
		return p, nil
	}
	for run := range opts.Runs {
		p, err := pair(opts.Rate, opts.Workers, uint64(500+run))
		if err != nil {
			return res, err
		}
		c.Base = append(c.Base, p)
		res.Runs = append(res.Runs, p.After)
	}
	if opts.HighRate > 0 {
		n := opts.HighRuns
		if n <= 0 {
			n = opts.Runs
		}
		for run := range n {
			p, err := pair(opts.HighRate, opts.HighWorkers, uint64(600+run))
			if err != nil {
				return res, err
			}
			c.High = append(c.High, p)
		}
		h := medianRun(c.High)
		res.High = &h
	}
	for i, rate := range opts.SweepRates {
		p, err := pair(rate, opts.HighWorkers, uint64(700+i))
		if err != nil {
			return res, err
		}
		c.Sweep = append(c.Sweep, p)
	}
	return res, nil
}

// medianRun returns the "after" run of pairs whose lag p99 is the median.
func medianRun(pairs []LagPair) LagRun {
	runs := make([]LagRun, len(pairs))
	for i, p := range pairs {
		runs[i] = p.After
	}
	slices.SortFunc(runs, func(a, b LagRun) int { return cmp.Compare(a.LagP99, b.LagP99) })
	return runs[len(runs)/2]
}

// MeasureLagRun, on the write clone, runs workers Workers (sync.NewWorker
// with the zero WorkerConfig, w.Run) and, while they run, paces deferred
// units of work (uow.AddComment, syncuow.Deferred) at rate for dur and,
// at the same time, plain single-comment writes (insert and commit, no
// queue) at rate/4, so that both commit latencies are measured under the
// same load. Every write goes to a different post (picked with seedValue),
// so each post's tv_post.updated_at is the moment a worker synced that
// write; the lag of a write is that moment minus when its commit returned.
// Deferred writers, plain writers and workers use pools of their own,
// named in application_name, and pg_stat_activity is sampled every 10 ms
// for their wait events.
//
// notifyInTx picks the variant: the NOTIFY inside every deferred write
// transaction (Config.NotifyInTransaction), or the coalesced one after
// commits.
func MeasureLagRun(ctx context.Context, env *Env, rate float64, dur time.Duration, workers int, seedValue uint64, notifyInTx bool) (LagRun, error) {
	writers := max(8, int(rate/100))
	const plainWriters = 4
	res := LagRun{TargetRate: rate, Workers: workers, Writers: writers, PlainRate: rate / 4, Load: LoadAvg(), NotifyInTx: notifyInTx}
	if env.Write == nil {
		return res, errNoWriteDB
	}
	n := int(rate * dur.Seconds())
	nPlain := max(int(res.PlainRate*dur.Seconds()), 1)
	// The warm-up: lagWarmUp of writes at the rate, on posts of their own,
	// before the measured ones, so that every pool's connections have
	// prepared their statements and the workers run at their pace.
	nWarm := max(int(rate*lagWarmUp.Seconds()), 1)
	posts := sample(env.PostIDs, n+nPlain+nWarm, seedValue)
	if len(posts) < n+nPlain+nWarm {
		return res, fmt.Errorf("bench: deferred lag: %.0f writes/s for %s need %d distinct posts, the data set has %d", rate, dur, n+nPlain+nWarm, len(posts))
	}
	warm := posts[n+nPlain:]
	users := sample(env.UserIDs, 1000, seedValue+1)

	name := env.Write.Name
	var closers []func()
	defer func() {
		for _, c := range closers {
			c()
		}
	}()
	open := func(app string, conns int) (*DB, error) {
		d, err := env.open(ctx, name, connOptions{appName: app, maxConns: int32(conns)})
		if err != nil {
			return nil, err
		}
		closers = append(closers, d.Pool.Close)
		return d, nil
	}
	deferredDB, err := open(appDeferred, writers+2)
	if err != nil {
		return res, err
	}
	plainDB, err := open(appPlain, plainWriters+1)
	if err != nil {
		return res, err
	}
	workerDB, err := open(appWorker, 2*workers+2)
	if err != nil {
		return res, err
	}
	workerEngine := blog.MustNewEngine(workerDB.Pool, tvsync.Config{Logger: env.log, SlowThreshold: -1})

	wctx, stopWorkers := context.WithCancel(ctx)
	var wg gosync.WaitGroup
	defer func() { stopWorkers(); wg.Wait() }()
	for range workers {
		w, err := tvsync.NewWorker(workerEngine, workerDB.Pool, tvsync.WorkerConfig{})
		if err != nil {
			return res, err
		}
		wg.Go(func() { _ = w.Run(wctx) })
	}
	time.Sleep(200 * time.Millisecond) // let the workers reach LISTEN

	deferredEngine := blog.MustNewEngine(deferredDB.Pool, tvsync.Config{Logger: env.log, SlowThreshold: -1, NotifyInTransaction: notifyInTx})
	if err := warmUp(ctx, env, deferredDB, plainDB, deferredEngine, warm, users, rate); err != nil {
		return res, err
	}

	sctx, stopSampling := context.WithCancel(ctx)
	sampled := make(chan sampleResult, 1)
	go func() { sampled <- sampleActivity(sctx, env, name) }()

	env.log.InfoContext(ctx, "bench: deferred lag run", slog.Int("writes", n), slog.Float64("per_second", rate),
		slog.Int("workers", workers), slog.String("variant", res.Variant()), slog.String("load", res.Load.String()))
	repo := repository.New(deferredDB.Pool, deferredEngine, repository.Options{Sync: syncuow.Deferred})
	commitLat := make([]time.Duration, n)
	committed := make([]time.Time, n)
	plain := make([]time.Duration, nPlain)
	var took time.Duration
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		var err error
		took, err = paced(gctx, n, writers, rate, func(i int) error {
			start := time.Now()
			err := repo.InTx(gctx, func(uow *repository.UnitOfWork) error {
				_, err := uow.AddComment(gctx, posts[i], users[i%len(users)], "bench deferred comment")
				return err
			})
			committed[i] = time.Now()
			commitLat[i] = committed[i].Sub(start)
			return err
		})
		if err != nil {
			return fmt.Errorf("bench: deferred paced writes: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		_, err := paced(gctx, nPlain, plainWriters, res.PlainRate, func(i int) error {
			start := time.Now()
			err := pgx.BeginFunc(gctx, plainDB.Pool, func(tx pgx.Tx) error {
				_, err := tx.Exec(gctx, "INSERT INTO tb_comment (post_id, author_id, content) VALUES ($1, $2, $3)",
					posts[n+i], users[i%len(users)], "bench plain comment")
				return err
			})
			plain[i] = time.Since(start)
			return err
		})
		if err != nil {
			return fmt.Errorf("bench: plain paced writes: %w", err)
		}
		return nil
	})
	err = g.Wait()
	stopSampling()
	s := <-sampled
	if err != nil {
		return res, err
	}
	if s.err != nil {
		return res, s.err
	}
	res.Writes, res.Duration, res.Achieved = n, took, float64(n)/took.Seconds()
	res.DeferredP50, res.DeferredP99 = Percentile(commitLat, 50), Percentile(commitLat, 99)
	res.PlainWrites = nPlain
	res.PlainP50, res.PlainP99 = Percentile(plain, 50), Percentile(plain, 99)
	res.QueueMax, res.OldestMax, res.WaitEvents, res.Samples = s.queueMax, s.oldestMax, s.top(20), s.samples

	if res.Drain, err = waitDrained(ctx, env, "the last write"); err != nil {
		return res, err
	}
	res.LoadEnd = LoadAvg()

	deferredPosts := posts[:n]
	synced := map[uuid.UUID]time.Time{}
	rows, err := env.Write.Pool.Query(ctx, "SELECT id, updated_at FROM tv_post WHERE id = ANY($1)", deferredPosts)
	if err != nil {
		return res, fmt.Errorf("bench: deferred lag: read tv_post: %w", err)
	}
	for rows.Next() {
		var id uuid.UUID
		var at time.Time
		if err := rows.Scan(&id, &at); err != nil {
			rows.Close()
			return res, fmt.Errorf("bench: deferred lag: read tv_post: %w", err)
		}
		synced[id] = at
	}
	if err := rows.Err(); err != nil {
		return res, fmt.Errorf("bench: deferred lag: read tv_post: %w", err)
	}
	lags := make([]time.Duration, 0, n)
	for i, id := range deferredPosts {
		at, ok := synced[id]
		if !ok {
			return res, fmt.Errorf("bench: deferred lag: tv_post of post %s missing", id)
		}
		lags = append(lags, at.Sub(committed[i]))
	}
	res.Measured = len(lags)
	res.LagP50, res.LagP99, res.LagMax = Percentile(lags, 50), Percentile(lags, 99), Percentile(lags, 100)
	if err := CheckPosts(ctx, env.Write.Pool, deferredPosts); err != nil {
		return res, fmt.Errorf("bench: deferred lag: %w", err)
	}
	env.log.InfoContext(ctx, "bench: deferred lag", slog.Duration("p50", res.LagP50), slog.Duration("p99", res.LagP99),
		slog.Float64("achieved_per_s", res.Achieved), slog.Float64("commit_x_plain", res.CommitRatio()),
		slog.String("load", res.Load.String()))
	return res, nil
}

// lagWarmUp is how long a lag run writes before its measured writes.
const lagWarmUp = time.Second

// warmUp writes one deferred comment on each of posts at rate, with
// engine, and as many plain ones, through the pools of the measured writes,
// then waits until the workers have drained the queue: the connections the
// measured writes use have prepared their statements, and the first
// measured writes do not pay for it (a service pays it once, when it
// starts).
func warmUp(ctx context.Context, env *Env, deferredDB, plainDB *DB, engine *tvsync.Engine, posts, users []uuid.UUID, rate float64) error {
	repo := repository.New(deferredDB.Pool, engine, repository.Options{Sync: syncuow.Deferred})
	_, err := paced(ctx, len(posts), max(8, int(rate/100)), rate, func(i int) error {
		if err := repo.InTx(ctx, func(uow *repository.UnitOfWork) error {
			_, err := uow.AddComment(ctx, posts[i], users[i%len(users)], "bench warm-up comment")
			return err
		}); err != nil {
			return err
		}
		_, err := plainDB.Pool.Exec(ctx, "INSERT INTO tb_comment (post_id, author_id, content) VALUES ($1, $2, $3)",
			posts[i], users[(i+1)%len(users)], "bench warm-up plain comment")
		return err
	})
	if err != nil {
		return fmt.Errorf("bench: deferred lag warm-up: %w", err)
	}
	_, err = waitDrained(ctx, env, "the warm-up")
	return err
}

// waitDrained waits until the write clone's queue is empty, polling every
// 5 ms, and returns how long that took; after names what the rows were
// queued by, for the error when they are still there a minute later.
func waitDrained(ctx context.Context, env *Env, after string) (time.Duration, error) {
	start := time.Now()
	for {
		st, err := env.Write.Engine.QueueStats(ctx)
		if err != nil {
			return time.Since(start), err
		}
		if st.Pending == 0 {
			return time.Since(start), nil
		}
		if time.Since(start) > time.Minute {
			return time.Since(start), fmt.Errorf("bench: deferred lag: %d rows still queued a minute after %s", st.Pending, after)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
