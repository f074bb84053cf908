package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"

	tvsync "github.com/tvsync/tvsync/sync"
)

func init() {
	commands["sync"] = command{"sync entities: sync --entity E (--ids a,b,c | --all)", runSync}
}

// idList is a repeatable, comma-separated list of ids.
type idList []uuid.UUID

func (l *idList) String() string { return fmt.Sprint(*l) }

func (l *idList) Set(v string) error {
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		id, err := uuid.Parse(part)
		if err != nil {
			return fmt.Errorf("%q is not a UUID", part)
		}
		*l = append(*l, id)
	}
	return nil
}

func runSync(ctx context.Context, a *app, args []string) error {
	fs := a.flags("sync")
	entity := fs.String("entity", "", "entity to sync: user, post or comment (required)")
	all := fs.Bool("all", false, "full sync: rebuild every row of the entity")
	mode := fs.String("mode", string(tvsync.ModeIncremental), "mode recorded in sync_log for --ids: incremental or repair")
	workers := fs.Int("workers", 0, "chunks synced at once with --all (default: number of CPUs)")
	chunk := fs.Int("chunk", 0, "ids per transaction with --all (default 5000)")
	var ids idList
	fs.Var(&ids, "ids", "comma-separated ids to sync (repeatable)")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	switch {
	case *entity == "":
		return fmt.Errorf("%w: --entity is required (user, post or comment)", errUsage)
	case *all == (len(ids) > 0):
		return fmt.Errorf("%w: give exactly one of --ids or --all", errUsage)
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
	var report tvsync.Report
	if *all {
		progress := newProgress(a, "sync "+*entity)
		report, err = engine.FullSync(ctx, *entity, tvsync.FullOptions{Workers: *workers, ChunkSize: *chunk, Progress: progress.update})
		progress.done()
	} else {
		report, err = engine.Sync(ctx, tvsync.Mode(*mode), tvsync.Change{Entity: *entity, IDs: ids, Cascade: true})
	}
	printReport(a, report)
	return err
}

// printReport prints one line per entity of a sync report.
func printReport(a *app, r tvsync.Report) {
	for _, e := range r.Results {
		fmt.Fprintf(a.stdout, "%-8s mode=%-11s requested=%d upserted=%d unchanged=%d deleted=%d missing=%d failed=%d db_time=%s\n",
			e.Entity, e.Mode, e.Requested, e.Upserted, e.Unchanged, e.Deleted, e.Missing, e.Failed, e.Duration.Round(time.Microsecond))
	}
	fmt.Fprintf(a.stdout, "total    %s\n", r.Duration.Round(time.Microsecond))
}

// progress shows a progress bar (or, without a known total, a running
// count) on a terminal, and periodic log lines otherwise.
type progress struct {
	a     *app
	label string
	tty   bool
	start time.Time
	last  time.Time
	n     int
	total int // 0 when unknown
}

func newProgress(a *app, label string) *progress {
	p := &progress{a: a, label: label, start: time.Now()}
	if f, ok := a.stderr.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

func (p *progress) update(done int) {
	p.n = done
	now := time.Now()
	rate := float64(done) / max(now.Sub(p.start).Seconds(), 1e-9)
	switch {
	case p.tty && now.Sub(p.last) > 100*time.Millisecond && p.total > 0:
		const width = 30
		filled := min(width, done*width/p.total)
		fmt.Fprintf(p.a.stderr, "\r%-16s [%s%s] %3d%% %d/%d rows (%.0f/s)   ", p.label,
			strings.Repeat("#", filled), strings.Repeat("-", width-filled), done*100/p.total, done, p.total, rate)
		p.last = now
	case p.tty && now.Sub(p.last) > 100*time.Millisecond:
		fmt.Fprintf(p.a.stderr, "\r%s: %d rows (%.0f/s)   ", p.label, done, rate)
		p.last = now
	case !p.tty && now.Sub(p.last) > 5*time.Second:
		p.a.log.Info("progress", "task", p.label, "rows", done, "total", p.total, "rows_per_second", int(rate))
		p.last = now
	}
}

func (p *progress) done() {
	if p.tty && p.n > 0 {
		fmt.Fprintf(p.a.stderr, "\r%s: %d rows in %s          \n", p.label, p.n, time.Since(p.start).Round(time.Millisecond))
	}
}
