package main

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

	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/syncmetrics"
)

func init() {
	commands["worker"] = command{"drain the durable sync queue until SIGTERM (or once with --once)", runWorker}
	commands["status"] = command{"show the sync queue: depth, oldest item age, dead items", runStatus}
	commands["queue"] = command{"manage the sync queue: queue retry (revive dead items)", runQueue}
}

func runWorker(ctx context.Context, a *app, args []string) error {
	fs := a.flags("worker")
	var cfg tvsync.WorkerConfig
	fs.IntVar(&cfg.BatchSize, "batch", 300, "queued rows per transaction")
	fs.DurationVar(&cfg.PollInterval, "poll", time.Second, "poll interval when no notification arrives")
	fs.IntVar(&cfg.MaxAttempts, "max-attempts", 10, "failed attempts before an item is parked as dead")
	once := fs.Bool("once", false, "drain what is ready, then exit")
	metricsAddr := fs.String("metrics-addr", "", "serve Prometheus metrics at http://ADDR/metrics while the worker runs (e.g. :9090); empty serves none")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	pool, err := a.connect(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	engine := a.engine(pool)
	if *metricsAddr != "" {
		var srv *metricsServer
		engine, srv, err = a.startMetrics(pool, *metricsAddr)
		if err != nil {
			return err
		}
		defer func() {
			if err := srv.Close(); err != nil {
				a.log.Error("tvsync worker: stop the metrics server", slog.Any("error", err))
			}
		}()
	}
	w := tvsync.NewWorker(engine, pool, cfg)
	if *once {
		n, err := w.Drain(ctx)
		fmt.Fprintf(a.stdout, "drained %d queued rows\n", n)
		return err
	}
	a.log.Info("tvsync worker started", "batch", cfg.BatchSize, "poll", cfg.PollInterval)
	err = w.Run(ctx)
	a.log.Info("tvsync worker stopped")
	return err
}

func runStatus(ctx context.Context, a *app, args []string) error {
	fs := a.flags("status")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	pool, err := a.connect(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	engine := a.engine(pool)
	st, err := engine.QueueStats(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "queue depth:      %d\n", st.Pending)
	fmt.Fprintf(a.stdout, "oldest item age:  %s\n", st.OldestAge.Round(time.Millisecond))
	fmt.Fprintf(a.stdout, "dead items:       %d\n", st.Dead)
	if st.Dead > 0 {
		dead, err := engine.DeadItems(ctx, 20)
		if err != nil {
			return err
		}
		for _, d := range dead {
			fmt.Fprintf(a.stdout, "  %s %s attempts=%d queued=%s error=%s\n", d.Entity, d.ID, d.Attempts, d.EnqueuedAt.Format(time.RFC3339), d.LastError)
		}
		fmt.Fprintln(a.stdout, "retry them with: tvsync queue retry")
	}
	return nil
}

func runQueue(ctx context.Context, a *app, args []string) error {
	if len(args) == 0 || args[0] != "retry" {
		return fmt.Errorf("%w: usage: tvsync queue retry", errUsage)
	}
	fs := a.flags("queue retry")
	if err := parse(fs, args[1:], 0); err != nil {
		return err
	}
	pool, err := a.connect(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	n, err := a.engine(pool).RetryDead(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "revived %d dead items\n", n)
	return nil
}

// metricsServer serves Prometheus metrics over HTTP until Close.
type metricsServer struct {
	srv  *http.Server
	url  string
	done chan error
}

// startMetrics returns an engine over pool whose syncs, together with the
// sync queue's gauges and the Go and process collectors, are served at
// http://addr/metrics from a registry of their own. It fails, serving
// nothing, when addr cannot be listened on. Close the server to stop it.
func (a *app) startMetrics(pool *pgxpool.Pool, addr string) (*tvsync.Engine, *metricsServer, error) {
	// The queue is read through an engine of its own: the observed engine
	// needs the metrics before it exists.
	m := syncmetrics.New(syncmetrics.Options{Queue: tvsync.New(pool, tvsync.Config{}), Logger: a.log})
	reg := prometheus.NewRegistry()
	reg.MustRegister(m, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	engine := tvsync.New(pool, tvsync.Config{Logger: a.log, Observer: m})

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: --metrics-addr %q: %v", errUsage, addr, err)
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
	a.log.Info("tvsync worker serving metrics", slog.String("url", s.url))
	return engine, s, nil
}

// URL is the address of the metrics page, with the port actually bound.
func (s *metricsServer) URL() string { return s.url }

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
