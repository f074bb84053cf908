package syncread

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Refresh reads every replica's state (replay position, paused or not, lag
// in bytes behind the primary and in seconds) and the primary's position:
// a replica that answers and replays is usable again at once, one whose
// replay is paused is skipped until a Refresh finds it replaying, one that
// does not answer is skipped for Config.RetryAfter. It returns the
// primary's error only; replicas' failures are their state.
func (r *Router) Refresh(ctx context.Context) error {
	at, err := Position(ctx, r.primary)
	if err != nil {
		return err
	}
	for _, rep := range r.replicas {
		var (
			replay     *string
			paused     bool
			lagSeconds float64
		)
		err := rep.pool.QueryRow(ctx, `SELECT pg_catalog.pg_last_wal_replay_lsn()::text, pg_catalog.pg_is_wal_replay_paused(),
			COALESCE(EXTRACT(epoch FROM now() - pg_catalog.pg_last_xact_replay_timestamp()), 0)::float8`).Scan(&replay, &paused, &lagSeconds)
		if err == nil && replay == nil {
			err = errors.New("pg_last_wal_replay_lsn() is null: not a replica")
		}
		var replayed LSN
		if err == nil {
			replayed, err = ParseLSN(*replay)
		}
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("syncread: refresh %s: %w", rep.name, ctx.Err())
			}
			r.markDown(rep, err)
			continue
		}
		rep.mu.Lock()
		if rep.paused != paused {
			r.log.Info("syncread: replica replay state changed", "replica", rep.name, "paused", paused)
		}
		rep.paused = paused
		rep.downUntil = time.Time{}
		rep.replayed = max(rep.replayed, replayed)
		rep.lagBytes = 0
		rep.lagSeconds = 0
		if at > replayed {
			// Behind: the time since the last transaction it replayed
			// committed. Caught up: no lag, however old that transaction.
			rep.lagBytes = float64(at - replayed)
			rep.lagSeconds = max(lagSeconds, 0)
		}
		rep.mu.Unlock()
	}
	return nil
}

// Run calls Refresh every interval (zero: one second) until ctx ends,
// logging the primary's errors, and returns nil then.
func (r *Router) Run(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		interval = time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := r.Refresh(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("syncread: refresh the replicas' state", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Stats is a snapshot of a Router's counts and its replicas' state.
type Stats struct {
	// Primary counts the reads the primary served (fallbacks included).
	Primary int64
	// Fallbacks counts the token reads no replica reached in Config.Wait.
	Fallbacks int64
	// Waited counts the token reads that had to wait for a replica.
	Waited int64
	// Replicas are the replicas' figures, in the order given to New.
	Replicas []ReplicaStats
}

// ReplicaStats are one replica's figures.
type ReplicaStats struct {
	// Name is the replica's name.
	Name string
	// Served counts the reads it served.
	Served int64
	// Failed counts the times it was skipped after a failure.
	Failed int64
	// Usable is whether it may serve reads now (not skipped, not paused).
	Usable bool
	// Paused is whether the last Refresh found its replay paused.
	Paused bool
	// Replayed is the highest replay position seen.
	Replayed LSN
	// LagBytes and LagSeconds are the lag the last Refresh measured.
	LagBytes, LagSeconds float64
}

// Stats returns the router's counts and its replicas' state.
func (r *Router) Stats() Stats {
	s := Stats{Primary: r.primaryReads.Load(), Fallbacks: r.fallbacks.Load(), Waited: r.waited.Load()}
	now := time.Now()
	for _, rep := range r.replicas {
		usable := rep.usable(now)
		rep.mu.Lock()
		s.Replicas = append(s.Replicas, ReplicaStats{
			Name: rep.name, Served: rep.served.Load(), Failed: rep.failed.Load(), Usable: usable, Paused: rep.paused,
			Replayed: rep.replayed, LagBytes: rep.lagBytes, LagSeconds: rep.lagSeconds,
		})
		rep.mu.Unlock()
	}
	return s
}

// descriptions are the router's metrics, built per namespace.
func (r *Router) descriptions() (reads, fallbacks, waited, up, lagBytes, lagSeconds *prometheus.Desc) {
	ns := r.cfg.Namespace
	reads = prometheus.NewDesc(ns+"_read_total", "tv_ reads served, by target (primary or a replica's name).", []string{"target"}, nil)
	fallbacks = prometheus.NewDesc(ns+"_read_fallbacks_total", "Token reads that no replica reached within the wait.", nil, nil)
	waited = prometheus.NewDesc(ns+"_read_waits_total", "Token reads that waited for a replica to replay their token.", nil, nil)
	up = prometheus.NewDesc(ns+"_replica_usable", "1 when the replica may serve reads (not skipped after a failure, not paused).", []string{"replica"}, nil)
	lagBytes = prometheus.NewDesc(ns+"_replica_lag_bytes", "WAL bytes the replica's replay is behind the primary (last refresh).", []string{"replica"}, nil)
	lagSeconds = prometheus.NewDesc(ns+"_replica_lag_seconds", "Seconds since the last transaction the replica replayed committed, when it is behind (last refresh).", []string{"replica"}, nil)
	return
}

// Describe implements prometheus.Collector.
func (r *Router) Describe(ch chan<- *prometheus.Desc) {
	a, b, c, d, e, f := r.descriptions()
	for _, desc := range []*prometheus.Desc{a, b, c, d, e, f} {
		ch <- desc
	}
}

// Collect implements prometheus.Collector: the counts, and each replica's
// state and lag as of the last Refresh.
func (r *Router) Collect(ch chan<- prometheus.Metric) {
	reads, fallbacks, waited, up, lagBytes, lagSeconds := r.descriptions()
	s := r.Stats()
	ch <- prometheus.MustNewConstMetric(reads, prometheus.CounterValue, float64(s.Primary), "primary")
	ch <- prometheus.MustNewConstMetric(fallbacks, prometheus.CounterValue, float64(s.Fallbacks))
	ch <- prometheus.MustNewConstMetric(waited, prometheus.CounterValue, float64(s.Waited))
	for _, rep := range s.Replicas {
		usable := 0.0
		if rep.Usable {
			usable = 1
		}
		ch <- prometheus.MustNewConstMetric(reads, prometheus.CounterValue, float64(rep.Served), rep.Name)
		ch <- prometheus.MustNewConstMetric(up, prometheus.GaugeValue, usable, rep.Name)
		ch <- prometheus.MustNewConstMetric(lagBytes, prometheus.GaugeValue, rep.LagBytes, rep.Name)
		ch <- prometheus.MustNewConstMetric(lagSeconds, prometheus.GaugeValue, rep.LagSeconds, rep.Name)
	}
}
