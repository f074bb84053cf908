package main

import (
	"context"
	"fmt"
	"os"

	"github.com/tvsync/tvsync/bench"
)

func init() {
	commands["bench"] = command{"side-by-side benchmark suite: bench [--scale main|1m|tiny] [--out DIR] [--data-dir DIR]", runBench}
}

// runBench runs the benchmark suite on a throwaway PostgreSQL (or on the
// server of --database-url, where it creates and drops databases of its
// own), prints the markdown report and writes it with its chart to --out.
func runBench(ctx context.Context, a *app, args []string) error {
	fs := a.flags("bench")
	scaleName := fs.String("scale", "main", "data set: main (10k users, 100k posts, 500k comments; every measurement), 1m (the scale table: 100k against 1M posts) or tiny (smoke test)")
	out := fs.String("out", "docs/benchmarks", "directory for latest.md and latest.png (latest-SCALE.* for other scales); empty to only print")
	dataDir := fs.String("data-dir", "", "kept PostgreSQL data directory whose seeded data sets later runs clone (default /var/tmp/tvsync-bench-1m for --scale 1m, none otherwise)")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	scale, err := bench.ParseScale(*scaleName)
	if err != nil {
		return fmt.Errorf("%w: --scale: %v", errUsage, err)
	}
	bin, err := os.Executable()
	if err != nil {
		return fmt.Errorf("bench: find the tvsync executable for the peak-memory child: %w", err)
	}
	if *dataDir == "" {
		*dataDir = bench.DefaultDataDir(scale)
	}
	admin, stop, err := bench.StartServer(ctx, a.databaseURL, *dataDir, a.log)
	if err != nil {
		return err
	}
	defer stop()
	res, err := bench.Run(ctx, bench.Config{AdminURL: admin, Scale: scale, TvsyncBin: bin, Logger: a.log, KeepTemplates: *dataDir != ""})
	if err != nil {
		return err
	}
	fmt.Fprint(a.stdout, res.Markdown())
	if *out == "" {
		return nil
	}
	md, png, err := res.WriteFiles(*out)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "wrote %s and %s\n", md, png)
	return nil
}
