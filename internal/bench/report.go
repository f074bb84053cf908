package bench

import (
	"fmt"
	"strings"
	"time"
)

// Target is one goal of the suite, judged on the measured figures.
type Target struct {
	// Goal states the target; Measured the figure it is judged on.
	Goal, Measured string
	Met            bool
}

// ratioMeasured renders a ratio verdict's figure: the median of per-run
// ratios with its spread and run count, and the medians for reference.
func ratioMeasured(r RatioStat, unit string, a, b Stat) string {
	return fmt.Sprintf("%.2f×%s (%s; medians %s vs %s ms)", r.Median, unit, r.of(2), ms(a.Median), ms(b.Median))
}

// of says which runs a ratio comes from: "median of 7 per-run ratios,
// 1.02–1.31", or "one run".
func (r RatioStat) of(prec int) string {
	if r.Runs == 1 {
		return "one run"
	}
	return fmt.Sprintf("median of %d per-run ratios, %.*f–%.*f", r.Runs, prec, r.Min, prec, r.Max)
}

// hotList renders HotPostComments as "50 and 500".
func hotList() string {
	s := make([]string, len(HotPostComments))
	for i, n := range HotPostComments {
		s[i] = fmt.Sprint(n)
	}
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

// Targets judges the goals of issues 5, 12 and 21 on the measurements present
// in r. Every comparison is judged on the median of per-run ratios.
func (r *Results) Targets() []Target {
	var ts []Target
	add := func(goal, measured string, met bool) {
		ts = append(ts, Target{Goal: goal, Measured: measured, Met: met})
	}
	if b := r.Batch; b != nil {
		if s, ok := b.Stats[100]; ok {
			api, raw, loop := s[BatchEngine], s[BatchRawPgx], s[BatchPerRow]
			x := RatioOf(api, raw)
			add("batch sync, 100 ids: public API ≤ 1.15× raw pgx", ratioMeasured(x, "", api, raw), x.Runs > 0 && x.Median <= 1.15)
			y := RatioOf(loop, api)
			add("batch sync, 100 ids: public API ≥ 6× faster than the per-row loop", ratioMeasured(y, " faster", api, loop), y.Median >= 6)
		}
	}
	if w := r.Write; w != nil && len(w.Bulk) > 0 {
		uow, stmt, row := w.Bulk[WriteAfterCommit], w.Bulk[WriteStmtTrigger], w.Bulk[WriteRowTrigger]
		x := RatioOf(uow, stmt)
		add(fmt.Sprintf("write path, %d comments over %d posts: explicit batch sync (UoW after-commit) ≤ 1.25× statement trigger", w.BulkComments, w.BulkPosts),
			ratioMeasured(x, "", uow, stmt), x.Runs > 0 && x.Median <= 1.25)
		y := RatioOf(row, uow)
		add("write path, same: explicit batch sync ≥ 3× faster than row trigger", ratioMeasured(y, " faster", uow, row), y.Median >= 3)
	}
	if f := r.Full; f != nil {
		for _, state := range f.States {
			s := f.Stats[state]
			eng, ins := s[FullEngine], s[FullInsertSelect]
			if ins.Runs > 0 && eng.Runs > 0 {
				y := RatioOf(ins, eng)
				add(fmt.Sprintf("full rebuild (%s): ≥ 1.5× faster than one INSERT … SELECT", state), ratioMeasured(y, " faster", eng, ins), y.Median >= 1.5)
			}
			if mv := s[FullMatview]; state == StateCurrent && mv.Runs > 0 && eng.Runs > 0 {
				y := RatioOf(mv, eng)
				add("full rebuild (already current): ≥ 2× faster than REFRESH MATERIALIZED VIEW CONCURRENTLY", ratioMeasured(y, " faster", eng, mv), y.Median >= 2)
			}
		}
		if f.PeakRSS > 0 {
			mb := float64(f.PeakRSS) / (1 << 20)
			add("full sync peak RSS < 100 MB", fmt.Sprintf("%.1f MiB (`tvsync sync --entity post --all`, %d posts)", mb, r.PostCount), mb < 100)
		}
	}
	if rd := r.Read; rd != nil {
		for _, c := range rd.Cases {
			st, bt := c.Rates[ReadStored], c.Rates[ReadBuilt]
			x := RateRatioOf(st, bt)
			add(fmt.Sprintf("read path, %s, %d readers: stored tv_post ≥ 3× the throughput of building at read time", c.Name, rd.Readers),
				fmt.Sprintf("%.1f× (%s; medians %.0f vs %.0f reads/s)", x.Median, x.of(1), st.Median, bt.Median),
				x.Median >= 3)
		}
	}
	if l := r.Lag; l != nil && len(l.Runs) > 0 {
		var ratios, p99s []float64
		achieved := true
		for _, run := range l.Runs {
			ratios = append(ratios, run.CommitRatio())
			p99s = append(p99s, float64(run.LagP99))
			achieved = achieved && run.Achieved >= 0.95*run.TargetRate
		}
		first := l.Runs[0]
		x := RunRatios(ratios, ones(len(ratios)))
		add(fmt.Sprintf("deferred mode: commit latency ≤ 1.2× a plain write, both with the workers running (p50, %.0f writes/s)", first.TargetRate),
			fmt.Sprintf("%.2f× (median of %d runs' ratios, %.2f–%.2f)", x.Median, x.Runs, x.Min, x.Max), x.Runs > 0 && x.Median <= 1.2)
		p99 := time.Duration(median(p99s))
		add(fmt.Sprintf("deferred mode: lag p99 ≤ 100 ms at %.0f writes/s with %d workers", first.TargetRate, first.Workers),
			fmt.Sprintf("median p99 %s ms of %d runs (%s ms; load %s)", ms(p99), len(l.Runs), lagP99s(l.Runs), lagLoads(l.Runs)),
			p99 <= 100*time.Millisecond && achieved)
	}
	if s := r.ScaleTable; s != nil && len(s.Points) >= 2 {
		small, large := s.Points[0], s.Points[len(s.Points)-1]
		x := s.PerRowRatio()
		add(fmt.Sprintf("full sync per row at %d posts ≤ 1.2× the figure at %d posts", large.Posts, small.Posts),
			fmt.Sprintf("%.2f× (%s; %s vs %s µs per row)", x.Median, x.of(2),
				us(median(large.PerRow())), us(median(small.PerRow()))), x.Runs > 0 && x.Median <= 1.2)
		for _, p := range s.Points {
			if rss := p.PeakRSS(); rss > 0 {
				mb := float64(rss) / (1 << 20)
				add(fmt.Sprintf("full sync peak RSS < 100 MB at %d posts", p.Posts), fmt.Sprintf("%.1f MiB (largest of %d runs)", mb, len(p.RSS)), mb < 100)
			}
		}
	}
	r.lagCompareTargets(add)
	return ts
}

func ones(n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = 1
	}
	return out
}

// us renders nanoseconds as microseconds.
func us(ns float64) string { return fmt.Sprintf("%.1f", ns/1e3) }

func lagP99s(runs []LagRun) string {
	s := make([]string, len(runs))
	for i, r := range runs {
		s[i] = ms(r.LagP99)
	}
	return strings.Join(s, ", ")
}

func lagLoads(runs []LagRun) string {
	ls := make([]Load, len(runs))
	for i, r := range runs {
		ls[i] = r.Load
	}
	return loads(ls)
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

// Markdown renders the results: conditions, targets, one section per
// measurement. Times are "median (min–max)" of the runs in milliseconds;
// ratios are medians of per-run ratios.
func (r *Results) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# tvsync benchmarks (scale %s)\n\n", r.Scale.Name)
	sc := r.Scale.Seed
	fmt.Fprintf(&b, "Run %s, took %s, load %s before it started. Data: %d users, %d posts, %d comments, %d likes (internal/seed), plus a post with each of %s comments, then full sync and VACUUM ANALYZE. ",
		r.Started.UTC().Format("2006-01-02 15:04 UTC"), r.Took.Round(time.Second), r.LoadBefore, sc.Users, sc.Posts, sc.Comments, sc.Likes, hotList())
	fmt.Fprintf(&b, "PostgreSQL %s on the same machine (GOMAXPROCS %d); the suite's server runs with fsync, synchronous_commit and full_page_writes off, shared_buffers 1GB, work_mem 16MB. ",
		r.ServerVersion, r.GOMAXPROCS)
	b.WriteString("Client and server share the cores. Times are milliseconds, **median (min–max)** of the runs. " +
		"Every comparison alternates its variants run by run in one sitting, and a ratio is the **median of the per-run ratios** (min–max over the runs), not the ratio of the medians, so a burst of noise slows both sides of one ratio instead of flipping a verdict. " +
		"**Load** is the 1-minute load average (/proc/loadavg, updated by the kernel every 5 s) at the start of each run. The suite itself keeps one to two of the 2 cores busy, so read it against the other runs: a run whose load stands well above its neighbours' (or a load before the run above ~0.5) shared the machine with other work.\n\n")
	if t := r.Template; t.Name != "" {
		b.WriteString(templateLine(t) + "\n\n")
	}
	if len(r.Setup) > 0 {
		var phases []string
		for _, p := range r.Setup {
			phases = append(phases, fmt.Sprintf("%s %s", p.Name, p.Duration.Round(100*time.Millisecond)))
		}
		b.WriteString("Setup of this run: " + strings.Join(phases, "; ") + ".\n\n")
	}

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
		if l := r.Lag; l != nil && l.High != nil {
			h := l.High
			fmt.Fprintf(&b, "**Figure to beat:** deferred lag p99 **%s ms** at %.0f writes/s asked (%.0f achieved) with %d workers (p50 %s ms, max %s ms; load %s).\n\n",
				ms(h.LagP99), h.TargetRate, h.Achieved, h.Workers, ms(h.LagP50), ms(h.LagMax), h.Load)
		}
	}

	r.scaleSection(&b)
	if x := r.Batch; x != nil {
		fmt.Fprintf(&b, "## 1. Batch sync of post ids (%d runs)\n\n", x.Stats[x.Sizes[0]][BatchEngine].Runs)
		b.WriteString("Same ids for every variant; before each run their tv_post rows are set to `'{}'` (not timed), so every run really rewrites every row, and after each run they are checked against tv_post_source (not timed). " +
			"The public API is `engine.Sync(ctx, ModeIncremental, Change{Entity: \"post\", IDs: ids, Cascade: false})` (SyncPost would cascade to tv_comment): one pipelined transaction with advisory locks, PostRefresh, PostDeleteMissing and a sync_log row. " +
			"Raw pgx is `pool.Exec(PostRefresh text, ids)` in autocommit. The per-row loop fetches post+author (+like count), fetches comments, builds the JSON in Go and upserts, per id, on one connection (three round trips per id).\n\n")
		batchTable(&b, x)
	}
	if x := r.BatchNet; x != nil {
		fmt.Fprintf(&b, "## 1n. Batch sync over a network: %s each way (%d runs)\n\n", ms(x.Network)+" ms", x.Stats[x.Sizes[0]][BatchEngine].Runs)
		fmt.Fprintf(&b, "The same measurement through an in-process TCP proxy on 127.0.0.1 that holds every chunk of bytes %s ms in each direction (a same-region round trip). "+
			"Measured round trip of `SELECT 1`: %s ms through the proxy", ms(x.Network), ms(x.RTT))
		if r.Batch != nil {
			fmt.Fprintf(&b, ", %s ms direct", ms(r.Batch.RTT))
		}
		b.WriteString(".\n\n")
		batchTable(&b, x)
		b.WriteString(r.networkGap() + "\n\n")
	}
	if w := r.Write; w != nil {
		fmt.Fprintf(&b, "## 2. Write path, keeping tv_post current (%d runs, on a clone database)\n\n", w.Bulk[WritePlain].Runs)
		fmt.Fprintf(&b, "Bulk: one transaction writing %d comments over %d posts with one `INSERT … SELECT FROM unnest(…)` (all variants but AddComment). "+
			"Single: %d one-comment transactions per run, mean per transaction. The tvsync variants record the post ids on the unit of work "+
			"(`uow.Record`), so they sync tv_post only, like the triggers; `uow.AddComment` (one INSERT per comment) also syncs tv_comment and tv_user. "+
			"Triggers exist only during their own runs; each run is undone (not timed) and tv_post checked current after every variant. × plain is the median of per-run ratios.\n\n",
			w.BulkComments, w.BulkPosts, w.SingleWrites)
		writeTable(&b, w)
	}
	if w := r.WriteNet; w != nil {
		fmt.Fprintf(&b, "## 2n. Write path over a network: %s ms each way (%d runs)\n\n", ms(w.Network), w.Bulk[WritePlain].Runs)
		b.WriteString("The same measurement through the delaying proxy of 1n; every round trip of a variant now costs about a millisecond more.\n\n")
		writeTable(&b, w)
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
		b.WriteString("tvsync FullSync walks keyset ranges of 1000 posts (the engine's BatchSize) on all cores, each refreshed by `PostRangeRefresh` with its orphans deleted in the same transaction; each chunk locks the ids it lists, so parallel chunks never wait for each other.\n\n")
		var rows [][]string
		for _, state := range f.States {
			s := f.Stats[state]
			rows = append(rows, []string{state, s[FullEngine].cell(), s[FullInsertSelect].cell(), s[FullMatview].cell(),
				RatioOf(s[FullInsertSelect], s[FullEngine]).cell(), RatioOf(s[FullMatview], s[FullEngine]).cell()})
		}
		table(&b, []string{"state", FullEngine, FullInsertSelect, FullMatview, "INSERT…SELECT / tvsync", "matview / tvsync"}, rows)
		fmt.Fprintf(&b, "Load per run: %s.\n\n", loads(f.Loads))
		switch {
		case f.PeakRSS > 0:
			fmt.Fprintf(&b, "Peak RSS of `tvsync sync --entity post --all` (child process, from empty, its VmHWM polled every 10 ms): **%.1f MiB**; its wall time %s ms.\n\n",
				float64(f.PeakRSS)/(1<<20), ms(f.PeakRSSTime))
		case f.PeakRSSNote != "":
			fmt.Fprintf(&b, "Peak RSS: %s.\n\n", f.PeakRSSNote)
		}
	}
	if rd := r.Read; rd != nil {
		runs := 0
		if len(rd.Cases) > 0 {
			runs = rd.Cases[0].Rates[ReadStored].Runs
		}
		fmt.Fprintf(&b, "## 4. Read path: one post by id (%d concurrent readers, %d runs)\n\n", rd.Readers, runs)
		b.WriteString("Stored: `repo.GetPost` reads the tv_post bytes. Built: `SELECT data FROM tv_post_source WHERE id = $1`, the same document built at read time. " +
			"The average post is read on distinct ids; each heavily commented post is read over and over, as a popular post is.\n\n")
		var rows [][]string
		for _, c := range rd.Cases {
			st, bt := c.Rates[ReadStored], c.Rates[ReadBuilt]
			rows = append(rows, []string{c.Name, fmt.Sprintf("%d × %d", rd.Readers, c.PerReader), st.cell(), bt.cell(), RateRatioOf(st, bt).cell()})
		}
		table(&b, []string{"posts read", "readers × reads", "stored tv_post, reads/s", "built at read time, reads/s", "stored / built"}, rows)
		fmt.Fprintf(&b, "Load per run: %s.\n\n", loads(rd.Loads))
	}
	r.replicaSection(&b)
	r.lagSection(&b)
	r.lagCompareSection(&b)
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
			rows = append(rows, []string{label, s[PlanLateral].cell(), s[PlanWide].cell(), RatioOf(s[PlanWide], s[PlanLateral]).cell()})
		}
		table(&b, []string{"ids", PlanLateral, PlanWide, "wide / lateral"}, rows)
		fmt.Fprintf(&b, "Load per run: %s.\n\n", loads(x.Loads))
	}
	return b.String()
}

// templateLine says where a data set came from.
func templateLine(t TemplateInfo) string {
	var phases []string
	for _, p := range t.Phases {
		phases = append(phases, fmt.Sprintf("%s %s", p.Name, p.Duration.Round(100*time.Millisecond)))
	}
	how := "built by this run and dropped after it"
	switch {
	case t.Reused:
		how = fmt.Sprintf("**reused**: built %s by an earlier run, so this run did not seed", t.Built.UTC().Format("2006-01-02 15:04 UTC"))
	case t.Kept:
		how = "built by this run and kept for later runs"
	}
	return fmt.Sprintf("Data set: template database `%s`, %s. Building it took %s (%s).", t.Name, how, t.BuildTime().Round(time.Second), strings.Join(phases, "; "))
}

// batchTable renders a batch sync result.
func batchTable(b *strings.Builder, x *BatchResult) {
	var rows [][]string
	for _, n := range x.Sizes {
		s := x.Stats[n]
		rows = append(rows, []string{fmt.Sprint(n), s[BatchEngine].cell(), s[BatchRawPgx].cell(), s[BatchPerRow].cell(),
			RatioOf(s[BatchEngine], s[BatchRawPgx]).cell(), RatioOf(s[BatchPerRow], s[BatchEngine]).cell(), loads(x.Loads[n])})
	}
	table(b, []string{"ids", BatchEngine, BatchRawPgx, BatchPerRow, "API / raw", "per-row / API", "load per run"}, rows)
}

// networkGap says how far apart the per-row loop and the API land with
// and without the network.
func (r *Results) networkGap() string {
	net := r.BatchNet
	var parts []string
	for _, n := range net.Sizes {
		s := net.Stats[n]
		g := RatioOf(s[BatchPerRow], s[BatchEngine])
		if g.Runs == 0 {
			continue
		}
		part := fmt.Sprintf("%.1f× at %d ids (%s vs %s ms", g.Median, n, ms(s[BatchPerRow].Median), ms(s[BatchEngine].Median))
		if r.Batch != nil {
			if l, ok := r.Batch.Stats[n]; ok {
				part += fmt.Sprintf("; %.1f× without the delay", RatioOf(l[BatchPerRow], l[BatchEngine]).Median)
			}
		}
		parts = append(parts, part+")")
	}
	return fmt.Sprintf("**How far apart:** with %s ms each way, the per-row loop takes %s the time of the public API. "+
		"The loop pays its three round trips per id; the API pays a fixed few per batch, whatever its size.", ms(net.Network), strings.Join(parts, ", "))
}

// writeTable renders a write path result.
func writeTable(b *strings.Builder, w *WriteResult) {
	plain, plainS := w.Bulk[WritePlain], w.Single[WritePlain]
	var rows [][]string
	for _, v := range WriteVariants {
		rows = append(rows, []string{v, w.Bulk[v].cell(), RatioOf(w.Bulk[v], plain).cell(), w.Single[v].cell(), RatioOf(w.Single[v], plainS).cell()})
	}
	table(b, []string{"variant", fmt.Sprintf("bulk %d comments", w.BulkComments), "× plain", "single comment", "× plain"}, rows)
	fmt.Fprintf(b, "Load per run: %s.\n\n", loads(w.Loads))
}

// scaleSection renders the scale table.
func (r *Results) scaleSection(b *strings.Builder) {
	s := r.ScaleTable
	if s == nil {
		if r.Scale.Name == ScaleMain.Name {
			b.WriteString("## Scale: full sync per row at 100k and 1M posts\n\nNot measured yet: run `tvsync-bench --scale 1m` (it writes its results next to these and adds this table here).\n\n")
		}
		return
	}
	runs := 0
	if len(s.Points) > 0 {
		runs = s.Points[0].Times.Runs
	}
	fmt.Fprintf(b, "## Scale: full sync per row (%d runs)\n\n", runs)
	if r.ScaleTableFrom != "" {
		b.WriteString("Measured " + r.ScaleTableFrom + ".\n\n")
	}
	how := "`tvsync sync --entity post --all` in a child process (its wall time, and its peak RSS: VmHWM polled every 10 ms)"
	if !s.Child {
		how = "`engine.FullSync(ctx, \"post\", FullOptions{})` in-process (" + s.Note + ")"
	}
	fmt.Fprintf(b, "One untimed warm-up run per data set first (a fresh clone starts with a cold page cache), then each run empties tv_post (`TRUNCATE`, not timed) and rebuilds it with %s, on each data set in turn; the per-row ratio is taken run by run. "+
		"Flat cost means a ratio near 1: every statement's work bounded by its chunk, not by the table.\n\n", how)
	var rows [][]string
	for _, p := range s.Points {
		rss := "–"
		if m := p.PeakRSS(); m > 0 {
			rss = fmt.Sprintf("%.1f", float64(m)/(1<<20))
		}
		per := p.PerRow()
		perMin, perMax := 0.0, 0.0
		if len(per) > 0 {
			perMin, perMax = per[0], per[0]
			for _, v := range per {
				perMin, perMax = min(perMin, v), max(perMax, v)
			}
		}
		built := fmt.Sprintf("%s (%s)", p.Template.BuildTime().Round(time.Second), map[bool]string{true: "reused", false: "built this run"}[p.Template.Reused])
		rows = append(rows, []string{p.Scale.Name, fmt.Sprint(p.Posts), p.Times.cell(),
			fmt.Sprintf("%s (%s–%s)", us(median(per)), us(perMin), us(perMax)), rss, built})
	}
	table(b, []string{"data set", "posts", "full sync, ms", "µs per post", "peak RSS, MiB", "data set build time"}, rows)
	x := s.PerRowRatio()
	fmt.Fprintf(b, "Largest / smallest per row: **%s** (median of per-run ratios). Load per run: %s.\n\n", x.cell(), loads(s.Loads))
}

// lagSection renders the deferred-mode investigation.
func (r *Results) lagSection(b *strings.Builder) {
	l := r.Lag
	if l == nil || len(l.Runs) == 0 {
		return
	}
	f := l.Runs[0]
	fmt.Fprintf(b, "## 5. Deferred mode under load: the lag investigation (on the clone)\n\n")
	fmt.Fprintf(b, "Each run starts its workers (`sync.NewWorker`, zero WorkerConfig, `Run`), then warms up for 1 s (the same writes at the same rate on posts of their own, every pool preparing its statements, until the workers have drained them), then paces deferred units of work (`uow.AddComment`, `syncuow.Deferred`) for %s, each on a different post, "+
		"and at the same time plain one-comment writes (same INSERT, no queue) at a quarter of the rate, so both commit latencies are measured with the same workers running. "+
		"Lag = tv_post.updated_at (when a worker's refresh wrote the row) − the moment the write's commit returned. "+
		"Deferred writers, plain writers and workers have pools of their own, named in application_name; pg_stat_activity is sampled every 10 ms and sync_queue every 50 ms while the writes run. "+
		"%d runs at %.0f writes/s with %d workers, one after the other, then the high-rate run.\n\n", f.Duration.Round(100*time.Millisecond), len(l.Runs), f.TargetRate, f.Workers)
	all := append([]LagRun(nil), l.Runs...)
	if l.High != nil {
		all = append(all, *l.High)
	}
	var rows [][]string
	for i, run := range all {
		name := fmt.Sprintf("run %d", i+1)
		if l.High != nil && i == len(all)-1 {
			name = "high rate"
		}
		rows = append(rows, []string{name, fmt.Sprintf("%.0f / %.0f", run.TargetRate, run.Achieved), fmt.Sprint(run.Workers),
			fmt.Sprintf("%s → %s", run.Load, run.LoadEnd),
			fmt.Sprintf("%s / **%s** / %s", ms(run.LagP50), ms(run.LagP99), ms(run.LagMax)),
			fmt.Sprintf("%s / %s", ms(run.DeferredP50), ms(run.DeferredP99)),
			fmt.Sprintf("%s / %s", ms(run.PlainP50), ms(run.PlainP99)),
			fmt.Sprintf("%.2f×", run.CommitRatio()),
			fmt.Sprintf("%d / %s", run.QueueMax, ms(run.OldestMax)),
			ms(run.Drain)})
	}
	table(b, []string{"run", "writes/s asked / achieved", "workers", "load start → end", "lag p50 / p99 / max, ms",
		"deferred commit p50 / p99, ms", "plain commit p50 / p99, ms", "deferred / plain (p50)", "queue max rows / oldest, ms", "drain after last write, ms"}, rows)
	b.WriteString("Top wait events per run (role, state, `wait_event_type:wait_event` or CPU; × = mean number of backends in it per sample). " +
		"`Client:ClientRead` while idle in transaction means the backend waited for its Go client (client CPU or scheduling); `Lock:*` a row, transaction or advisory lock; `LWLock:*` shared-memory contention; CPU a backend running or waiting for a core.\n\n")
	for i, run := range all {
		name := fmt.Sprintf("run %d", i+1)
		if l.High != nil && i == len(all)-1 {
			name = "high rate"
		}
		fmt.Fprintf(b, "- %s (%d samples): %s\n", name, run.Samples, waitEvents(run.WaitEvents, 6))
	}
	b.WriteString("\n")
}

// replicaSection renders the replica reads (6).
func (r *Results) replicaSection(b *strings.Builder) {
	x := r.Replica
	if x == nil || len(x.Rates) == 0 {
		return
	}
	p, tk := x.Rates[ReplicaPrimary], x.Rates[ReplicaToken]
	fmt.Fprintf(b, "## 6. Replica reads: one post by id, primary alone vs primary + streaming replica with token reads (%d concurrent readers, %d runs)\n\n", x.Readers, p.Runs)
	b.WriteString("`repo.GetPost` on the primary alone, then through a `syncread.Router` over the primary and one streaming replica (started by `pg_basebackup -R` for this measurement), " +
		"every read carrying a token taken on the primary at the start of its run: the router checks the replica's replay position on the connection that serves the read. " +
		"Alternated run by run on the same distinct average posts. The replica runs on the same machine as the primary, so this shows the cost of a token read, not the capacity a replica on its own host adds.\n\n")
	served := int64(0)
	if len(x.Stats.Replicas) > 0 {
		served = x.Stats.Replicas[0].Served
	}
	table(b, []string{"readers × reads", ReplicaPrimary + ", reads/s", ReplicaToken + ", reads/s", "token / primary"},
		[][]string{{fmt.Sprintf("%d × %d", x.Readers, x.PerReader), p.cell(), tk.cell(), RateRatioOf(tk, p).cell()}})
	fmt.Fprintf(b, "Token reads served by the replica: %d, by the primary: %d (fallbacks %d, waited %d). Replica started in %s. Load per run: %s.\n\n",
		served, x.Stats.Primary, x.Stats.Fallbacks, x.Stats.Waited, x.StartReplica.Round(time.Millisecond), loads(x.Loads))
}
