package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Target is one goal of the suite, judged on the measured figures.
type Target struct {
	// Goal states the target; Measured the figure it is judged on.
	Goal, Measured string
	Met            bool
}

// Targets judges the goals of issue 5 on the measurements present in r.
func (r *Results) Targets() []Target {
	var ts []Target
	add := func(goal string, measured string, met bool) {
		ts = append(ts, Target{Goal: goal, Measured: measured, Met: met})
	}
	if b := r.Batch; b != nil {
		if s, ok := b.Stats[100]; ok {
			api, raw, loop := s[BatchEngine], s[BatchRawPgx], s[BatchPerRow]
			x := Ratio(api, raw)
			add("batch sync, 100 ids: public API ≤ 1.15× raw pgx", fmt.Sprintf("%.2f× (%s vs %s ms)", x, ms(api.Median), ms(raw.Median)), x <= 1.15)
			y := Ratio(loop, api)
			add("batch sync, 100 ids: public API ≥ 6× faster than the per-row loop", fmt.Sprintf("%.1f× faster (%s vs %s ms)", y, ms(api.Median), ms(loop.Median)), y >= 6)
		}
	}
	if w := r.Write; w != nil && len(w.Bulk) > 0 {
		uow, stmt, row := w.Bulk[WriteAfterCommit], w.Bulk[WriteStmtTrigger], w.Bulk[WriteRowTrigger]
		x := Ratio(uow, stmt)
		add(fmt.Sprintf("write path, %d comments over %d posts: explicit batch sync (UoW after-commit) ≤ 1.25× statement trigger", w.BulkComments, w.BulkPosts),
			fmt.Sprintf("%.2f× (%s vs %s ms)", x, ms(uow.Median), ms(stmt.Median)), x <= 1.25)
		y := Ratio(row, uow)
		add("write path, same: explicit batch sync ≥ 3× faster than row trigger",
			fmt.Sprintf("%.1f× faster (%s vs %s ms)", y, ms(uow.Median), ms(row.Median)), y >= 3)
	}
	if f := r.Full; f != nil {
		for _, who := range []string{FullEngine} {
			label := "full rebuild"
			for _, state := range f.States {
				s := f.Stats[state]
				eng, ins := s[who], s[FullInsertSelect]
				if ins.Runs > 0 && eng.Runs > 0 {
					y := Ratio(ins, eng)
					add(fmt.Sprintf("%s (%s): ≥ 1.5× faster than one INSERT … SELECT", label, state),
						fmt.Sprintf("%.2f× faster (%s vs %s ms)", y, ms(eng.Median), ms(ins.Median)), y >= 1.5)
				}
				if mv := s[FullMatview]; state == StateCurrent && mv.Runs > 0 && eng.Runs > 0 {
					y := Ratio(mv, eng)
					add(fmt.Sprintf("%s (already current): ≥ 2× faster than REFRESH MATERIALIZED VIEW CONCURRENTLY", label),
						fmt.Sprintf("%.2f× faster (%s vs %s ms)", y, ms(eng.Median), ms(mv.Median)), y >= 2)
				}
			}
		}
		if f.PeakRSS > 0 {
			mb := float64(f.PeakRSS) / (1 << 20)
			add("full sync peak RSS < 100 MB", fmt.Sprintf("%.1f MiB (`tvsync sync --entity post --all`, %d posts)", mb, r.PostCount), mb < 100)
		}
	}
	if rd := r.Read; rd != nil {
		st, bt := rd.Rates[ReadStored], rd.Rates[ReadBuilt]
		if bt.Median > 0 {
			x := st.Median / bt.Median
			add(fmt.Sprintf("read path, %d readers: stored tv_ ≥ 3× the throughput of building at read time", rd.Readers),
				fmt.Sprintf("%.1f× (%.0f vs %.0f reads/s)", x, st.Median, bt.Median), x >= 3)
		}
	}
	if l := r.Lag; l != nil && l.PlainP50 > 0 {
		x := float64(l.DeferredP50) / float64(l.PlainP50)
		add(fmt.Sprintf("deferred mode: commit latency ≤ 1.2× plain writes (p50, %.0f writes/s)", l.TargetRate),
			fmt.Sprintf("%.2f× (%s vs %s ms)", x, ms(l.DeferredP50), ms(l.PlainP50)), x <= 1.2)
		ok := l.LagP99 <= 100*time.Millisecond && l.Achieved >= 0.95*l.TargetRate
		add(fmt.Sprintf("deferred mode: lag p99 ≤ 100 ms at %.0f writes/s with %d workers", l.TargetRate, l.Workers),
			fmt.Sprintf("p99 %s ms (p50 %s ms) at %.0f writes/s achieved", ms(l.LagP99), ms(l.LagP50), l.Achieved), ok)
	}
	return ts
}

// table renders a markdown table.
func table(b *strings.Builder, header []string, rows [][]string) {
	b.WriteString("| " + strings.Join(header, " | ") + " |\n|")
	for range header {
		b.WriteString(" --- |")
	}
	b.WriteString("\n")
	for _, row := range rows {
		b.WriteString("| " + strings.Join(row, " | ") + " |\n")
	}
	b.WriteString("\n")
}

func ratio(a, b Stat) string {
	if a.Runs == 0 || b.Runs == 0 || b.Median == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", Ratio(a, b))
}

// Markdown renders the results: conditions, targets, one table per
// measurement. Times are "median (min–max)" of the runs in milliseconds.
func (r *Results) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# tvsync benchmarks (scale %s)\n\n", r.Scale.Name)
	sc := r.Scale.Seed
	fmt.Fprintf(&b, "Run %s, took %s. Data: %d users, %d posts, %d comments, %d likes (internal/seed, then full sync and VACUUM ANALYZE). ",
		r.Started.UTC().Format("2006-01-02 15:04 UTC"), r.Took.Round(time.Second), sc.Users, sc.Posts, sc.Comments, sc.Likes)
	fmt.Fprintf(&b, "PostgreSQL %s on the same machine (GOMAXPROCS %d); a throwaway server runs with fsync, synchronous_commit and full_page_writes off, shared_buffers 1GB, work_mem 16MB. ",
		r.ServerVersion, r.GOMAXPROCS)
	b.WriteString("Client and server share the cores. Times are milliseconds, **median (min–max)** of the runs; variants are interleaved run by run. Setup: ")
	var phases []string
	for _, p := range r.Setup {
		phases = append(phases, fmt.Sprintf("%s %s", p.Name, p.Duration.Round(100*time.Millisecond)))
	}
	b.WriteString(strings.Join(phases, "; ") + ".\n\n")

	if ts := r.Targets(); len(ts) > 0 {
		b.WriteString("## Targets\n\n")
		var rows [][]string
		for _, t := range ts {
			verdict := "**not met**"
			if t.Met {
				verdict = "met"
			}
			rows = append(rows, []string{t.Goal, t.Measured, verdict})
		}
		table(&b, []string{"target", "measured", "verdict"}, rows)
	}

	if x := r.Batch; x != nil {
		runs := x.Stats[x.Sizes[0]][BatchEngine].Runs
		fmt.Fprintf(&b, "## 1. Batch sync of post ids (%d runs)\n\n", runs)
		b.WriteString("Same ids for every variant; before each run their tv_post rows are set to `'{}'` (not timed), so every run really rewrites every row, and after each run they are checked against tv_post_source (not timed). " +
			"The public API is `engine.Sync(ctx, ModeIncremental, Change{Entity: \"post\", IDs: ids, Cascade: false})` (SyncPost would cascade to tv_comment): one pipelined transaction with advisory locks, PostRefresh, PostDeleteMissing and a sync_log row. " +
			"Raw pgx is `pool.Exec(PostRefresh text, ids)` in autocommit. The per-row loop fetches post+author (+like count), fetches comments, builds the JSON in Go and upserts, per id, on one connection.\n\n")
		var rows [][]string
		for _, n := range x.Sizes {
			s := x.Stats[n]
			rows = append(rows, []string{fmt.Sprint(n), s[BatchEngine].cell(), s[BatchRawPgx].cell(), s[BatchPerRow].cell(),
				ratio(s[BatchEngine], s[BatchRawPgx]), ratio(s[BatchPerRow], s[BatchEngine])})
		}
		table(&b, []string{"ids", BatchEngine, BatchRawPgx, BatchPerRow, "API / raw", "per-row / API"}, rows)
	}

	if w := r.Write; w != nil {
		fmt.Fprintf(&b, "## 2. Write path, keeping tv_post current (%d runs, on a clone database)\n\n", w.Bulk[WritePlain].Runs)
		fmt.Fprintf(&b, "Bulk: one transaction writing %d comments over %d posts with one `INSERT … SELECT FROM unnest(…)` (all variants but AddComment). "+
			"Single: %d one-comment transactions per run, mean per transaction. The tvsync variants record the post ids on the unit of work "+
			"(`uow.Record`), so they sync tv_post only, like the triggers; `uow.AddComment` (one INSERT per comment) also syncs tv_comment and tv_user. "+
			"Triggers exist only during their own runs; each run is undone (not timed) and tv_post checked current after every variant.\n\n",
			w.BulkComments, w.BulkPosts, w.SingleWrites)
		plain := w.Bulk[WritePlain]
		plainS := w.Single[WritePlain]
		var rows [][]string
		for _, v := range WriteVariants {
			rows = append(rows, []string{v, w.Bulk[v].cell(), ratio(w.Bulk[v], plain), w.Single[v].cell(), ratio(w.Single[v], plainS)})
		}
		table(&b, []string{"variant", fmt.Sprintf("bulk %d comments", w.BulkComments), "× plain", "single comment", "× plain"}, rows)
	}

	if f := r.Full; f != nil {
		runs := 0
		for _, s := range f.Stats {
			runs = max(runs, s[FullEngine].Runs)
		}
		fmt.Fprintf(&b, "## 3. Full rebuild of tv_post (%d posts, %d runs)\n\n", r.PostCount, runs)
		b.WriteString("From empty: `TRUNCATE tv_post` (the materialized view: `REFRESH … WITH NO DATA`, then a plain REFRESH, as CONCURRENTLY needs a populated view). " +
			"All rows stale: every tv_post row set to `'{}'` first, as after a document-shape migration (no materialized view equivalent). " +
			"Already current: nothing to change, the rebuild only verifies (the materialized view: `REFRESH … CONCURRENTLY`). " +
			"INSERT … SELECT upserts from tv_post_source with the same `IS DISTINCT FROM` guard. Results are compared with tv_post_source after the first run.\n\n")
		b.WriteString("tvsync FullSync walks keyset ranges of 5000 posts on all cores, each refreshed by `PostRangeRefresh` (comments and likes aggregated set-based over one index range scan) with its orphans deleted in the same transaction; chunks end at lock-bucket boundaries so parallel chunks do not wait for each other.\n\n")
		var rows [][]string
		for _, state := range f.States {
			s := f.Stats[state]
			rows = append(rows, []string{state, s[FullEngine].cell(), s[FullInsertSelect].cell(), s[FullMatview].cell(),
				ratio(s[FullInsertSelect], s[FullEngine]), ratio(s[FullMatview], s[FullEngine])})
		}
		table(&b, []string{"state", FullEngine, FullInsertSelect, FullMatview,
			"INSERT…SELECT / tvsync", "matview / tvsync"}, rows)
		switch {
		case f.PeakRSS > 0:
			fmt.Fprintf(&b, "Peak RSS of `tvsync sync --entity post --all` (child process, from empty, ru_maxrss of the waited child): **%.1f MiB**; its wall time %s ms.\n\n",
				float64(f.PeakRSS)/(1<<20), ms(f.PeakRSSTime))
		case f.PeakRSSNote != "":
			fmt.Fprintf(&b, "Peak RSS: %s.\n\n", f.PeakRSSNote)
		}
	}

	if rd := r.Read; rd != nil {
		fmt.Fprintf(&b, "## 4. Read path: one post by id (%d concurrent readers × %d reads, %d runs)\n\n", rd.Readers, rd.PerReader, rd.Rates[ReadStored].Runs)
		st, bt := rd.Rates[ReadStored], rd.Rates[ReadBuilt]
		rows := [][]string{{ReadStored, st.cell(), fmt.Sprintf("%.1f×", st.Median/max(bt.Median, 1e-9))}, {ReadBuilt, bt.cell(), "1.0×"}}
		table(&b, []string{"variant", "reads/s median (min–max)", "throughput ratio"}, rows)
	}

	if l := r.Lag; l != nil {
		fmt.Fprintf(&b, "## 5. Deferred mode under load (%d workers, %.0f writes/s asked, %d writers, on the clone)\n\n", l.Workers, l.TargetRate, l.Writers)
		fmt.Fprintf(&b, "%d deferred units of work (`uow.AddComment`, SyncDeferred) paced over %s, each on a different post; lag = tv_post.updated_at (when the worker's refresh wrote the row) − the moment the write's commit returned. "+
			"Plain writes: %d paced one-comment transactions (same INSERT, no queue) before the workers start. The queue was empty %s ms after the last write.\n\n",
			l.Writes, l.Duration.Round(time.Millisecond), l.PlainWrites, ms(l.Drain))
		rows := [][]string{
			{"achieved rate", fmt.Sprintf("%.0f writes/s", l.Achieved)},
			{"lag commit → tv_post current, p50 / p99 / max", fmt.Sprintf("%s / %s / %s ms (%d writes)", ms(l.LagP50), ms(l.LagP99), ms(l.LagMax), l.Measured)},
			{"commit latency, deferred UoW, p50 / p99", fmt.Sprintf("%s / %s ms", ms(l.DeferredP50), ms(l.DeferredP99))},
			{"commit latency, plain write, p50 / p99", fmt.Sprintf("%s / %s ms", ms(l.PlainP50), ms(l.PlainP99))},
		}
		table(&b, []string{"measure", "value"}, rows)
	}

	if x := r.Wide; x != nil {
		fmt.Fprintf(&b, "## Refresh plan crossover: lateral per id vs set-based wide (%d runs)\n\n", x.Stats[x.Sizes[0]][PlanLateral].Runs)
		b.WriteString("Both statements sent by raw pgx in autocommit on the same ids, after setting their tv_post rows to `'{}'` (not timed); each run must upsert every id and the first is checked against tv_post_source. " +
			"The wide plan is `PostWideRefresh` (comments and likes aggregated with GROUP BY over `post_id = ANY(@ids)`, then joined), which the engine uses from `Config.WideThreshold` ids up.\n\n")
		var rows [][]string
		for _, n := range x.Sizes {
			s := x.Stats[n]
			label := fmt.Sprint(n)
			if n == 0 {
				label = fmt.Sprintf("all (%d)", r.PostCount)
			}
			rows = append(rows, []string{label, s[PlanLateral].cell(), s[PlanWide].cell(), ratio(s[PlanWide], s[PlanLateral])})
		}
		table(&b, []string{"ids", PlanLateral, PlanWide, "wide / lateral"}, rows)
	}
	return b.String()
}

// WriteFiles writes the markdown report to dir/latest.md and the chart to
// dir/latest.png (latest-SCALE.md and .png for scales other than main),
// creating dir, and returns the two paths.
func (r *Results) WriteFiles(dir string) (md, png string, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", fmt.Errorf("bench: create %s: %w", dir, err)
	}
	base := "latest"
	if r.Scale.Name != ScaleMain.Name {
		base += "-" + r.Scale.Name
	}
	md, png = filepath.Join(dir, base+".md"), filepath.Join(dir, base+".png")
	body := r.Markdown() + "Chart: [" + base + ".png](" + base + ".png).\n"
	if err := os.WriteFile(md, []byte(body), 0o644); err != nil {
		return "", "", fmt.Errorf("bench: write %s: %w", md, err)
	}
	return md, png, r.WriteChart(png)
}
