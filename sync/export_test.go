package sync

// SetSkipLocksForTest turns the per-id advisory locks off, so that tests can
// show the race they prevent.
func SetSkipLocksForTest(e *Engine, skip bool) { e.skipLocks = skip }

// SuperEnd exposes superEnd to the tests.
var SuperEnd = superEnd

// FineLockLimit exposes fineLockLimit to the tests.
const FineLockLimit = fineLockLimit

// WorkerDrains reports how many drain transactions w has begun.
func WorkerDrains(w *Worker) int64 { return w.drains.Load() }
