package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/tvsync/tvsync/bench"
	"github.com/tvsync/tvsync/sync/synccli"
)

// benchCommand runs the benchmark suite on a throwaway PostgreSQL (or on
// the server of --database-url, where it creates and drops databases of its
// own), prints the markdown report and writes it with its chart to --out.
func benchCommand(app *synccli.App) *cobra.Command {
	var scaleName, out, dataDir string
	cmd := &cobra.Command{
		Use:   "bench [--scale main|1m|tiny] [--out DIR] [--data-dir DIR]",
		Short: "side-by-side benchmark suite (a throwaway PostgreSQL, or databases of its own on --database-url's server)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			scale, err := bench.ParseScale(scaleName)
			if err != nil {
				return synccli.Usagef("--scale %q: want main, 1m or tiny", scaleName)
			}
			bin, err := os.Executable()
			if err != nil {
				return fmt.Errorf("bench: find the tvsync executable for the peak-memory child: %w", err)
			}
			if dataDir == "" {
				dataDir = bench.DefaultDataDir(scale)
			}
			admin, stop, err := bench.StartServer(ctx, app.DatabaseURL(), dataDir, app.Logger())
			if err != nil {
				return err
			}
			defer stop()
			res, err := bench.Run(ctx, bench.Config{AdminURL: admin, Scale: scale, TvsyncBin: bin, Logger: app.Logger(), KeepTemplates: dataDir != ""})
			if err != nil {
				return err
			}
			fmt.Fprint(app.Stdout(), res.Markdown())
			if out == "" {
				return nil
			}
			md, png, err := res.WriteFiles(out)
			if err != nil {
				return err
			}
			fmt.Fprintf(app.Stdout(), "wrote %s and %s\n", md, png)
			return nil
		},
	}
	cmd.Flags().StringVar(&scaleName, "scale", "main", "data set: main (10k users, 100k posts, 500k comments; every measurement), 1m (the scale table: 100k against 1M posts) or tiny (smoke test)")
	cmd.Flags().StringVar(&dataDir, "data-dir", "", "kept PostgreSQL data directory whose seeded data sets later runs clone (default /var/tmp/tvsync-bench-1m for --scale 1m, none otherwise)")
	cmd.Flags().StringVar(&out, "out", "docs/benchmarks", "directory for latest.md and latest.png (latest-SCALE.* for other scales); empty to only print")
	return cmd
}
