package bench

import (
	"context"
	"fmt"
	"log/slog"
	gosync "sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tvsync/tvsync/repository"
	tvsync "github.com/tvsync/tvsync/sync"
)

// LagResult is the deferred-mode lag measurement.
type LagResult struct {
	// TargetRate is the paced write rate asked for (writes/s); Achieved is
	// what the writers sustained; Duration how long the deferred phase ran.
	TargetRate, Achieved float64
	Duration             time.Duration
	Workers, Writers     int
	// Writes is how many deferred units of work committed; Measured how
	// many of them had a lag measured (their post written only once).
	Writes, Measured int
	// Lag is commit → tv_post current, per write.
	LagP50, LagP99, LagMax time.Duration
	// Commit latency (begin to commit returned) of the deferred units of
	// work and of plain writes (same insert, no queue) at the same rate.
	DeferredP50, DeferredP99 time.Duration
	PlainP50, PlainP99       time.Duration
	PlainWrites              int
	// Drain is how long the queue took to empty after the last write.
	Drain time.Duration
}

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

// MeasureDeferredLag, on the write clone, first paces plain single-comment
// writes (insert and commit, no sync) at rate for plainFor, then runs
// workers Workers (sync.NewWorker with the zero WorkerConfig, w.Run) and
// paces deferred units of work (uow.AddComment in SyncDeferred mode) at rate
// for dur. Every write goes to a different post, so each post's
// tv_post.updated_at is the moment the worker synced that write; the lag
// of a write is that moment minus when its commit returned.
func MeasureDeferredLag(ctx context.Context, env *Env, rate float64, dur, plainFor time.Duration, workers int) (LagResult, error) {
	const writers = 8
	res := LagResult{TargetRate: rate, Workers: workers, Writers: writers}
	if env.Write == nil {
		return res, errNoWriteDB
	}
	d := env.Write
	n := int(rate * dur.Seconds())
	nPlain := int(rate * plainFor.Seconds())
	posts := sample(env.PostIDs, n+nPlain, 500)
	users := sample(env.UserIDs, 1000, 501)
	post := func(i int) uuid.UUID { return posts[i%len(posts)] }

	env.log.InfoContext(ctx, "bench: deferred lag: plain writes", slog.Int("writes", nPlain), slog.Float64("per_second", rate))
	plain := make([]time.Duration, nPlain)
	_, err := paced(ctx, nPlain, writers, rate, func(i int) error {
		start := time.Now()
		err := pgx.BeginFunc(ctx, d.Pool, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, "INSERT INTO tb_comment (post_id, author_id, content) VALUES ($1, $2, $3)",
				post(n+i), users[i%len(users)], "bench plain comment")
			return err
		})
		plain[i] = time.Since(start)
		return err
	})
	if err != nil {
		return res, fmt.Errorf("bench: plain paced writes: %w", err)
	}
	res.PlainWrites = nPlain
	res.PlainP50, res.PlainP99 = Percentile(plain, 50), Percentile(plain, 99)

	wctx, stop := context.WithCancel(ctx)
	var wg gosync.WaitGroup
	for range workers {
		w := tvsync.NewWorker(d.Engine, d.Pool, tvsync.WorkerConfig{})
		wg.Go(func() { _ = w.Run(wctx) })
	}
	defer func() { stop(); wg.Wait() }()
	time.Sleep(200 * time.Millisecond) // let the workers reach LISTEN

	env.log.InfoContext(ctx, "bench: deferred lag: deferred units of work", slog.Int("writes", n),
		slog.Float64("per_second", rate), slog.Int("workers", workers))
	repo := repository.New(d.Pool, d.Engine, repository.Options{Sync: repository.SyncDeferred})
	commitLat := make([]time.Duration, n)
	committed := make([]time.Time, n)
	took, err := paced(ctx, n, writers, rate, func(i int) error {
		start := time.Now()
		err := repo.InTx(ctx, func(uow *repository.UnitOfWork) error {
			_, err := uow.AddComment(ctx, post(i), users[i%len(users)], "bench deferred comment")
			return err
		})
		committed[i] = time.Now()
		commitLat[i] = committed[i].Sub(start)
		return err
	})
	if err != nil {
		return res, fmt.Errorf("bench: deferred paced writes: %w", err)
	}
	res.Writes, res.Duration, res.Achieved = n, took, float64(n)/took.Seconds()
	res.DeferredP50, res.DeferredP99 = Percentile(commitLat, 50), Percentile(commitLat, 99)

	drainStart := time.Now()
	for {
		st, err := d.Engine.QueueStats(ctx)
		if err != nil {
			return res, err
		}
		if st.Pending == 0 {
			break
		}
		if time.Since(drainStart) > time.Minute {
			return res, fmt.Errorf("bench: deferred lag: %d rows still queued a minute after the last write", st.Pending)
		}
		time.Sleep(20 * time.Millisecond)
	}
	res.Drain = time.Since(drainStart)

	written := map[uuid.UUID]int{}
	for i := range n {
		written[post(i)]++
	}
	rows, err := d.Pool.Query(ctx, "SELECT id, updated_at FROM tv_post WHERE id = ANY($1)", posts[:min(n, len(posts))])
	if err != nil {
		return res, fmt.Errorf("bench: deferred lag: read tv_post: %w", err)
	}
	synced := map[uuid.UUID]time.Time{}
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
	var lags []time.Duration
	for i := range n {
		if written[post(i)] != 1 {
			continue
		}
		at, ok := synced[post(i)]
		if !ok {
			return res, fmt.Errorf("bench: deferred lag: tv_post of post %s missing", post(i))
		}
		lags = append(lags, at.Sub(committed[i]))
	}
	res.Measured = len(lags)
	res.LagP50, res.LagP99, res.LagMax = Percentile(lags, 50), Percentile(lags, 99), Percentile(lags, 100)
	if err := CheckPosts(ctx, d.Pool, posts[:min(n, len(posts))]); err != nil {
		return res, fmt.Errorf("bench: deferred lag: %w", err)
	}
	env.log.InfoContext(ctx, "bench: deferred lag", slog.Duration("p50", res.LagP50), slog.Duration("p99", res.LagP99),
		slog.Float64("achieved_per_s", res.Achieved))
	return res, nil
}
