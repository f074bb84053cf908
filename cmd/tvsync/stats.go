package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tvsync/tvsync/db"
)

func init() {
	commands["stats"] = command{"summarize sync_log per entity and mode: batches, rows, p50/p95/p99 duration", runStats}
	commands["sync-log"] = command{"manage sync_log: sync-log prune --older-than DURATION", runSyncLog}
}

// statsReport is the JSON form of tvsync stats. Its field names are stable:
// scripts rely on them.
type statsReport struct {
	// Since is the start of the window, in RFC 3339 (UTC).
	Since    time.Time   `json:"since"`
	Entities []statsLine `json:"entities"`
}

// statsLine is one entity and mode of tvsync stats; durations are in
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

// parseAge parses the value of a duration flag that must be positive.
func parseAge(flagName, value string) (time.Duration, error) {
	d, err := time.ParseDuration(value)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%w: --%s %q: want a positive duration such as 30m, 1h or 720h", errUsage, flagName, value)
	}
	return d, nil
}

// ms converts microseconds to milliseconds, rounded to the microsecond.
func ms(us float64) float64 { return math.Round(us) / 1000 }

func runStats(ctx context.Context, a *app, args []string) error {
	fs := a.flags("stats")
	sinceFlag := fs.String("since", "1h", "summarize the batches that started within this duration")
	format := fs.String("format", "table", "output: table (for people) or json (for scripts)")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	window, err := parseAge("since", *sinceFlag)
	if err != nil {
		return err
	}
	if *format != "table" && *format != "json" {
		return fmt.Errorf("%w: --format %q: want table or json", errUsage, *format)
	}
	pool, err := a.connect(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	since := time.Now().Add(-window).UTC().Truncate(time.Microsecond)
	report, err := loadStats(ctx, pool, since)
	if err != nil {
		return err
	}
	if *format == "json" {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(report)
	}
	fmt.Fprintf(a.stdout, "sync_log since %s (last %s)\n", since.Format(time.RFC3339), window)
	return printStatsTable(a.stdout, report)
}

// loadStats summarizes sync_log since a time, per entity and mode.
func loadStats(ctx context.Context, pool *pgxpool.Pool, since time.Time) (statsReport, error) {
	rows, err := db.New().SyncLogStats(ctx, pool, since)
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

func runSyncLog(ctx context.Context, a *app, args []string) error {
	if len(args) == 0 || args[0] != "prune" {
		return fmt.Errorf("%w: usage: tvsync sync-log prune --older-than DURATION", errUsage)
	}
	fs := a.flags("sync-log prune")
	olderThan := fs.String("older-than", "", "delete the rows of batches that started longer ago than this (e.g. 720h); required")
	if err := parse(fs, args[1:], 0); err != nil {
		return err
	}
	if *olderThan == "" {
		return fmt.Errorf("%w: --older-than is required (e.g. --older-than 720h)", errUsage)
	}
	age, err := parseAge("older-than", *olderThan)
	if err != nil {
		return err
	}
	pool, err := a.connect(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	before := time.Now().Add(-age).UTC().Truncate(time.Microsecond)
	n, err := db.New().SyncLogPrune(ctx, pool, before)
	if err != nil {
		return fmt.Errorf("prune sync_log rows started before %s: %w", before.Format(time.RFC3339), err)
	}
	fmt.Fprintf(a.stdout, "deleted %d sync_log rows started before %s\n", n, before.Format(time.RFC3339))
	return nil
}
