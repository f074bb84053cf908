package synccli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/syncmetrics"
)

// Bounds of the worker's flags.
const (
	maxWorkerBatch    = 10_000
	minPoll, maxPoll  = 10 * time.Millisecond, time.Hour
	maxWorkerAttempts = 1000
)

func (a *App) workerCommand() *cobra.Command {
	var (
		cfg         tvsync.WorkerConfig
		once        bool
		metricsAddr string
	)
	cmd := &cobra.Command{
		Use:   "worker [--once] [--metrics-addr :9090]",
		Short: "drain the durable sync queue until SIGTERM (or once with --once)",
		Long: "Drain the durable sync queue, woken by LISTEN/NOTIFY and polling, until SIGINT or SIGTERM, which\n" +
			"stop it cleanly (exit status 0). With --once it drains what is ready, reports how many queued rows\n" +
			"it synced, how many failed and what is left, and exits 1 if any failed.",
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if err := checkRange("batch", cfg.BatchSize, 1, maxWorkerBatch); err != nil {
				return err
			}
			if cfg.PollInterval < minPoll || cfg.PollInterval > maxPoll {
				return Usagef("--poll %s: want %s to %s", cfg.PollInterval, minPoll, maxPoll)
			}
			if err := checkRange("max-attempts", cfg.MaxAttempts, 1, maxWorkerAttempts); err != nil {
				return err
			}
			s, err := a.open(ctx)
			if err != nil {
				return err
			}
			defer s.close()
			engine := s.engine
			if metricsAddr != "" {
				var srv *metricsServer
				engine, srv, err = a.startMetrics(s.pool, engine, metricsAddr)
				if err != nil {
					return err
				}
				defer func() {
					if err := srv.Close(); err != nil {
						a.log.Error(a.name+" worker: stop the metrics server", slog.Any("error", err))
					}
				}()
			}
			cfg.ListenURL = a.DirectURL()
			w, err := tvsync.NewWorker(engine, s.pool, cfg)
			if err != nil {
				return err
			}
			if once {
				if err := s.ping(ctx); err != nil {
					return err
				}
				return a.drainOnce(ctx, engine, w, cfg.BatchSize)
			}
			a.log.Info(a.name+" worker started", "batch", cfg.BatchSize, "poll", cfg.PollInterval)
			err = w.Run(ctx)
			a.log.Info(a.name + " worker stopped")
			return err
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.BatchSize, "batch", tvsync.DefaultWorkerBatchSize, fmt.Sprintf("queued rows per transaction (1 to %d)", maxWorkerBatch))
	f.DurationVar(&cfg.PollInterval, "poll", tvsync.DefaultPollInterval, fmt.Sprintf("poll interval when no notification arrives (%s to %s)", minPoll, maxPoll))
	f.IntVar(&cfg.MaxAttempts, "max-attempts", tvsync.DefaultMaxAttempts, fmt.Sprintf("failed attempts before an item is parked as dead (1 to %d)", maxWorkerAttempts))
	f.DurationVar(&cfg.LockTimeout, "lock-timeout", tvsync.DefaultLockTimeout, "longest wait for a lock in a batch before its rows are left for the next try (negative: no limit)")
	f.DurationVar(&cfg.StatementTimeout, "statement-timeout", tvsync.DefaultStatementTimeout, "longest statement of a batch (negative: no limit); with --lock-timeout it bounds how long a stop waits")
	f.BoolVar(&once, "once", false, "drain what is ready, report, then exit")
	f.StringVar(&metricsAddr, "metrics-addr", "", "serve Prometheus metrics at http://ADDR/metrics while the worker runs (e.g. :9090); empty serves none")
	return cmd
}

// drainOnce takes batches until no ready row is left and reports what it
// synced, what failed or was parked, what it kept (rows of entities this
// binary does not register, or malformed ids) and what the queue still
// holds; it exits non-zero unless every row it took was synced. Rows that
// fail are rescheduled with a backoff by the worker, so each is taken at
// most once.
func (a *App) drainOnce(ctx context.Context, engine *tvsync.Engine, w *tvsync.Worker, _ int) error {
	r, runErr := w.Drain(ctx)
	var fe *tvsync.FailedError
	if errors.As(runErr, &fe) {
		runErr = nil // counted in r
	}
	fmt.Fprintf(a.stdout, "took %d queued rows: %d synced, %d failed, %d parked dead, %d kept (unknown entity or malformed id); %d dependents queued\n",
		r.Claimed, r.Synced, r.Failed, r.Dead, r.Kept, r.Queued)
	if st, err := engine.QueueStats(ctx); err == nil {
		fmt.Fprintf(a.stdout, "left in the queue: %d pending (oldest %s), %d dead\n", st.Pending, st.OldestAge.Round(time.Millisecond), st.Dead)
	} else if runErr == nil {
		runErr = err
	}
	switch {
	case runErr != nil:
		return runErr
	case r.Failed+r.Dead+r.Kept > 0:
		return &ExitError{Code: ExitFailure, Err: fmt.Errorf("%d of %d rows were not synced (%d failed and are retried after a backoff, %d parked dead, %d kept for a worker that can sync them); see `%s status` and `%s queue`",
			r.Failed+r.Dead+r.Kept, r.Claimed, r.Failed, r.Dead, r.Kept, a.name, a.name)}
	}
	return nil
}

// statusReport is the JSON form of status. Its field names are stable:
// scripts rely on them.
type statusReport struct {
	Pending          int64        `json:"pending"`
	OldestAgeSeconds float64      `json:"oldest_age_seconds"`
	Dead             int64        `json:"dead"`
	Unregistered     int64        `json:"unregistered"`
	DeadItems        []deadReport `json:"dead_items"`
}

// deadReport is one dead queue row in status.
type deadReport struct {
	Entity     string    `json:"entity"`
	ID         string    `json:"id"`
	Attempts   int       `json:"attempts"`
	LastError  string    `json:"last_error"`
	EnqueuedAt time.Time `json:"enqueued_at"`
}

// statusDeadItems is how many dead rows status lists.
const statusDeadItems = 20

func (a *App) statusCommand() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "status [--format table|json]",
		Short: "show the sync queue: depth, oldest item age, dead items",
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if err := checkFormat(format); err != nil {
				return err
			}
			s, err := a.open(ctx)
			if err != nil {
				return err
			}
			defer s.close()
			if err := s.ping(ctx); err != nil {
				return err
			}
			st, err := s.engine.QueueStats(ctx)
			if err != nil {
				return err
			}
			report := statusReport{Pending: st.Pending, OldestAgeSeconds: st.OldestAge.Seconds(), Dead: st.Dead, Unregistered: st.Unregistered, DeadItems: []deadReport{}}
			if st.Dead > 0 {
				dead, err := s.engine.DeadItems(ctx, statusDeadItems)
				if err != nil {
					return err
				}
				for _, d := range dead {
					report.DeadItems = append(report.DeadItems, deadReport{Entity: d.Entity, ID: d.ID, Attempts: d.Attempts, LastError: d.LastError, EnqueuedAt: d.EnqueuedAt})
				}
			}
			if format == "json" {
				return writeJSON(a.stdout, report)
			}
			fmt.Fprintf(a.stdout, "queue depth:      %d\n", st.Pending)
			fmt.Fprintf(a.stdout, "oldest item age:  %s\n", st.OldestAge.Round(time.Millisecond))
			fmt.Fprintf(a.stdout, "dead items:       %d\n", st.Dead)
			if st.Unregistered > 0 {
				fmt.Fprintf(a.stdout, "unregistered:     %d (rows of entities this binary does not register; a newer version's worker syncs them)\n", st.Unregistered)
			}
			for _, d := range report.DeadItems {
				fmt.Fprintf(a.stdout, "  %s %s attempts=%d queued=%s error=%s\n", d.Entity, d.ID, d.Attempts, d.EnqueuedAt.Format(time.RFC3339), d.LastError)
			}
			if st.Dead > 0 {
				fmt.Fprintf(a.stdout, "retry them with: %s queue retry\n", a.name)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "output: table (for people) or json (for scripts)")
	return cmd
}

func (a *App) queueCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "queue",
		Short: "manage the sync queue: queue retry (revive dead items)",
		Args:  cobra.ArbitraryArgs,
		RunE:  parentRun,
	}
	var format string
	retry := &cobra.Command{
		Use:   "retry [--format table|json]",
		Short: "revive every dead queue item for an immediate retry",
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if err := checkFormat(format); err != nil {
				return err
			}
			s, err := a.open(ctx)
			if err != nil {
				return err
			}
			defer s.close()
			if err := s.ping(ctx); err != nil {
				return err
			}
			n, err := s.engine.RetryDead(ctx)
			if err != nil {
				return err
			}
			if format == "json" {
				return writeJSON(a.stdout, struct {
					Revived int64 `json:"revived"`
				}{n})
			}
			fmt.Fprintf(a.stdout, "revived %d dead items\n", n)
			return nil
		},
	}
	retry.Flags().StringVar(&format, "format", "table", "output: table (for people) or json (for scripts)")
	cmd.AddCommand(retry)
	return cmd
}

// metricsServer serves Prometheus metrics over HTTP until Close.
type metricsServer struct {
	srv  *http.Server
	url  string
	done chan error
}

// startMetrics returns an engine over pool whose syncs, together with the
// sync queue's gauges (read through queue, an engine on the same
// database) and the Go runtime and process collectors, are served at
// http://addr/metrics from a registry of their own. The sync series of
// every entity of queue start at zero. It fails, serving nothing, when addr
// cannot be listened on (a usage error). Close the server to stop it.
func (a *App) startMetrics(pool *pgxpool.Pool, queue *tvsync.Engine, addr string) (*tvsync.Engine, *metricsServer, error) {
	m, err := syncmetrics.New(syncmetrics.Options{Queue: queue, Entities: queue.Entities(), Logger: a.log})
	if err != nil {
		return nil, nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(m, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	engine, err := a.engineWith(pool, tvsync.Config{Observer: m})
	if err != nil {
		return nil, nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, Usagef("--metrics-addr %q: %v", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.InstrumentMetricHandler(reg, promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(a.log.Handler(), slog.LevelError),
	})))
	s := &metricsServer{
		srv:  &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second},
		url:  "http://" + ln.Addr().String() + "/metrics",
		done: make(chan error, 1),
	}
	go func() { s.done <- s.srv.Serve(ln) }()
	a.log.Info(a.name+" worker serving metrics", slog.String("url", s.url))
	return engine, s, nil
}

// Close stops accepting scrapes, waits up to five seconds for those in
// flight, and returns when the server has stopped.
func (s *metricsServer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if serr := <-s.done; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	if err != nil {
		return fmt.Errorf("metrics server %s: %w", s.url, err)
	}
	return nil
}
