package plancheck

import (
	"context"
	"fmt"

	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/internal/engineapi"
)

// enginePool is the database an engine was built on (package engineapi).
var enginePool = engineapi.Get[engineapi.Engine[*tvsync.Engine, tvsync.Beginner, tvsync.DB, tvsync.Change, tvsync.Token]]().Pool

// minID is the smallest id of a kind, where a listing starts (package
// engineapi).
var minID = engineapi.Get[engineapi.Keys[tvsync.KeyKind, tvsync.ID]]().MinID

// DefaultBatch is the batch size Measure plans for when Options.Batch is zero.
const DefaultBatch = 100

// Profile is what every sync statement of an engine's entities cost on one
// database.
type Profile struct {
	// Plans holds one plan per statement, entity by entity (in the
	// engine's order), each entity's in the order of [Capture].
	Plans []Plan
	// Rows is, per entity, how many rows its tv_ table (Entity.View) holds
	// by the planner's statistics (pg_class.reltuples): the scale of the
	// data the plans were measured at.
	Rows map[string]float64
}

// Measure explains every sync statement of every entity registered with e
// on e's pool (see [Statements] and [Explain], or [ExplainGeneric] with
// opts.Generic) for a batch of opts.Batch ids,
// each in a transaction it rolls back. The database must hold data and be
// ANALYZEd, its tv_ tables filled: plans depend on statistics, and the
// statements on the rows they find.
func Measure(ctx context.Context, e *tvsync.Engine, opts Options) (Profile, error) {
	opts = opts.withDefaults()
	conn := enginePool(e)
	prof := Profile{Rows: map[string]float64{}}
	for _, name := range e.Entities() {
		ent, err := e.Entity(name)
		if err != nil {
			return Profile{}, err
		}
		var rows float64
		if err := conn.QueryRow(ctx, "SELECT reltuples::float8 FROM pg_class WHERE oid = to_regclass($1)", ent.View).Scan(&rows); err != nil {
			return Profile{}, fmt.Errorf("plancheck: read the statistics of %s (entity %q): %w", ent.View, name, err)
		}
		if rows < 0 {
			return Profile{}, fmt.Errorf("plancheck: %s (entity %q) has never been analyzed: run ANALYZE, so that the plans are those of the data", ent.View, name)
		}
		prof.Rows[name] = rows
		stmts, err := Statements(ctx, conn, ent, opts.Batch)
		if err != nil {
			return Profile{}, err
		}
		for _, st := range stmts {
			explain := Explain
			if opts.Generic {
				explain = ExplainGeneric
			}
			plan, err := explain(ctx, conn, st)
			if err != nil {
				return Profile{}, err
			}
			prof.Plans = append(prof.Plans, plan)
		}
	}
	return prof, nil
}
