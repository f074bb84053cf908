package syncdbtest

import (
	"testing"

	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/internal/engineapi"
)

// checkPlans is the engine's plan check (package engineapi).
var checkPlans = engineapi.Get[engineapi.Engine[*tvsync.Engine, tvsync.Beginner, tvsync.DB, tvsync.Change, tvsync.Token]]().CheckPlans

// RequirePlansMatchSource fails t unless every registered refresh plan of
// each named entity (every registered entity when none is named) builds
// exactly the documents of the entity's Source view on e's database, and
// writes only the ids it is given: the one-line check that a hand-tuned
// plan (a RefreshWide or RefreshRange override, or a plan file) has not
// drifted from the definition of the documents, and writes no row outside
// its batch's locks. Seed the database first (at least two ids per entity):
// the plans run over every id of each Source view, then over every other id.
//
// It runs the engine's plan check, which rolls everything back: the tv_
// tables are left as they were. It checks every entity before failing, and
// the failure names each plan that differs and its first differing ids
// (those "written outside the ids it was given" included). An entity
// without Source, or unknown, fails the test.
func RequirePlansMatchSource(t testing.TB, e *tvsync.Engine, entities ...string) {
	t.Helper()
	if len(entities) == 0 {
		entities = e.Entities()
	}
	ctx := t.Context() // cancelled when the test ends
	failed := false
	for _, entity := range entities {
		check, err := checkPlans(ctx, e, entity)
		switch {
		case err != nil:
			t.Errorf("check plans of entity %q: %v", entity, err)
			failed = true
		case !check.OK():
			t.Errorf("a refresh plan does not build the documents of its Source view:\n%s", check)
			failed = true
		default:
			t.Logf("%s", check)
		}
	}
	if failed {
		t.FailNow()
	}
}
