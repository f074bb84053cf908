package bench

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/tvsync/tvsync/repository"
	"github.com/tvsync/tvsync/sync/syncread"
)

// Replica read variants.
const (
	// ReplicaPrimary is repo.GetPost on the primary alone (no router).
	ReplicaPrimary = "primary alone"
	// ReplicaToken is repo.GetPost through a syncread.Router over the
	// primary and one streaming replica, every read carrying a token taken
	// on the primary at the start of the run.
	ReplicaToken = "primary + replica, token reads"
)

// ReplicaVariants lists the replica read variants in report order.
var ReplicaVariants = []string{ReplicaPrimary, ReplicaToken}

// ReplicaStarter starts a streaming replica of the suite's server and
// returns the URL of its "postgres" database and a function that stops it.
type ReplicaStarter func(ctx context.Context) (adminURL string, stop func(), err error)

// ReplicaReadResult is the replica read measurement.
type ReplicaReadResult struct {
	// Readers and PerReader: concurrent readers, reads per reader per run.
	Readers, PerReader int
	// Rates[variant] in reads per second, runs in order.
	Rates map[string]Rate
	// Loads is the 1-minute load average at the start of each run.
	Loads []Load
	// Stats are the router's counts after the token runs: reads served by
	// the replica and by the primary, fallbacks, waits.
	Stats syncread.Stats
	// StartReplica is how long pg_basebackup and the replica's start took.
	StartReplica time.Duration
}

// MeasureReplicaReads starts a replica with start, waits until it has
// replayed the primary's position, then measures repo.GetPost under readers
// concurrent readers on the primary alone and through a router over the
// primary and the replica with token reads, alternating the two run by run
// on the same ids; the replica is stopped before it returns. On one machine
// the replica shares the primary's cores: the figure shows what a token read
// costs (its replay-position check on the serving connection), not the
// capacity a replica on its own host adds.
func MeasureReplicaReads(ctx context.Context, env *Env, start ReplicaStarter, readers, perReader, runs int) (ReplicaReadResult, error) {
	res := ReplicaReadResult{Readers: readers, PerReader: perReader, Rates: map[string]Rate{}}
	began := time.Now()
	admin, stop, err := start(ctx)
	if err != nil {
		return res, err
	}
	defer stop()
	res.StartReplica = time.Since(began)
	replicaURL, err := sameDatabaseOn(env.URL, admin)
	if err != nil {
		return res, err
	}
	cfg, err := pgxpool.ParseConfig(replicaURL)
	if err != nil {
		return res, fmt.Errorf("bench: parse the replica's URL: %w", err)
	}
	cfg.MaxConns = int32(readers + 2)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return res, fmt.Errorf("bench: open a pool on the replica: %w", err)
	}
	defer pool.Close()
	router := syncread.New(env.Pool, []syncread.Replica{{Name: "replica", Pool: pool}}, syncread.Config{Wait: 5 * time.Second})
	routed := repository.New(env.Pool, env.Engine, repository.Options{Reads: router})
	at, err := syncread.Position(ctx, env.Pool)
	if err != nil {
		return res, err
	}
	if err := waitReplay(ctx, pool, at); err != nil {
		return res, err
	}

	ids := sample(env.PostIDs, min(readers*perReader, len(env.PostIDs)), 401)
	rates := map[string][]float64{}
	for range runs {
		res.Loads = append(res.Loads, LoadAvg())
		for _, v := range ReplicaVariants {
			repo, rctx := env.Repo, ctx
			if v == ReplicaToken {
				token, err := syncread.Position(ctx, env.Pool)
				if err != nil {
					return res, err
				}
				repo, rctx = routed, syncread.WithToken(ctx, token)
			}
			rate, err := repoReadLoad(rctx, repo, ids, readers, perReader)
			if err != nil {
				return res, fmt.Errorf("bench: %s: %w", v, err)
			}
			rates[v] = append(rates[v], rate)
		}
	}
	for v, rs := range rates {
		res.Rates[v] = SummarizeRates(rs)
	}
	res.Stats = router.Stats()
	env.log.InfoContext(ctx, "bench: replica reads", slog.Float64("primary_per_s", res.Rates[ReplicaPrimary].Median),
		slog.Float64("token_per_s", res.Rates[ReplicaToken].Median), slog.Int64("served_by_replica", res.Stats.Replicas[0].Served),
		slog.Int64("served_by_primary", res.Stats.Primary))
	return res, nil
}

// repoReadLoad runs readers goroutines that each read perReader posts of
// ids with repo.GetPost, and returns the throughput in reads per second.
func repoReadLoad(ctx context.Context, repo *repository.Repository, ids []uuid.UUID, readers, perReader int) (float64, error) {
	g, gctx := errgroup.WithContext(ctx)
	begin := time.Now()
	for r := range readers {
		g.Go(func() error {
			for i := range perReader {
				if _, err := repo.GetPost(gctx, ids[(r*perReader+i)%len(ids)]); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}
	return float64(readers*perReader) / time.Since(begin).Seconds(), nil
}

// sameDatabaseOn returns dbURL with the host and port of serverURL.
func sameDatabaseOn(dbURL, serverURL string) (string, error) {
	d, err := url.Parse(dbURL)
	if err != nil {
		return "", fmt.Errorf("bench: parse the database URL: %w", err)
	}
	s, err := url.Parse(serverURL)
	if err != nil {
		return "", fmt.Errorf("bench: parse the replica's URL: %w", err)
	}
	if _, _, err := net.SplitHostPort(s.Host); err != nil {
		return "", fmt.Errorf("bench: the replica's URL names no port: %w", err)
	}
	d.Host = s.Host
	return d.String(), nil
}

// waitReplay waits until the replica of pool has replayed at, up to a
// minute.
func waitReplay(ctx context.Context, pool *pgxpool.Pool, at syncread.LSN) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		var done bool
		err := pool.QueryRow(ctx, "SELECT pg_catalog.pg_last_wal_replay_lsn() >= $1::text::pg_lsn", at.String()).Scan(&done)
		if err == nil && done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("bench: the replica did not replay %s (last error: %v): %w", at, err, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}
