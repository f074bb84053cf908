package plancheck

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	tvsync "github.com/tvsync/tvsync/sync"
)

// Errors returned by Compare and Check. Test for them with errors.Is.
var (
	// ErrTableBound is wrapped by Comparison.Err when some statement's cost
	// grew with the table rather than with its batch.
	ErrTableBound = errors.New("plancheck: sync statements whose cost grows with the table")
	// ErrScalesTooClose is returned when the two measurements are not far
	// enough apart in data scale (Options.MinGrowth) to tell a plan bounded
	// by its batch from one that reads a table whole.
	ErrScalesTooClose = errors.New("plancheck: the two data scales are too close")
	// ErrMismatch is returned when the two measurements are not of the same
	// statements with the same batch size.
	ErrMismatch = errors.New("plancheck: the two measurements do not cover the same statements")
)

// Options tunes Measure, Compare and Check. The zero value is usable.
//
// Choose two scales of the same shape (as many dependent rows per id at
// both, so that a batch has as much to read at either) and a batch of about
// a percent of the tables at the large scale: from there on the planner
// prefers reading a table whole to probing an index per id, which is what
// the check must catch. Judging per table on rows examined keeps a batch
// that is a tenth of the small tables from failing a bounded plan.
type Options struct {
	// Batch is how many ids each statement covers; zero means DefaultBatch.
	Batch int
	// MaxRatio is how many times more rows of a table, and shared buffers
	// in it, a statement may examine and touch at the large scale than at
	// the small one; zero means 3. A plan bounded by its batch examines
	// about the same rows at both scales (an index one level deeper adds a
	// page per probe); a plan that reads a table whole examines as many
	// times more as the table grew.
	MaxRatio float64
	// Slack is how many shared buffers a statement may touch in a table
	// beyond MaxRatio times its small-scale figure, so that a table of a
	// handful of pages is not judged on the ratio alone; zero means 32.
	Slack int64
	// RowSlack is how many rows of a table a statement may examine beyond
	// MaxRatio times its small-scale figure; zero means Batch.
	RowSlack int64
	// MinGrowth is how many times more rows each entity's tv_ table must
	// hold at the large scale than at the small one (by the planner's
	// statistics, within 2% for ANALYZE's sampling) for the comparison to
	// mean anything; zero means 10.
	MinGrowth float64
	// Generic makes Measure (and so Check) explain each statement's generic
	// plan (ExplainGeneric), the plan a prepared statement may switch to
	// after its fifth execution, instead of its custom plan for the batch
	// (Explain). Check both: a plan can follow its batch in one and read a
	// table whole in the other.
	Generic bool
}

func (o Options) withDefaults() Options {
	if o.Batch <= 0 {
		o.Batch = DefaultBatch
	}
	if o.MaxRatio <= 0 {
		o.MaxRatio = 3
	}
	if o.Slack <= 0 {
		o.Slack = 32
	}
	if o.RowSlack <= 0 {
		o.RowSlack = int64(o.Batch)
	}
	if o.MinGrowth <= 0 {
		o.MinGrowth = 10
	}
	return o
}

// Verdict is how one statement's cost changed between the two scales.
type Verdict struct {
	// Small and Large are the statement's plans at the two scales.
	Small, Large Plan
	// Growth is how many times more rows the entity's tv_ table holds at
	// the large scale.
	Growth float64
	// Problems says why the statement fails the check, one sentence per
	// problem; it is empty when the statement passes.
	Problems []string
}

// Statement is the statement judged, as captured at the large scale.
func (v Verdict) Statement() Statement { return v.Large.Statement }

// OK reports whether the statement's cost followed its batch.
func (v Verdict) OK() bool { return len(v.Problems) == 0 }

// Comparison is the outcome of Compare: one verdict per statement, in the
// order of the measurements.
type Comparison struct {
	Options  Options
	Verdicts []Verdict
}

// Failed returns the verdicts of the statements that fail the check.
func (c Comparison) Failed() []Verdict {
	var out []Verdict
	for _, v := range c.Verdicts {
		if !v.OK() {
			out = append(out, v)
		}
	}
	return out
}

// Err returns nil when every statement passes, or an error wrapping
// ErrTableBound that names each failing statement and why it fails.
func (c Comparison) Err() error {
	failed := c.Failed()
	if len(failed) == 0 {
		return nil
	}
	var b strings.Builder
	for _, v := range failed {
		fmt.Fprintf(&b, "\n  %s: %s", v.Statement().Label(), strings.Join(v.Problems, "; "))
	}
	plans := "custom plans"
	if c.Options.Generic {
		plans = "generic plans"
	}
	return fmt.Errorf("%w (%s, %d of %d):%s", ErrTableBound, plans, len(failed), len(c.Verdicts), b.String())
}

// WriteTable writes one line per statement: its buffers (execution, hit
// plus read; planning in parentheses) at both scales, their ratio, the
// table it spent most on at the large scale, and its verdict.
func (c Comparison) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STATEMENT\tBATCH\tSMALL BUFFERS\tLARGE BUFFERS\tRATIO\tMOST AT LARGE\tVERDICT")
	for _, v := range c.Verdicts {
		most := "-"
		if len(v.Large.Relations) > 0 {
			r := v.Large.Relations[0]
			most = fmt.Sprintf("%s %d buffers, %d rows", r.Relation, r.Buffers, r.Rows)
		}
		verdict := "ok"
		if !v.OK() {
			verdict = "GROWS WITH THE TABLE"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d (%d)\t%d (%d)\t%.2f\t%s\t%s\n", v.Statement().Label(), v.Statement().Batch,
			v.Small.Buffers, v.Small.PlanningBuffers, v.Large.Buffers, v.Large.PlanningBuffers,
			ratio(v.Large.Buffers, v.Small.Buffers), most, verdict)
	}
	return tw.Flush()
}

// ratio is a/b, with b taken as at least 1.
func ratio(a, b int64) float64 { return float64(a) / float64(max(b, 1)) }

// Compare judges, statement by statement, two measurements of the same
// engine's statements at two data scales, small and large. A statement
// fails when, for some table, at the large scale it both
//
//   - examined more than MaxRatio times the rows of the table it examined
//     at the small scale, plus RowSlack (the plan reads more of the table:
//     a bounded plan examines the batch's rows at either scale), and
//   - touched more than MaxRatio times the shared buffers of the table
//     (heap and index) it touched at the small scale, plus Slack (it costs
//     more: a few extra rows of a table of a handful of pages do not count).
//
// A small table read whole is caught even when the batch's own pages
// dominate the statement's buffers; a batch that read a small table whole
// at the small scale, and probes an index at the large one, passes.
//
// Compare returns an error wrapping ErrMismatch when the two measurements
// are not of the same statements with the same batch sizes, and one
// wrapping ErrScalesTooClose when some entity's tv_ table did not grow
// MinGrowth times. The verdicts are in the Comparison; its Err says
// whether any failed.
func Compare(small, large Profile, opts Options) (Comparison, error) {
	opts = opts.withDefaults()
	cmp := Comparison{Options: opts}
	if len(small.Plans) != len(large.Plans) {
		return cmp, fmt.Errorf("%w: %d statements at the small scale, %d at the large one", ErrMismatch, len(small.Plans), len(large.Plans))
	}
	for i := range small.Plans {
		s, l := small.Plans[i], large.Plans[i]
		ss, ls := s.Statement, l.Statement
		if ss.Entity != ls.Entity || ss.Seq != ls.Seq || ss.Role != ls.Role || ss.Name() != ls.Name() {
			return cmp, fmt.Errorf("%w: statement %d is %s at the small scale, %s at the large one", ErrMismatch, i, ss.Label(), ls.Label())
		}
		if ss.Batch != ls.Batch {
			return cmp, fmt.Errorf("%w: %s covers %d ids at the small scale, %d at the large one (the small table holds fewer rows than the batch?)",
				ErrMismatch, ls.Label(), ss.Batch, ls.Batch)
		}
		growth := large.Rows[ls.Entity] / max(small.Rows[ls.Entity], 1)
		if growth*1.02 < opts.MinGrowth { // ANALYZE estimates reltuples from a sample
			return cmp, fmt.Errorf("%w: the tv_ table of entity %q holds %.0f rows at the small scale and %.0f at the large one (%.1f×, want %.0f×)",
				ErrScalesTooClose, ls.Entity, small.Rows[ls.Entity], large.Rows[ls.Entity], growth, opts.MinGrowth)
		}
		v := Verdict{Small: s, Large: l, Growth: growth}
		before := map[string]RelationCost{}
		for _, r := range s.Relations {
			before[r.Relation] = r
		}
		for _, r := range l.Relations {
			b := before[r.Relation]
			rowLimit := int64(opts.MaxRatio*float64(b.Rows)) + opts.RowSlack
			bufLimit := int64(opts.MaxRatio*float64(b.Buffers)) + opts.Slack
			if r.Rows > rowLimit && r.Buffers > bufLimit {
				v.Problems = append(v.Problems, fmt.Sprintf("reads %s with the table (%s): %d rows examined and %d buffers touched at the large scale, %.1f× and %.1f× the %d and %d at the small one",
					r.Relation, strings.Join(r.Scans, ", "), r.Rows, r.Buffers, ratio(r.Rows, b.Rows), ratio(r.Buffers, b.Buffers), b.Rows, b.Buffers))
			}
		}
		cmp.Verdicts = append(cmp.Verdicts, v)
	}
	return cmp, nil
}

// Check measures the statements of every entity of small and of large (two
// engines with the same registrations, over databases with the same schema
// at two data scales; see Measure) and compares them (see Compare). The
// returned error is a measuring or comparing error; whether statements
// failed the check is in the Comparison's Err.
func Check(ctx context.Context, small, large *tvsync.Engine, opts Options) (Comparison, error) {
	sp, err := Measure(ctx, small, opts)
	if err != nil {
		return Comparison{}, fmt.Errorf("measure at the small scale: %w", err)
	}
	lp, err := Measure(ctx, large, opts)
	if err != nil {
		return Comparison{}, fmt.Errorf("measure at the large scale: %w", err)
	}
	return Compare(sp, lp, opts)
}
