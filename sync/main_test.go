package sync_test

import (
	"os"
	"testing"

	"github.com/tvsync/tvsync/internal/testdb"
)

// TestMain starts one throwaway PostgreSQL for the package's tests, or runs
// the child side of the crash tests when the parent asked for it.
func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) != "" {
		os.Exit(crashChild())
	}
	os.Exit(testdb.Main(m))
}
