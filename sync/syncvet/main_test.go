package syncvet_test

import (
	"os"
	"testing"

	"github.com/tvsync/tvsync/sync/syncdbtest"
)

// TestMain starts one throwaway PostgreSQL for the tests of Tables.
func TestMain(m *testing.M) { os.Exit(syncdbtest.Main(m, syncdbtest.Options{})) }
