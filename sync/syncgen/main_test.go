package syncgen_test

import (
	"os"
	"testing"

	"github.com/tvsync/tvsync/sync/syncdbtest"
)

func TestMain(m *testing.M) {
	os.Exit(syncdbtest.Main(m, syncdbtest.Options{}))
}
