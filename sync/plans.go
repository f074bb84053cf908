package sync

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// The refresh plans CheckPlans compares, as named in PlanResult.Plan.
const (
	// PlanRefresh is Entity.Refresh, the per-id plan of small batches.
	PlanRefresh = "refresh"
	// PlanRefreshWide is Entity.RefreshWide, the plan of large batches.
	PlanRefreshWide = "refresh-wide"
	// PlanRefreshRange is Entity.RefreshRange with DeleteMissingRange, the
	// plan of full-sync chunks.
	PlanRefreshRange = "refresh-range"
)

// The kinds of difference a PlanResult counts, the keys of its Samples.
const (
	// PlanMissing is an id of the Source view the plan wrote no tv_ row for.
	PlanMissing = "missing"
	// PlanStale is an id whose tv_ row the plan wrote with a document other
	// than the Source view's.
	PlanStale = "stale"
	// PlanExtra is a tv_ row the plan wrote for an id the Source view does
	// not hold.
	PlanExtra = "extra"
)

// planSamples is how many ids of each kind a PlanResult keeps.
const planSamples = 5

// ErrNoSource is returned by CheckPlans for an entity registered without a
// Source view to compare its plans with.
var ErrNoSource = errors.New("tvsync: entity has no Source")

// PlanCheck is what CheckPlans found for one entity.
type PlanCheck struct {
	Entity string
	// Source is the view the plans were compared with (Entity.Source).
	Source string
	// IDs is how many ids the Source view holds: the ids each plan ran over.
	IDs int
	// Plans holds one result per registered plan, in the order refresh,
	// refresh-wide, refresh-range.
	Plans []PlanResult
}

// OK reports whether every plan built exactly the Source view's documents.
func (c PlanCheck) OK() bool {
	for _, p := range c.Plans {
		if p.Differing() > 0 {
			return false
		}
	}
	return true
}

// String describes the check on one line per plan, naming the first ids of
// each kind of difference.
func (c PlanCheck) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "entity %s: %d ids in %s", c.Entity, c.IDs, c.Source)
	for _, p := range c.Plans {
		fmt.Fprintf(&b, "\n  %s: ", p.Plan)
		if p.Differing() == 0 {
			b.WriteString("same documents")
			continue
		}
		fmt.Fprintf(&b, "%d ids differ", p.Differing())
		for _, kind := range []string{PlanMissing, PlanStale, PlanExtra} {
			if n := p.count(kind); n > 0 {
				fmt.Fprintf(&b, "; %d %s (first %v)", n, kind, p.Samples[kind])
			}
		}
	}
	return b.String()
}

// PlanResult is how the tv_ table one plan built differs from the Source view.
type PlanResult struct {
	// Plan is PlanRefresh, PlanRefreshWide or PlanRefreshRange.
	Plan string
	// Missing, Stale and Extra count the ids of each kind of difference.
	Missing, Stale, Extra int
	// Samples holds the first ids (up to 5, in id order) of each kind,
	// keyed by PlanMissing, PlanStale and PlanExtra.
	Samples map[string][]ID
}

// Differing is how many ids differ: missing, stale or extra.
func (r PlanResult) Differing() int { return r.Missing + r.Stale + r.Extra }

func (r PlanResult) count(kind string) int {
	switch kind {
	case PlanMissing:
		return r.Missing
	case PlanStale:
		return r.Stale
	}
	return r.Extra
}

// CheckPlans proves that every registered refresh plan of entity builds
// exactly the documents of its Source view on the engine's database, so
// that a hand-tuned plan cannot drift from the one definition of the
// documents. For each plan (Refresh; RefreshWide and RefreshRange with
// DeleteMissingRange when registered) it empties the entity's tv_ table,
// runs the plan over every id of the Source view in batches of
// Config.BatchSize (the range plan over consecutive keyset ranges of that
// many ids, called as full sync calls it), and compares the tv_ table with
// the view, set-based: ids and documents, both ways.
//
// Everything happens in one transaction that is always rolled back, each
// plan in a savepoint of its own: the tv_ table is never changed, and
// concurrent readers keep seeing its committed rows; concurrent syncs of
// the entity wait for the rollback (the check holds the locks of the rows
// it deleted). Memory holds one batch of ids at a time.
//
// It fails with ErrUnknownEntity for an unregistered entity, ErrNoSource
// for an entity without Source, and an error naming the entity and the plan
// when a statement fails. Differences are not errors: see PlanCheck.OK.
// Source must name a view or table, optionally schema-qualified.
func (e *Engine) CheckPlans(ctx context.Context, entity string) (PlanCheck, error) {
	ent, err := e.entity(entity)
	if err != nil {
		return PlanCheck{Entity: entity}, err
	}
	check := PlanCheck{Entity: entity, Source: ent.Source}
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

	type plan struct {
		name string
		run  func(p *Pipeline, after, upto ID, ids []ID) []func() error
	}
	refresh := func(f func(*Pipeline, []ID) func() (RefreshResult, error)) func(*Pipeline, ID, ID, []ID) []func() error {
		return func(p *Pipeline, _, _ ID, ids []ID) []func() error {
			read := f(p, ids)
			return []func() error{func() error { _, err := read(); return err }}
		}
	}
	plans := []plan{{PlanRefresh, refresh(ent.Refresh)}}
	if ent.RefreshWide != nil {
		plans = append(plans, plan{PlanRefreshWide, refresh(ent.RefreshWide)})
	}
	if ent.RefreshRange != nil {
		plans = append(plans, plan{PlanRefreshRange, func(p *Pipeline, after, upto ID, ids []ID) []func() error {
			read, del := ent.RefreshRange(p, after, upto, ids), ent.DeleteMissingRange(p, after, upto, ids)
			return []func() error{
				func() error { _, err := read(); return err },
				func() error { _, err := del(); return err },
			}
		}})
	}
	for i, pl := range plans {
		res, n, err := e.checkPlan(ctx, tx, ent, source, view, pl.run)
		if err != nil {
			return check, fmt.Errorf("tvsync: check plan %s of entity %q: %w", pl.name, entity, err)
		}
		res.Plan = pl.name
		check.Plans = append(check.Plans, res)
		if i == 0 {
			check.IDs = n
		}
	}
	return check, nil
}

// checkPlan runs one plan in a savepoint of tx over every id of the source
// (quoted) into the emptied tv_ table view (quoted), compares them, and
// rolls the savepoint back. It returns the differences and how many ids the
// source holds.
func (e *Engine) checkPlan(ctx context.Context, tx pgx.Tx, ent *Entity, source, view string, run func(p *Pipeline, after, upto ID, ids []ID) []func() error) (res PlanResult, n int, err error) {
	sp, err := tx.Begin(ctx)
	if err != nil {
		return res, 0, fmt.Errorf("savepoint: %w", err)
	}
	defer func() { _ = sp.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := sp.Exec(ctx, "DELETE FROM "+view); err != nil {
		return res, 0, fmt.Errorf("empty %s: %w", ent.View, err)
	}
	after := MinID(ent.Key)
	for first := true; ; first = false {
		ids, err := e.sourceIDs(ctx, sp, ent, source, after, first)
		if err != nil {
			return res, n, err
		}
		if len(ids) == 0 {
			break
		}
		n += len(ids)
		upto := ids[len(ids)-1]
		last := len(ids) < e.cfg.BatchSize
		if last {
			upto = MaxID(ent.Key)
		}
		p := &Pipeline{}
		reads := run(p, after, upto, ids)
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
			return res, n, fmt.Errorf("ids (%s, %s]: %w", after, upto, err)
		}
		if last {
			break
		}
		after = upto
	}
	res, err = comparePlan(ctx, sp, ent, source, view)
	return res, n, err
}

// sourceIDs lists the next BatchSize ids of the source view after the
// cursor (from the first id when first is set), in id order.
func (e *Engine) sourceIDs(ctx context.Context, conn DB, ent *Entity, source string, after ID, first bool) ([]ID, error) {
	var (
		rows pgx.Rows
		err  error
	)
	if first {
		rows, err = conn.Query(ctx, "SELECT id::text FROM "+source+" ORDER BY id LIMIT $1", e.cfg.BatchSize)
	} else {
		rows, err = conn.Query(ctx, "SELECT id::text FROM "+source+" WHERE id > $1 ORDER BY id LIMIT $2", keyArg(after), e.cfg.BatchSize)
	}
	if err != nil {
		return nil, fmt.Errorf("list ids of %s after %s: %w", ent.Source, after, err)
	}
	texts, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list ids of %s after %s: %w", ent.Source, after, err)
	}
	ids := make([]ID, len(texts))
	for i, s := range texts {
		if ids[i], err = ParseID(ent.Key, s); err != nil {
			return nil, fmt.Errorf("%w: id of %s: %w", ErrKeyKind, ent.Source, err)
		}
	}
	return ids, nil
}

// comparePlan compares the tv_ table view with the source view, set-based,
// in both directions.
func comparePlan(ctx context.Context, conn DB, ent *Entity, source, view string) (PlanResult, error) {
	res := PlanResult{Samples: map[string][]ID{}}
	rows, err := conn.Query(ctx, `
		SELECT problem, count(*), (array_agg(id::text ORDER BY id))[1:$1]
		FROM (
			SELECT coalesce(t.id, s.id) AS id,
			       CASE WHEN t.id IS NULL THEN '`+PlanMissing+`' WHEN s.id IS NULL THEN '`+PlanExtra+`' ELSE '`+PlanStale+`' END AS problem
			FROM `+view+` t FULL JOIN `+source+` s ON s.id = t.id
			WHERE t.id IS NULL OR s.id IS NULL OR t.data IS DISTINCT FROM s.data
		) d
		GROUP BY problem`, planSamples)
	if err != nil {
		return res, fmt.Errorf("compare %s with %s: %w", ent.View, ent.Source, err)
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
		return res, fmt.Errorf("compare %s with %s: %w", ent.View, ent.Source, err)
	}
	for _, k := range kinds {
		switch k.problem {
		case PlanMissing:
			res.Missing = k.count
		case PlanStale:
			res.Stale = k.count
		default:
			res.Extra = k.count
		}
		for _, s := range k.ids {
			id, err := ParseID(ent.Key, s)
			if err != nil {
				return res, fmt.Errorf("%w: id compared in %s: %w", ErrKeyKind, ent.View, err)
			}
			res.Samples[k.problem] = append(res.Samples[k.problem], id)
		}
	}
	return res, nil
}
