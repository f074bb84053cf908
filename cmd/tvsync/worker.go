package main

import (
	"context"
	"fmt"
	"time"

	tvsync "github.com/tvsync/tvsync/sync"
)

func init() {
	commands["worker"] = command{"drain the durable sync queue until SIGTERM (or once with --once)", runWorker}
	commands["status"] = command{"show the sync queue: depth, oldest item age, dead items", runStatus}
	commands["queue"] = command{"manage the sync queue: queue retry (revive dead items)", runQueue}
}

func runWorker(ctx context.Context, a *app, args []string) error {
	fs := a.flags("worker")
	var cfg tvsync.WorkerConfig
	fs.IntVar(&cfg.BatchSize, "batch", 500, "queued rows per transaction")
	fs.DurationVar(&cfg.PollInterval, "poll", time.Second, "poll interval when no notification arrives")
	fs.IntVar(&cfg.MaxAttempts, "max-attempts", 10, "failed attempts before an item is parked as dead")
	once := fs.Bool("once", false, "drain what is ready, then exit")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	pool, err := a.connect(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	w := tvsync.NewWorker(a.engine(pool), pool, cfg)
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
