package sync

// SetSkipLocksForTest turns the per-id advisory locks off, so that tests can
// show the race they prevent.
func SetSkipLocksForTest(e *Engine, skip bool) { e.skipLocks = skip }

// LockBucket exposes lockBucket to the tests.
var LockBucket = lockBucket

// BucketEnd exposes bucketEnd to the tests.
var BucketEnd = bucketEnd
