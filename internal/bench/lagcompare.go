package bench

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// lagTarget is the lag p99 the comparison looks for: the highest rate whose
// p99 stays under it.
const lagTarget = 10 * time.Millisecond

// lockObject is how often, per sample, the deferred writers were seen
// waiting in Lock:object (the database-wide notify lock of PreCommit_Notify
// is an object lock), and whether Lock:object is among the top 6 events.
func (r LagRun) lockObject() (perSample float64, top bool) {
	for i, w := range r.WaitEvents {
		if w.Event == "Lock:object" {
			if w.Role == "deferred" {
				perSample += w.PerSample
			}
			if i < 6 {
				top = true
			}
		}
	}
	return perSample, top
}

// pairStats are the per-pair ratios and per-variant figures of pairs.
type pairStats struct {
	commit, lag         RatioStat // after / before: deferred commit p50, lag p99
	ratioBefore         []float64 // deferred / plain (p50), per run
	ratioAfter          []float64
	p99Before, p99After []float64 // lag p99, ns
	lockBefore          []float64 // deferred writers in Lock:object per sample
	lockAfter           []float64
	lockTopAfter        bool // Lock:object among an "after" run's top events
}

func statsOf(pairs []LagPair) pairStats {
	var s pairStats
	var cb, ca, lb, la []float64
	for _, p := range pairs {
		cb, ca = append(cb, float64(p.Before.DeferredP50)), append(ca, float64(p.After.DeferredP50))
		lb, la = append(lb, float64(p.Before.LagP99)), append(la, float64(p.After.LagP99))
		s.ratioBefore, s.ratioAfter = append(s.ratioBefore, p.Before.CommitRatio()), append(s.ratioAfter, p.After.CommitRatio())
		s.p99Before, s.p99After = lb, la
		ob, _ := p.Before.lockObject()
		oa, top := p.After.lockObject()
		s.lockBefore, s.lockAfter = append(s.lockBefore, ob), append(s.lockAfter, oa)
		s.lockTopAfter = s.lockTopAfter || top
	}
	s.commit, s.lag = RunRatios(ca, cb), RunRatios(la, lb)
	return s
}

// highestUnder returns, per variant, the highest rate of every pair whose
// lag p99 (the median of that rate's runs) is under lagTarget; 0 for none.
func (c *LagCompare) highestUnder() (before, after float64) {
	type acc struct{ b, a []float64 }
	byRate := map[float64]*acc{}
	for _, ps := range [][]LagPair{c.Base, c.High, c.Sweep} {
		for _, p := range ps {
			x := byRate[p.Before.TargetRate]
			if x == nil {
				x = &acc{}
				byRate[p.Before.TargetRate] = x
			}
			x.b, x.a = append(x.b, float64(p.Before.LagP99)), append(x.a, float64(p.After.LagP99))
		}
	}
	for rate, x := range byRate {
		if time.Duration(median(x.b)) < lagTarget {
			before = max(before, rate)
		}
		if time.Duration(median(x.a)) < lagTarget {
			after = max(after, rate)
		}
	}
	return before, after
}

// lagCompareTargets adds issue 21's targets for the comparison.
func (r *Results) lagCompareTargets(add func(goal, measured string, met bool)) {
	l := r.Lag
	if l == nil || l.Compare == nil {
		return
	}
	c := l.Compare
	if len(c.High) > 0 {
		h := c.High[0].After
		s := statsOf(c.High)
		x := RunRatios(s.ratioAfter, ones(len(s.ratioAfter)))
		add(fmt.Sprintf("deferred wake-ups: commit p50 ≤ 1.2× a plain write's at %.0f writes/s with %d workers (after)", h.TargetRate, h.Workers),
			fmt.Sprintf("%.2f× (median of %d runs, %.2f–%.2f; before: %.2f×)", x.Median, x.Runs, x.Min, x.Max, median(s.ratioBefore)), x.Runs > 0 && x.Median <= 1.2)
		p99 := time.Duration(median(s.p99After))
		add(fmt.Sprintf("deferred wake-ups: lag p99 ≤ 10 ms at %.0f writes/s with %d workers (after)", h.TargetRate, h.Workers),
			fmt.Sprintf("median p99 %s ms (runs %s ms; before %s ms)", ms(p99), durs(s.p99After), durs(s.p99Before)), p99 <= lagTarget)
		add(fmt.Sprintf("deferred wake-ups: no Lock:object among the top wait events at %.0f writes/s (after)", h.TargetRate),
			fmt.Sprintf("deferred writers in Lock:object ×%.2f per sample (before ×%.2f)", median(s.lockAfter), median(s.lockBefore)), !s.lockTopAfter)
	}
	if len(c.Base) > 0 {
		s := statsOf(c.Base)
		add(fmt.Sprintf("deferred wake-ups: at %.0f writes/s no worse than before (lag p99 and commit p50, after / before)", c.Base[0].After.TargetRate),
			fmt.Sprintf("lag p99 %s, commit p50 %s (medians of per-pair ratios)", s.lag.cell(), s.commit.cell()),
			s.lag.Runs > 0 && s.lag.Median <= 1.2 && s.commit.Median <= 1.2)
	}
}

// durs renders durations (ns as floats) in ms, comma-separated.
func durs(ns []float64) string {
	s := make([]string, len(ns))
	for i, v := range ns {
		s[i] = ms(time.Duration(v))
	}
	return strings.Join(s, ", ")
}

// lagCompareSection renders the before/after comparison.
func (r *Results) lagCompareSection(b *strings.Builder) {
	l := r.Lag
	if l == nil || l.Compare == nil {
		return
	}
	c := l.Compare
	b.WriteString("### Wake-ups: NOTIFY in the write transaction (before) vs coalesced after the commit (after)\n\n")
	b.WriteString("Before: every deferred write sends `pg_notify` in its transaction (`Config.NotifyInTransaction`), so its commit takes PostgreSQL's database-wide notify lock (`PreCommit_Notify`, seen as `Lock:object`). " +
		"After: the write commits its queue rows alone and the engine sends one NOTIFY per `Config.NotifyInterval` (2 ms) after commits, on a pooled connection. " +
		"Each pair runs both variants one after the other, the order alternating from pair to pair; ratios are after / before within a pair, and the table gives their median. Load is the 1-minute load average at the start → end of each run (the machine is shared with other agents' builds and tests).\n\n")
	var rows [][]string
	group := func(name string, pairs []LagPair) {
		for i, p := range pairs {
			order := []LagRun{p.After, p.Before}
			if p.BeforeFirst {
				order = []LagRun{p.Before, p.After}
			}
			for _, run := range order {
				lo, _ := run.lockObject()
				rows = append(rows, []string{fmt.Sprintf("%s %d", name, i+1), run.Variant(), fmt.Sprintf("%.0f / %.0f", run.TargetRate, run.Achieved),
					fmt.Sprint(run.Workers), fmt.Sprintf("%s → %s", run.Load, run.LoadEnd),
					fmt.Sprintf("%s / **%s** / %s", ms(run.LagP50), ms(run.LagP99), ms(run.LagMax)),
					fmt.Sprintf("%s / %s", ms(run.DeferredP50), ms(run.PlainP50)), fmt.Sprintf("%.2f×", run.CommitRatio()),
					fmt.Sprintf("×%.2f", lo)})
			}
		}
	}
	group("base", c.Base)
	group("high", c.High)
	group("sweep", c.Sweep)
	table(b, []string{"pair", "variant", "writes/s asked / achieved", "workers", "load start → end", "lag p50 / p99 / max, ms",
		"deferred / plain commit p50, ms", "deferred / plain", "deferred writers in Lock:object"}, rows)

	var sum [][]string
	for _, g := range []struct {
		name  string
		pairs []LagPair
	}{{"base", c.Base}, {"high", c.High}} {
		if len(g.pairs) == 0 {
			continue
		}
		s := statsOf(g.pairs)
		sum = append(sum, []string{fmt.Sprintf("%s: %.0f writes/s, %d workers, %d pairs", g.name, g.pairs[0].After.TargetRate, g.pairs[0].After.Workers, len(g.pairs)),
			s.commit.cell(), s.lag.cell(),
			fmt.Sprintf("%.2f× / %.2f×", median(s.ratioBefore), median(s.ratioAfter)),
			fmt.Sprintf("%s / %s", ms(time.Duration(median(s.p99Before))), ms(time.Duration(median(s.p99After)))),
			fmt.Sprintf("×%.2f / ×%.2f", median(s.lockBefore), median(s.lockAfter))})
	}
	table(b, []string{"rate", "deferred commit p50, after / before", "lag p99, after / before", "deferred / plain p50, before / after",
		"median lag p99 ms, before / after", "Lock:object, before / after"}, sum)
	before, after := c.highestUnder()
	rates := map[float64]bool{}
	for _, ps := range [][]LagPair{c.Base, c.High, c.Sweep} {
		for _, p := range ps {
			rates[p.After.TargetRate] = true
		}
	}
	var tried []string
	for _, rt := range slices.Sorted(func(yield func(float64) bool) {
		for k := range rates {
			if !yield(k) {
				return
			}
		}
	}) {
		tried = append(tried, fmt.Sprintf("%.0f", rt))
	}
	fmt.Fprintf(b, "Highest rate tried (%s writes/s) whose lag p99 (median of that rate's runs) stays under %s ms: **before %s, after %s** writes/s.\n\n",
		strings.Join(tried, ", "), ms(lagTarget), rateOrNone(before), rateOrNone(after))
	b.WriteString("Top wait events per run:\n\n")
	for _, g := range []struct {
		name  string
		pairs []LagPair
	}{{"base", c.Base}, {"high", c.High}, {"sweep", c.Sweep}} {
		for i, p := range g.pairs {
			for _, run := range []LagRun{p.Before, p.After} {
				fmt.Fprintf(b, "- %s %d %s, %.0f/s (%d samples): %s\n", g.name, i+1, run.Variant(), run.TargetRate, run.Samples, waitEvents(run.WaitEvents, 6))
			}
		}
	}
	b.WriteString("\n")
}

func rateOrNone(r float64) string {
	if r == 0 {
		return "none"
	}
	return fmt.Sprintf("%.0f", r)
}
