// Package syncmetrics exposes what the tvsync engine does as Prometheus
// metrics.
//
// A Metrics is both the engine's sync.Observer and a prometheus.Collector.
// Register it yourself and hand it to the engine:
//
//	queue, err := sync.NewEngine(pool, sync.Config{}, entities...)
//	// ...
//	m, err := syncmetrics.New(syncmetrics.Options{Queue: queue, Entities: queue.Entities()})
//	// ...
//	prometheus.MustRegister(m)
//	engine, err := sync.NewEngine(pool, sync.Config{Observer: m}, entities...)
//
// Entities makes the sync series of every registered entity start at zero,
// so that they exist before the first sync. The engine that reports the
// queue can be any engine on the same database:
// QueueStats only reads tvsync.sync_queue, so a second, unobserved engine breaks the
// cycle between the engine needing its Observer and the Metrics needing its
// queue.
//
// Metrics, with the default namespace "tvsync":
//
//	tvsync_sync_duration_seconds{entity,mode}   histogram of committed batch durations (database time)
//	tvsync_sync_batches_total{entity,mode}      committed entity batches
//	tvsync_sync_rows_total{entity,outcome}      ids by outcome: upserted, unchanged, deleted, missing, failed
//	tvsync_queue_depth                          tvsync.sync_queue rows waiting (with Options.Queue)
//	tvsync_queue_oldest_age_seconds             age of the oldest waiting row (with Options.Queue)
//	tvsync_queue_dead                           rows parked as dead (with Options.Queue)
//	tvsync_queue_scrape_errors_total            scrapes whose queue read failed (with Options.Queue)
//
// Every requested id is counted once as upserted, unchanged, missing or
// failed; deleted counts the tv_ rows removed, which are a subset of the
// missing ids. An id that fails alone after isolation is counted as failed
// but adds no batch and no duration, since nothing of it committed.
package syncmetrics

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tvsync/tvsync/sync"
)

// Outcomes are the values of the outcome label of the rows counter.
const (
	OutcomeUpserted  = "upserted"
	OutcomeUnchanged = "unchanged"
	OutcomeDeleted   = "deleted"
	OutcomeMissing   = "missing"
	OutcomeFailed    = "failed"
)

// DurationBuckets are the upper bounds, in seconds, of the sync duration
// histogram: from half a millisecond to ten seconds.
var DurationBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// Defaults of Options.
const (
	// DefaultNamespace prefixes every metric name when Options.Namespace is
	// empty.
	DefaultNamespace = "tvsync"
	// DefaultQueueTimeout bounds how long a scrape waits for the queue
	// stats when Options.QueueTimeout is zero.
	DefaultQueueTimeout = 2 * time.Second
)

// QueueStatser reads the durable queue's stats; *sync.Engine satisfies it.
type QueueStatser interface {
	QueueStats(ctx context.Context) (sync.QueueStats, error)
}

// Options configures New. The zero value is usable; New rejects the values
// described as invalid, naming the field.
type Options struct {
	// Namespace prefixes every metric name; empty means DefaultNamespace.
	// It must make valid Prometheus metric names.
	Namespace string
	// Queue, if set, is read at every scrape for the queue gauges.
	Queue QueueStatser
	// QueueTimeout bounds each scrape's queue read; zero means
	// DefaultQueueTimeout, and a negative value is invalid.
	QueueTimeout time.Duration
	// Logger receives a warning when a scrape cannot read the queue; nil
	// discards it.
	Logger *slog.Logger
	// Entities, if set, are the registered entities (Engine.Entities):
	// their sync series start at zero for every mode and outcome, so that
	// they exist before the first sync, as Prometheus advises. An empty
	// name is invalid.
	Entities []string
}

// validate returns an error naming the first invalid field of o. The
// namespace is checked by New, against the metric names it makes.
func (o Options) validate() error {
	if o.QueueTimeout < 0 {
		return fmt.Errorf("syncmetrics: Options.QueueTimeout %s: want 0 (DefaultQueueTimeout, %s) or more", o.QueueTimeout, DefaultQueueTimeout)
	}
	for i, entity := range o.Entities {
		if entity == "" {
			return fmt.Errorf("syncmetrics: Options.Entities[%d]: empty entity name", i)
		}
	}
	return nil
}

// modes are the sync modes whose series Options.Entities pre-initializes.
var modes = []sync.Mode{sync.ModeIncremental, sync.ModeFull, sync.ModeDeferred, sync.ModeRepair}

// outcomes are the values of the rows counter's outcome label.
var outcomes = []string{OutcomeUpserted, OutcomeUnchanged, OutcomeDeleted, OutcomeMissing, OutcomeFailed}

// Metrics records sync outcomes as Prometheus metrics. It implements
// sync.Observer and prometheus.Collector and is safe for concurrent use.
type Metrics struct {
	duration *prometheus.HistogramVec
	batches  *prometheus.CounterVec
	rows     *prometheus.CounterVec

	queue        QueueStatser
	queueTimeout time.Duration
	log          *slog.Logger
	queueDepth   *prometheus.Desc
	queueOldest  *prometheus.Desc
	queueDead    *prometheus.Desc
	queueErrors  prometheus.Counter
}

// New returns unregistered metrics; register them with a
// prometheus.Registerer and pass them as sync.Config.Observer. It returns
// an error naming the field when opts holds an invalid value (see Options).
func New(opts Options) (*Metrics, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	ns := opts.Namespace
	if ns == "" {
		ns = DefaultNamespace
	}
	m := &Metrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: "sync", Name: "duration_seconds",
			Help:    "Database time of each committed entity batch, in seconds.",
			Buckets: DurationBuckets,
		}, []string{"entity", "mode"}),
		batches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: "sync", Name: "batches_total",
			Help: "Committed entity batches.",
		}, []string{"entity", "mode"}),
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: "sync", Name: "rows_total",
			Help: "Synced ids by outcome: upserted, unchanged, missing or failed (each id once), and deleted tv_ rows.",
		}, []string{"entity", "outcome"}),
		queue:        opts.Queue,
		queueTimeout: opts.QueueTimeout,
		log:          opts.Logger,
	}
	if m.queueTimeout <= 0 {
		m.queueTimeout = DefaultQueueTimeout
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	for _, entity := range opts.Entities {
		for _, mode := range modes {
			m.duration.WithLabelValues(entity, string(mode))
			m.batches.WithLabelValues(entity, string(mode))
		}
		for _, outcome := range outcomes {
			m.rows.WithLabelValues(entity, outcome)
		}
	}
	if m.queue != nil {
		m.queueDepth = prometheus.NewDesc(prometheus.BuildFQName(ns, "queue", "depth"),
			"Rows in sync_queue waiting for a sync (dead rows excluded).", nil, nil)
		m.queueOldest = prometheus.NewDesc(prometheus.BuildFQName(ns, "queue", "oldest_age_seconds"),
			"Age of the oldest waiting sync_queue row, in seconds; 0 when none waits.", nil, nil)
		m.queueDead = prometheus.NewDesc(prometheus.BuildFQName(ns, "queue", "dead"),
			"Rows in sync_queue parked as dead after too many failed attempts.", nil, nil)
		m.queueErrors = prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: "queue", Name: "scrape_errors_total",
			Help: "Scrapes that could not read sync_queue; the queue gauges are left out of those scrapes.",
		})
	}
	// Registering on a registry of its own checks every metric's name
	// with Prometheus's own rules, as the caller's registry would later.
	if err := prometheus.NewRegistry().Register(m); err != nil {
		return nil, fmt.Errorf("syncmetrics: Options.Namespace %q: %w", opts.Namespace, err)
	}
	return m, nil
}

// ObserveSync records one entity batch. It implements sync.Observer.
func (m *Metrics) ObserveSync(r sync.EntityResult) {
	mode := string(r.Mode)
	m.rows.WithLabelValues(r.Entity, OutcomeUpserted).Add(float64(r.Upserted))
	m.rows.WithLabelValues(r.Entity, OutcomeUnchanged).Add(float64(r.Unchanged))
	m.rows.WithLabelValues(r.Entity, OutcomeDeleted).Add(float64(r.Deleted))
	m.rows.WithLabelValues(r.Entity, OutcomeMissing).Add(float64(r.Missing))
	m.rows.WithLabelValues(r.Entity, OutcomeFailed).Add(float64(r.Failed))
	if r.Failed > 0 && r.Failed >= r.Requested {
		return // an isolated failure: nothing committed, no batch, no duration
	}
	m.batches.WithLabelValues(r.Entity, mode).Inc()
	m.duration.WithLabelValues(r.Entity, mode).Observe(r.Duration.Seconds())
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	m.duration.Describe(ch)
	m.batches.Describe(ch)
	m.rows.Describe(ch)
	if m.queue != nil {
		ch <- m.queueDepth
		ch <- m.queueOldest
		ch <- m.queueDead
		m.queueErrors.Describe(ch)
	}
}

// Collect implements prometheus.Collector. With a Queue it reads the queue
// stats, waiting at most QueueTimeout; when that fails it logs a warning,
// counts the error and leaves the queue gauges out of this scrape, so the
// sync metrics are still served.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.duration.Collect(ch)
	m.batches.Collect(ch)
	m.rows.Collect(ch)
	if m.queue == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), m.queueTimeout)
	defer cancel()
	st, err := m.queue.QueueStats(ctx)
	if err != nil {
		m.queueErrors.Inc()
		m.log.WarnContext(ctx, "tvsync: metrics scrape could not read the sync queue", slog.Any("error", err))
	} else {
		ch <- prometheus.MustNewConstMetric(m.queueDepth, prometheus.GaugeValue, float64(st.Pending))
		ch <- prometheus.MustNewConstMetric(m.queueOldest, prometheus.GaugeValue, st.OldestAge.Seconds())
		ch <- prometheus.MustNewConstMetric(m.queueDead, prometheus.GaugeValue, float64(st.Dead))
	}
	m.queueErrors.Collect(ch)
}

var (
	_ sync.Observer        = (*Metrics)(nil)
	_ prometheus.Collector = (*Metrics)(nil)
)
