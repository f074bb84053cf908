//go:build !race

package syncdbtest_test

// raceEnabled reports whether the tests were built with -race, so that the
// external module builds with it too and shares the build cache.
const raceEnabled = false
