package sync

import "github.com/google/uuid"

// SetSkipLocksForTest turns the per-id advisory locks off, so that tests can
// show the race they prevent.
func SetSkipLocksForTest(e *Engine, skip bool) { e.skipLocks = skip }

// SuperEnd exposes superEnd to the tests.
var SuperEnd = superEnd

// FineLockLimit exposes fineLockLimit to the tests.
const FineLockLimit = fineLockLimit

// WorkerDrains reports how many drain transactions w has begun.
func WorkerDrains(w *Worker) int64 { return w.drains.Load() }

// LockKeysForTest returns the advisory lock keys, in acquisition order, and
// their modes, that a sync of ids of entity takes.
func LockKeysForTest(entity string, ids []uuid.UUID) (keys []int64, shared []bool) {
	l := lockPlan{}
	l.addIDs(entity, ids)
	return l.sorted()
}
