package main

import (
	"context"
	"fmt"
	"time"

	tvsync "github.com/tvsync/tvsync/sync"
)

func init() {
	commands["rebuild"] = command{"rebuild a tv_ table without downtime (shadow copy, catch-up, swap): rebuild --entity E", runRebuild}
}

func runRebuild(ctx context.Context, a *app, args []string) error {
	fs := a.flags("rebuild")
	entity := fs.String("entity", "", "entity whose tv_ table to rebuild (required)")
	var opts tvsync.RebuildOptions
	fs.IntVar(&opts.ChunkSize, "chunk", 0, "ids per build transaction (default 5000)")
	fs.DurationVar(&opts.LockTimeout, "lock-timeout", 2*time.Second, "longest wait for the swap's lock before retrying")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if *entity == "" {
		return fmt.Errorf("%w: --entity is required (user, post or comment)", errUsage)
	}
	pool, err := a.connect(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	engine := a.engine(pool)
	if _, err := selectEntities(engine, *entity); err != nil {
		return err
	}
	p := newProgress(a, "rebuild "+*entity)
	opts.Progress = p.update
	res, err := engine.Rebuild(ctx, *entity, opts)
	p.done()
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "rebuilt tv_%s: %d rows in %s; caught up %d rows changed meanwhile, removed %d deleted meanwhile; swap held the lock %s (%d attempt(s))\n",
		*entity, res.Rows, res.Build.Round(time.Millisecond), res.CaughtUp, res.Removed, res.LockHeld.Round(time.Microsecond), res.SwapAttempts)
	return nil
}
