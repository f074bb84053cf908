package synccli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	tvsync "github.com/tvsync/tvsync/sync"
)

// Bounds of the tuning flags.
const (
	maxWorkers = 1024
	maxChunk   = 1_000_000
)

func (a *App) syncCommand() *cobra.Command {
	var (
		entity, mode, idsFile string
		all                   bool
		workers, chunk        int
		ids                   idList
	)
	cmd := &cobra.Command{
		Use:   "sync (--entity E (--ids a,b,c | --ids-file PATH) | [--entity E] --all)",
		Short: "sync ids of an entity, or all of it, or every entity",
		Long: "Sync the tv_ rows of the given ids of an entity (and the entities that embed them), or with --all\n" +
			"rebuild every row of the entity in keyset chunks on all cores, with a progress report;\n" +
			"--all without --entity rebuilds every entity, one after the other, in name order.\n" +
			"Give many ids with --ids-file (one or more per line; - reads stdin).",
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if entity == "" && !all {
				return Usagef("--entity is required (or --all without it, for every entity)")
			}
			if idsFile != "" {
				more, err := readIDs(idsFile, a.stdin)
				if err != nil {
					return err
				}
				ids = append(ids, more...)
			}
			byIDs := len(ids) > 0 || cmd.Flags().Changed("ids") || idsFile != ""
			switch {
			case all == byIDs:
				return Usagef("give exactly one of --ids (or --ids-file) and --all")
			case all && cmd.Flags().Changed("mode"):
				return Usagef("--mode %q: --all always runs a full sync; --mode applies to --ids", mode)
			case !all && mode != string(tvsync.ModeIncremental) && mode != string(tvsync.ModeRepair):
				return Usagef("--mode %q: want incremental or repair (a full sync is --all)", mode)
			case byIDs && len(ids) == 0:
				return Usagef("no ids given")
			}
			if err := checkRange("workers", workers, 0, maxWorkers); err != nil {
				return err
			}
			if err := checkRange("chunk", chunk, 0, maxChunk); err != nil {
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
			var keys []tvsync.ID
			if !all {
				if keys, err = parseIDs(s.engine, entity, ids); err != nil {
					return err
				}
			}
			if err := s.ping(ctx); err != nil {
				return err
			}
			if !all {
				report, err := s.engine.Sync(ctx, tvsync.Mode(mode), tvsync.Change{Entity: entity, IDs: keys, Cascade: true})
				printReport(a.stdout, report)
				return err
			}
			for _, name := range names {
				report, err := a.FullSync(ctx, s.pool, s.engine, name, tvsync.FullOptions{Workers: workers, ChunkSize: chunk})
				printReport(a.stdout, report)
				if err != nil {
					return err
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&entity, "entity", "", "entity to sync (required with --ids; with --all, every entity when absent)")
	f.Var(&ids, "ids", "comma-separated ids to sync (repeatable)")
	f.StringVar(&idsFile, "ids-file", "", "read the ids to sync from `PATH` (white space or comma separated; - for stdin)")
	f.BoolVar(&all, "all", false, "full sync: rebuild every row of the entity")
	f.StringVar(&mode, "mode", string(tvsync.ModeIncremental), "mode recorded in sync_log for --ids: incremental or repair")
	f.IntVar(&workers, "workers", 0, "chunks synced at once with --all (0: the number of CPUs)")
	f.IntVar(&chunk, "chunk", 0, "ids per transaction with --all (0: the engine's batch size, 1000)")
	return cmd
}

// FullSync full-syncs entity with a progress report over its real total
// (counted first); the binary's own commands use it too (a seed that syncs
// what it loaded).
func (a *App) FullSync(ctx context.Context, pool *pgxpool.Pool, engine *tvsync.Engine, entity string, opts tvsync.FullOptions) (tvsync.Report, error) {
	total, err := countIDs(ctx, pool, engine, entity)
	if err != nil {
		return tvsync.Report{}, err
	}
	p := a.Progress("sync "+entity, total)
	defer p.Finish()
	opts.Progress = func(done int) { p.Set(int64(done)) }
	return engine.FullSync(ctx, entity, opts)
}

// countPage is how many ids countIDs reads at a time.
const countPage = 50_000

// countIDs counts the command-side ids of entity through its keyset
// listing (an index-only walk), the total a full sync, a verify or a
// rebuild will go through.
func countIDs(ctx context.Context, pool *pgxpool.Pool, engine *tvsync.Engine, entity string) (int64, error) {
	ent, err := engine.Entity(entity)
	if err != nil {
		return 0, err
	}
	var n int64
	after := minID(ent.Key)
	for {
		ids, err := ent.IDsAfter(ctx, pool, after, countPage)
		if err != nil {
			return n, fmt.Errorf("count the ids of %s: %w", entity, err)
		}
		n += int64(len(ids))
		if len(ids) < countPage {
			return n, nil
		}
		after = ids[len(ids)-1]
	}
}

// printReport prints one line per entity of a sync report.
func printReport(w io.Writer, r tvsync.Report) {
	for _, e := range r.Results {
		fmt.Fprintf(w, "%-8s mode=%-11s requested=%d upserted=%d unchanged=%d deleted=%d missing=%d failed=%d db_time=%s\n",
			e.Entity, e.Mode, e.Requested, e.Upserted, e.Unchanged, e.Deleted, e.Missing, e.Failed, e.Duration.Round(time.Microsecond))
	}
	fmt.Fprintf(w, "total    %s\n", r.Duration.Round(time.Microsecond))
}
