package sync

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// The refresh plans checkPlans compares, as named in planResult.Plan.
const (
	// planRefresh is Entity.Refresh, the per-id plan of small batches.
	planRefresh = "refresh"
	// planRefreshWide is Entity.RefreshWide, the plan of large batches.
	planRefreshWide = "refresh-wide"
	// planRefreshRange is Entity.RefreshRange with DeleteMissingRange, the
	// plan of full-sync chunks.
	planRefreshRange = "refresh-range"
)

// The kinds of difference a planResult counts, the keys of its Samples.
// Missing, stale and extra are found running the plan over every id of the
// Source view; outside, subset-missing and subset-stale running it over
// every other id (the subset pass).
const (
	// planMissing is an id of the Source view the plan wrote no tv_ row for.
	planMissing = "missing"
	// planStale is an id whose tv_ row the plan wrote with a document other
	// than the Source view's.
	planStale = "stale"
	// planExtra is a tv_ row the plan wrote for an id the Source view does
	// not hold.
	planExtra = "extra"
	// planOutside is a tv_ row the plan wrote, in the subset pass, for an id
	// it was not given: in production, a row written outside the batch's
	// advisory locks, where an older snapshot's document can overwrite a
	// newer sync's.
	planOutside = "outside"
	// planSubsetMissing is an id the plan was given in the subset pass and
	// wrote no tv_ row for.
	planSubsetMissing = "subset-missing"
	// planSubsetStale is an id the plan was given in the subset pass and
	// wrote a document other than the Source view's for.
	planSubsetStale = "subset-stale"
)

// planSamples is how many ids of each kind a planResult keeps.
const planSamples = 5

// checkSource is the temporary table checkPlans reads the Source view into,
// once: (id primary key, data, given), given marking the ids of the subset
// pass. It is dropped with the check's transaction.
const checkSource = "pg_temp.tvsync_check_source"

// ErrNoSource is returned by checkPlans for an entity registered without a
// Source view to compare its plans with.
var ErrNoSource = errors.New("tvsync: entity has no Source")

// planCheck is what checkPlans found for one entity.
type planCheck struct {
	Entity string
	// Source is the view the plans were compared with (Entity.Source).
	Source string
	// IDs is how many ids the Source view holds: the ids each plan ran over.
	IDs int
	// SubsetIDs is how many ids each plan was given in the subset pass:
	// every other id of the Source view (the second, the fourth, …).
	SubsetIDs int
	// Plans holds one result per registered plan, in the order refresh,
	// refresh-wide, refresh-range.
	Plans []planResult
}

// OK reports whether every plan built exactly the Source view's documents,
// given every id and given every other id.
func (c planCheck) OK() bool {
	for _, p := range c.Plans {
		if p.Differing() > 0 {
			return false
		}
	}
	return true
}

// String describes the check on one line per plan, naming the first ids of
// each kind of difference.
func (c planCheck) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "entity %s: %d ids in %s", c.Entity, c.IDs, c.Source)
	for _, p := range c.Plans {
		fmt.Fprintf(&b, "\n  %s: ", p.Plan)
		if p.Differing() == 0 {
			b.WriteString("same documents")
			continue
		}
		sep := ""
		if n := p.Missing + p.Stale + p.Extra; n > 0 {
			fmt.Fprintf(&b, "%d ids differ", n)
			for _, kind := range []string{planMissing, planStale, planExtra} {
				if n := p.count(kind); n > 0 {
					fmt.Fprintf(&b, "; %d %s (first %v)", n, kind, p.Samples[kind])
				}
			}
			sep = "; "
		}
		if p.Outside+p.SubsetMissing+p.SubsetStale == 0 {
			continue
		}
		fmt.Fprintf(&b, "%sgiven every other id (%d ids)", sep, c.SubsetIDs)
		sep = ": "
		for _, k := range []struct{ kind, what string }{
			{planOutside, "ids written outside the ids it was given"},
			{planSubsetMissing, "of those given missing"},
			{planSubsetStale, "of those given stale"},
		} {
			if n := p.count(k.kind); n > 0 {
				fmt.Fprintf(&b, "%s%d %s (first %v)", sep, n, k.what, p.Samples[k.kind])
				sep = "; "
			}
		}
	}
	return b.String()
}

// planResult is how the tv_ tables one plan built differ from the Source
// view: over every id, and over every other id (the subset pass).
type planResult struct {
	// Plan is planRefresh, planRefreshWide or planRefreshRange.
	Plan string
	// Missing, Stale and Extra count the ids of each kind of difference
	// when the plan ran over every id of the Source view.
	Missing, Stale, Extra int
	// Outside counts the tv_ rows the plan wrote in the subset pass for ids
	// it was not given; SubsetMissing and SubsetStale the ids it was given
	// then and wrote no row, or another document, for.
	Outside, SubsetMissing, SubsetStale int
	// Samples holds the first ids (up to 5, in id order) of each kind,
	// keyed by planMissing, planStale, planExtra, planOutside,
	// planSubsetMissing and planSubsetStale.
	Samples map[string][]ID
}

// Differing is how many differences the plan showed, over both passes (an
// id wrong in both counts twice).
func (r planResult) Differing() int {
	return r.Missing + r.Stale + r.Extra + r.Outside + r.SubsetMissing + r.SubsetStale
}

func (r planResult) count(kind string) int {
	switch kind {
	case planMissing:
		return r.Missing
	case planStale:
		return r.Stale
	case planExtra:
		return r.Extra
	case planOutside:
		return r.Outside
	case planSubsetMissing:
		return r.SubsetMissing
	}
	return r.SubsetStale
}

// add adds n to the count of kind.
func (r *planResult) add(kind string, n int) {
	switch kind {
	case planMissing:
		r.Missing += n
	case planStale:
		r.Stale += n
	case planExtra:
		r.Extra += n
	case planOutside:
		r.Outside += n
	case planSubsetMissing:
		r.SubsetMissing += n
	default:
		r.SubsetStale += n
	}
}

// checkPlans proves that every registered refresh plan of entity builds
// exactly the documents of its Source view on the engine's database, and
// only those of the ids it is given, so that a hand-tuned plan cannot drift
// from the one definition of the documents nor write rows outside the
// batch's locks. Each plan (Refresh; RefreshWide and RefreshRange with
// DeleteMissingRange when registered) runs twice on the emptied tv_ table:
//
//   - over every id of the Source view, in batches of Config.BatchSize (the
//     range plan over consecutive keyset ranges of that many ids, called as
//     full sync calls it); the tv_ table must then hold exactly the view's
//     ids and documents (else missing, stale, extra);
//   - over every other id (the second, the fourth, …), in the same batches
//     and ranges with every other id left out (the range plan as a chunk
//     that listed fewer ids); the tv_ table must then hold exactly the
//     documents of the ids given (else outside: written outside the ids it
//     was given; subset-missing, subset-stale).
//
// Both comparisons are set-based, ids and documents, both ways, with a
// copy of the view read once into a temporary table (the role needs
// TEMPORARY on the database, which PostgreSQL grants to PUBLIC); the view
// must hold each id once.
//
// Everything happens in one transaction that is always rolled back, each
// pass in a savepoint of its own: the tv_ table is never changed, and
// concurrent readers keep seeing its committed rows; concurrent syncs of
// the entity wait for the rollback (the check holds the locks of the rows
// it deleted). Memory holds one batch of ids at a time.
//
// It fails with ErrUnknownEntity for an unregistered entity, ErrNoSource
// for an entity without Source, and an error naming the entity and the plan
// when a statement fails. Differences are not errors: see planCheck.OK.
// Source must name a view or table, optionally schema-qualified.
func (e *Engine) checkPlans(ctx context.Context, entity string) (planCheck, error) {
	ent, err := e.entity(entity)
	if err != nil {
		return planCheck{Entity: entity}, err
	}
	check := planCheck{Entity: entity, Source: ent.Source}
	if ent.Source == "" {
		return check, fmt.Errorf("%w: entity %q (set Entity.Source to the view that defines its documents)", ErrNoSource, entity)
	}
	if strings.ContainsAny(ent.Source, "()") {
		return check, fmt.Errorf("tvsync: check plans of entity %q: Source %q is not a view name (a function call cannot be checked; define a view over it)", entity, ent.Source)
	}
	source := pgx.Identifier(strings.Split(ent.Source, ".")).Sanitize()
	view := pgx.Identifier(strings.Split(ent.View, ".")).Sanitize()

	tx, err := e.pool.Begin(ctx)
	if err != nil {
		return check, fmt.Errorf("tvsync: check plans of entity %q: begin: %w", entity, err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	// Emptied once: each pass's savepoint starts from the empty table.
	if _, err := tx.Exec(ctx, "DELETE FROM "+view); err != nil {
		return check, fmt.Errorf("tvsync: check plans of entity %q: empty %s: %w", entity, ent.View, err)
	}
	// The view is read once: every pass lists its ids from the copy and
	// compares the tv_ table with its documents. given marks every other id
	// in id order (the second, the fourth, …): those of the subset pass.
	for _, step := range []struct{ what, sql string }{
		{"read " + ent.Source, "CREATE TEMP TABLE " + checkSource + " ON COMMIT DROP AS SELECT s.id, s.data" + columnList("s.", ent.Columns) + ", row_number() OVER (ORDER BY s.id) % 2 = 0 AS given FROM " + source + " s"},
		{"index the ids of " + ent.Source + " (an id it holds twice, or null?)", "ALTER TABLE " + checkSource + " ADD PRIMARY KEY (id)"},
		{"analyze the copy of " + ent.Source, "ANALYZE " + checkSource},
	} {
		if _, err := tx.Exec(ctx, step.sql); err != nil {
			return check, fmt.Errorf("tvsync: check plans of entity %q: %s: %w", entity, step.what, err)
		}
	}

	type plan struct {
		name string
		run  planRun
	}
	refresh := func(f func(*Pipeline, []ID) func() (RefreshResult, error)) planRun {
		return func(p *Pipeline, _, _ ID, ids []ID) []func() error {
			read := f(p, ids)
			return []func() error{func() error { _, err := read(); return err }}
		}
	}
	plans := []plan{{planRefresh, refresh(ent.Refresh)}}
	if ent.RefreshWide != nil {
		plans = append(plans, plan{planRefreshWide, refresh(ent.RefreshWide)})
	}
	if ent.RefreshRange != nil {
		plans = append(plans, plan{planRefreshRange, func(p *Pipeline, after, upto ID, ids []ID) []func() error {
			read, del := ent.RefreshRange(p, after, upto, ids), ent.DeleteMissingRange(p, after, upto, ids)
			return []func() error{
				func() error { _, err := read(); return err },
				func() error { _, err := del(); return err },
			}
		}})
	}
	for i, pl := range plans {
		res := planResult{Plan: pl.name, Samples: map[string][]ID{}}
		for _, subset := range []bool{false, true} {
			n, err := e.checkPass(ctx, tx, ent, view, pl.run, subset, &res)
			if err != nil {
				pass := "every id"
				if subset {
					pass = "every other id"
				}
				return check, fmt.Errorf("tvsync: check plan %s of entity %q (%s): %w", pl.name, entity, pass, err)
			}
			if i == 0 && subset {
				check.SubsetIDs = n
			} else if i == 0 {
				check.IDs = n
			}
		}
		check.Plans = append(check.Plans, res)
	}
	return check, nil
}

// planRun queues one plan's statements for the batch ids of the keyset
// range (after, upto] on p, and returns their readers.
type planRun func(p *Pipeline, after, upto ID, ids []ID) []func() error

// checkPass runs one plan in a savepoint of tx into the (emptied) tv_
// table view (quoted), over every id of the Source view, or, when subset is
// set, over those marked given (every other id), in the same batches and
// ranges; compares the table with the documents of the ids given; adds the
// differences to res; and rolls the savepoint back. It returns how many ids
// the plan was given.
func (e *Engine) checkPass(ctx context.Context, tx pgx.Tx, ent *Entity, view string, run planRun, subset bool, res *planResult) (n int, err error) {
	sp, err := tx.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("savepoint: %w", err)
	}
	defer func() { _ = sp.Rollback(context.WithoutCancel(ctx)) }()
	after := minID(ent.Key)
	for first := true; ; first = false {
		ids, inSubset, err := e.sourceIDs(ctx, sp, ent, after, first)
		if err != nil {
			return n, err
		}
		if len(ids) == 0 {
			break
		}
		upto := ids[len(ids)-1]
		last := len(ids) < e.cfg.BatchSize
		if last {
			upto = maxID(ent.Key)
		}
		given := ids
		if subset {
			given = make([]ID, 0, len(ids)/2+1)
			for i, id := range ids {
				if inSubset[i] {
					given = append(given, id)
				}
			}
		}
		n += len(given)
		if len(given) > 0 { // the engine never syncs no id
			p := &Pipeline{}
			reads := run(p, after, upto, given)
			p.Send(ctx, sp)
			for _, read := range reads {
				if err == nil {
					err = read()
				}
			}
			if cerr := p.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return n, fmt.Errorf("ids (%s, %s]: %w", after, upto, err)
			}
		}
		if last {
			break
		}
		after = upto
	}
	return n, comparePlan(ctx, sp, ent, view, subset, res)
}

// sourceIDs lists the next BatchSize ids of the copy of the Source view
// after the cursor (from the first id when first is set), in id order, and
// which of them the subset pass gives.
func (e *Engine) sourceIDs(ctx context.Context, conn DB, ent *Entity, after ID, first bool) ([]ID, []bool, error) {
	var (
		rows pgx.Rows
		err  error
		c    = keyCollate(ent.Key) // a text key's order is COLLATE "C"
	)
	if first {
		rows, err = conn.Query(ctx, "SELECT c.id::text AS key, c.given FROM "+checkSource+" c ORDER BY c.id"+c+" LIMIT $1", e.cfg.BatchSize)
	} else {
		rows, err = conn.Query(ctx, "SELECT c.id::text AS key, c.given FROM "+checkSource+" c WHERE c.id"+c+" > $1 ORDER BY c.id"+c+" LIMIT $2", keyArg(after), e.cfg.BatchSize)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("list ids of %s after %s: %w", ent.Source, after, err)
	}
	type row struct {
		key   string
		given bool
	}
	listed, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (x row, err error) {
		return x, r.Scan(&x.key, &x.given)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("list ids of %s after %s: %w", ent.Source, after, err)
	}
	ids, given := make([]ID, len(listed)), make([]bool, len(listed))
	for i, x := range listed {
		if ids[i], err = ParseID(ent.Key, x.key); err != nil {
			return nil, nil, fmt.Errorf("%w: id of %s: %w", ErrKeyKind, ent.Source, err)
		}
		given[i] = x.given
	}
	return ids, given, nil
}

// comparePlan compares the tv_ table view with the copy of the Source
// view, or with its rows marked given when subset is set, set-based, in
// both directions, and adds the differences to res.
func comparePlan(ctx context.Context, conn DB, ent *Entity, view string, subset bool, res *planResult) error {
	want, missing, stale, extra := checkSource, planMissing, planStale, planExtra
	if subset {
		want = `(SELECT c.id, c.data` + columnList("c.", ent.Columns) + ` FROM ` + checkSource + ` c WHERE c.given)`
		missing, stale, extra = planSubsetMissing, planSubsetStale, planOutside
	}
	rows, err := conn.Query(ctx, `
		SELECT problem, count(*), (array_agg(id::text ORDER BY id))[1:$1]
		FROM (
			SELECT coalesce(t.id, s.id) AS id,
			       CASE WHEN t.id IS NULL THEN $2 WHEN s.id IS NULL THEN $3 ELSE $4 END AS problem
			FROM `+view+` t FULL JOIN `+want+` s ON s.id = t.id
			WHERE t.id IS NULL OR s.id IS NULL OR (t.data`+columnList("t.", ent.Columns)+`) IS DISTINCT FROM (s.data`+columnList("s.", ent.Columns)+`)
		) d
		GROUP BY problem`, planSamples, missing, extra, stale)
	if err != nil {
		return fmt.Errorf("compare %s with %s: %w", ent.View, ent.Source, err)
	}
	type kind struct {
		problem string
		count   int
		ids     []string
	}
	kinds, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (k kind, err error) {
		return k, r.Scan(&k.problem, &k.count, &k.ids)
	})
	if err != nil {
		return fmt.Errorf("compare %s with %s: %w", ent.View, ent.Source, err)
	}
	for _, k := range kinds {
		res.add(k.problem, k.count)
		for _, s := range k.ids {
			id, err := ParseID(ent.Key, s)
			if err != nil {
				return fmt.Errorf("%w: id compared in %s: %w", ErrKeyKind, ent.View, err)
			}
			res.Samples[k.problem] = append(res.Samples[k.problem], id)
		}
	}
	return nil
}

// columnList lists an entity's extra tv_ columns (Entity.Columns), each
// after a comma and qualified by prefix (", s.owner_id"), quoted.
func columnList(prefix string, cols []string) string {
	var b strings.Builder
	for _, c := range cols {
		b.WriteString(", " + prefix + pgx.Identifier{c}.Sanitize())
	}
	return b.String()
}
