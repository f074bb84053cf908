package main

import (
	"context"
	"fmt"
	"time"

	tvsync "github.com/tvsync/tvsync/sync"
)

func init() {
	commands["verify"] = command{"recompute every tv_ row and report drift (exit 1): verify [--entity E] [--repair]", runVerify}
}

func runVerify(ctx context.Context, a *app, args []string) error {
	fs := a.flags("verify")
	entity := fs.String("entity", "", "entity to verify (default: all)")
	var opts tvsync.VerifyOptions
	fs.BoolVar(&opts.Repair, "repair", false, "sync exactly the drifted rows")
	fs.IntVar(&opts.ChunkSize, "chunk", 0, "rows per comparison (default 5000)")
	fs.IntVar(&opts.Workers, "workers", 0, "chunks compared at once (default: number of CPUs)")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	pool, err := a.connect(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	engine := a.engine(pool)
	entities, err := selectEntities(engine, *entity)
	if err != nil {
		return err
	}
	unrepaired := 0
	for _, name := range entities {
		res, err := engine.Verify(ctx, name, opts)
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "%-8s checked=%d missing=%d stale=%d orphaned=%d", name, res.Checked, res.Missing, res.Stale, res.Orphaned)
		if opts.Repair {
			fmt.Fprintf(a.stdout, " repaired=%d", res.Repaired)
		}
		fmt.Fprintf(a.stdout, " in %s\n", res.Duration.Round(time.Millisecond))
		for _, kind := range []string{tvsync.DriftMissing, tvsync.DriftStale, tvsync.DriftOrphaned} {
			if ids := res.Samples[kind]; len(ids) > 0 {
				fmt.Fprintf(a.stdout, "  %s e.g. %v\n", kind, ids)
			}
		}
		switch {
		case !opts.Repair:
			unrepaired += res.Drifted()
		case res.Repaired < res.Drifted():
			unrepaired += res.Drifted() - res.Repaired
		}
	}
	if unrepaired > 0 {
		fmt.Fprintf(a.stdout, "drift: %d rows not repaired\n", unrepaired)
		return errDrift
	}
	return nil
}
