package synccli

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	tvsync "github.com/tvsync/tvsync/sync"
)

// verifyReport is the JSON form of verify. Its field names are stable:
// scripts rely on them.
type verifyReport struct {
	Entities []verifyLine `json:"entities"`
	// Unrepaired is how many drifted rows are left; the exit status is 1
	// when it is not zero.
	Unrepaired int `json:"unrepaired"`
}

// verifyLine is one entity of verify.
type verifyLine struct {
	Entity   string `json:"entity"`
	Checked  int    `json:"checked"`
	Missing  int    `json:"missing"`
	Stale    int    `json:"stale"`
	Orphaned int    `json:"orphaned"`
	// Repaired is present with --repair only.
	Repaired *int `json:"repaired,omitempty"`
	// Samples holds a few drifted ids of each kind: missing, stale and
	// orphaned (each an empty list when there are none).
	Samples    map[string][]tvsync.ID `json:"samples"`
	DurationMs float64                `json:"duration_ms"`
}

func (a *App) verifyCommand() *cobra.Command {
	var (
		entity, format string
		opts           tvsync.VerifyOptions
	)
	cmd := &cobra.Command{
		Use:   "verify [--entity E] [--repair] [--format table|json]",
		Short: "recompute every tv_ row and report drift (exit status 1 on drift)",
		Long: "Compare every tv_ row with its definition, set-based in id ranges on all cores, and list the\n" +
			"rows that are missing, stale or orphaned; --repair syncs exactly those. The exit status is 1\n" +
			"when drift is found and not repaired, 0 when there is none (or all of it was repaired).",
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if err := checkFormat(format); err != nil {
				return err
			}
			if err := checkRange("chunk", opts.ChunkSize, 0, maxChunk); err != nil {
				return err
			}
			if err := checkRange("workers", opts.Workers, 0, maxWorkers); err != nil {
				return err
			}
			s, err := a.open(ctx)
			if err != nil {
				return err
			}
			defer s.close()
			names, err := entities(s.engine, entity)
			if err != nil {
				return err
			}
			if err := s.ping(ctx); err != nil {
				return err
			}
			report := verifyReport{Entities: []verifyLine{}}
			for _, name := range names {
				total, err := countIDs(ctx, s.pool, s.engine, name)
				if err != nil {
					return err
				}
				p := a.Progress("verify "+name, total)
				opts.Progress = func(checked int) { p.Set(int64(checked)) }
				res, err := s.engine.Verify(ctx, name, opts)
				p.Finish()
				if err != nil {
					return err
				}
				line := verifyLine{Entity: name, Checked: res.Checked, Missing: res.Missing, Stale: res.Stale, Orphaned: res.Orphaned,
					Samples: map[string][]tvsync.ID{}, DurationMs: ms(float64(res.Duration.Microseconds()))}
				for _, kind := range []string{tvsync.DriftMissing, tvsync.DriftStale, tvsync.DriftOrphaned} {
					line.Samples[kind] = append([]tvsync.ID{}, res.Samples[kind]...)
				}
				if opts.Repair {
					line.Repaired = &res.Repaired
				}
				report.Entities = append(report.Entities, line)
				if format == "table" {
					printVerifyLine(a.stdout, line)
				}
				switch {
				case !opts.Repair:
					report.Unrepaired += res.Drifted()
				case res.Repaired < res.Drifted():
					report.Unrepaired += res.Drifted() - res.Repaired
				}
			}
			if format == "json" {
				if err := writeJSON(a.stdout, report); err != nil {
					return err
				}
			} else if report.Unrepaired > 0 {
				fmt.Fprintf(a.stdout, "drift: %d rows not repaired\n", report.Unrepaired)
			}
			if report.Unrepaired > 0 {
				return &ExitError{Code: ExitFailure, Err: fmt.Errorf("drift found: %d rows not repaired", report.Unrepaired)}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&entity, "entity", "", "entity to verify (default: all)")
	f.BoolVar(&opts.Repair, "repair", false, "sync exactly the drifted rows")
	f.IntVar(&opts.ChunkSize, "chunk", 0, "rows per comparison (0: the engine's batch size, 1000)")
	f.IntVar(&opts.Workers, "workers", 0, "chunks compared at once (0: the number of CPUs)")
	f.StringVar(&format, "format", "table", "output: table (for people) or json (for scripts)")
	return cmd
}

// printVerifyLine prints one entity of verify for people.
func printVerifyLine(w io.Writer, l verifyLine) {
	fmt.Fprintf(w, "%-8s checked=%d missing=%d stale=%d orphaned=%d", l.Entity, l.Checked, l.Missing, l.Stale, l.Orphaned)
	if l.Repaired != nil {
		fmt.Fprintf(w, " repaired=%d", *l.Repaired)
	}
	fmt.Fprintf(w, " in %s\n", time.Duration(l.DurationMs*float64(time.Millisecond)).Round(time.Millisecond))
	for _, kind := range []string{tvsync.DriftMissing, tvsync.DriftStale, tvsync.DriftOrphaned} {
		if ids := l.Samples[kind]; len(ids) > 0 {
			fmt.Fprintf(w, "  %s e.g. %v\n", kind, ids)
		}
	}
}

// writeJSON prints v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write JSON: %w", err)
	}
	return nil
}
