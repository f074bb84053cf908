package plancheck_test

import (
	"context"
	"fmt"

	"github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/plancheck"
)

// ExampleCheck judges every sync statement of two engines registering the
// same entities over databases ten times apart in size, in their custom
// plans, then in their generic plans.
func ExampleCheck() {
	ctx := context.Background()
	var smallEngine, largeEngine *sync.Engine // the same registrations on a small and a 10× larger database

	cmp, err := plancheck.Check(ctx, smallEngine, largeEngine, plancheck.Options{Batch: 200})
	// err: the measurement failed; cmp.Err(): statements whose cost grows with the table
	generic, err := plancheck.Check(ctx, smallEngine, largeEngine, plancheck.Options{Batch: 200, Generic: true})
	// the same for the generic plans, which pgx's prepared statements may use from the sixth run on

	fmt.Println(err, cmp.Err(), generic.Err())
}
