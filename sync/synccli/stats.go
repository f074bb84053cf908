package synccli

import (
	"context"
	"fmt"
	"io"
	"math"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/internal/dbsqlc"
)

// statsReport is the JSON form of stats. Its field names are stable:
// scripts rely on them.
type statsReport struct {
	// Since is the start of the window, in RFC 3339 (UTC).
	Since    time.Time   `json:"since"`
	Entities []statsLine `json:"entities"`
}

// statsLine is one entity and mode of stats; durations are in
// milliseconds, to the microsecond.
type statsLine struct {
	Entity    string  `json:"entity"`
	Mode      string  `json:"mode"`
	Batches   int64   `json:"batches"`
	Requested int64   `json:"requested"`
	Upserted  int64   `json:"upserted"`
	Unchanged int64   `json:"unchanged"`
	Deleted   int64   `json:"deleted"`
	Failed    int64   `json:"failed"`
	P50Ms     float64 `json:"p50_ms"`
	P95Ms     float64 `json:"p95_ms"`
	P99Ms     float64 `json:"p99_ms"`
	MaxMs     float64 `json:"max_ms"`
}

// checkAge is a usage error unless d is a positive duration.
func checkAge(flag string, d time.Duration) error {
	if d <= 0 {
		return Usagef("--%s %s: want a positive duration such as 30m, 1h or 720h", flag, d)
	}
	return nil
}

// ms converts microseconds to milliseconds, rounded to the microsecond.
func ms(us float64) float64 { return math.Round(us) / 1000 }

func (a *App) statsCommand() *cobra.Command {
	var (
		window time.Duration
		format string
	)
	cmd := &cobra.Command{
		Use:   "stats [--since 1h] [--format table|json]",
		Short: "summarize sync_log per entity and mode: batches, rows, p50/p95/p99 duration",
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if err := checkAge("since", window); err != nil {
				return err
			}
			if err := checkFormat(format); err != nil {
				return err
			}
			pool, err := a.Connect(ctx)
			if err != nil {
				return err
			}
			defer pool.Close()
			since := time.Now().Add(-window).UTC().Truncate(time.Microsecond)
			report, err := loadStats(ctx, pool, a.namespace, since)
			if err != nil {
				return err
			}
			if format == "json" {
				return writeJSON(a.stdout, report)
			}
			fmt.Fprintf(a.stdout, "sync_log since %s (last %s)\n", since.Format(time.RFC3339), window)
			return printStatsTable(a.stdout, report)
		},
	}
	cmd.Flags().DurationVar(&window, "since", time.Hour, "summarize the batches that started within this duration")
	cmd.Flags().StringVar(&format, "format", "table", "output: table (for people) or json (for scripts)")
	return cmd
}

// PrintStats prints the table of the stats command for the batches of
// sync_log of namespace (tvsync.Config.Namespace, "" for the default one)
// that started since a time.
func PrintStats(ctx context.Context, w io.Writer, conn tvsync.DB, namespace string, since time.Time) error {
	report, err := loadStats(ctx, conn, namespace, since)
	if err != nil {
		return err
	}
	return printStatsTable(w, report)
}

// loadStats summarizes the sync_log rows of namespace since a time, per
// entity and mode.
func loadStats(ctx context.Context, conn tvsync.DB, namespace string, since time.Time) (statsReport, error) {
	rows, err := dbsqlc.New().SyncLogStats(ctx, conn, dbsqlc.SyncLogStatsParams{Namespace: namespace, Since: since})
	if err != nil {
		return statsReport{}, fmt.Errorf("read sync_log since %s: %w", since.Format(time.RFC3339), err)
	}
	report := statsReport{Since: since, Entities: make([]statsLine, len(rows))}
	for i, r := range rows {
		report.Entities[i] = statsLine{
			Entity: r.Entity, Mode: r.Mode, Batches: r.Batches, Requested: r.Requested, Upserted: r.Upserted,
			Unchanged: r.Unchanged, Deleted: r.Deleted, Failed: r.Failed,
			P50Ms: ms(r.P50Us), P95Ms: ms(r.P95Us), P99Ms: ms(r.P99Us), MaxMs: ms(float64(r.MaxUs)),
		}
	}
	return report, nil
}

// printStatsTable prints a stats report as an aligned table.
func printStatsTable(w io.Writer, report statsReport) error {
	if len(report.Entities) == 0 {
		fmt.Fprintln(w, "no batches synced in that window")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ENTITY\tMODE\tBATCHES\tREQUESTED\tUPSERTED\tUNCHANGED\tDELETED\tFAILED\tP50 MS\tP95 MS\tP99 MS\tMAX MS")
	for _, l := range report.Entities {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%.3f\t%.3f\t%.3f\t%.3f\n", l.Entity, l.Mode, l.Batches, l.Requested,
			l.Upserted, l.Unchanged, l.Deleted, l.Failed, l.P50Ms, l.P95Ms, l.P99Ms, l.MaxMs)
	}
	return tw.Flush()
}

func (a *App) syncLogCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sync-log",
		Short: "manage sync_log: sync-log prune --older-than DURATION",
		Args:  cobra.ArbitraryArgs,
		RunE:  parentRun,
	}
	var olderThan time.Duration
	prune := &cobra.Command{
		Use:   "prune --older-than DURATION",
		Short: "delete the sync_log rows of batches that started longer ago than DURATION",
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if !cmd.Flags().Changed("older-than") {
				return Usagef("--older-than is required (e.g. --older-than 720h)")
			}
			if err := checkAge("older-than", olderThan); err != nil {
				return err
			}
			pool, err := a.Connect(ctx)
			if err != nil {
				return err
			}
			defer pool.Close()
			before := time.Now().Add(-olderThan).UTC().Truncate(time.Microsecond)
			n, err := dbsqlc.New().SyncLogPrune(ctx, pool, dbsqlc.SyncLogPruneParams{Namespace: a.namespace, Before: before})
			if err != nil {
				return fmt.Errorf("prune sync_log rows started before %s: %w", before.Format(time.RFC3339), err)
			}
			fmt.Fprintf(a.stdout, "deleted %d sync_log rows started before %s\n", n, before.Format(time.RFC3339))
			return nil
		},
	}
	prune.Flags().DurationVar(&olderThan, "older-than", 0, "delete the rows of batches that started longer ago than this (e.g. 720h); required")
	cmd.AddCommand(prune)
	return cmd
}
