package main

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBinary_LinksNeitherTheBenchNorTheTestKit holds the operator binary
// apart from the tools: among the packages it links (go list -deps) are
// neither the benchmark suite nor its plotting (gonum), nor the test kit
// (sync/syncdbtest) and its per-test databases (pgtestdb), nor testify.
func TestBinary_LinksNeitherTheBenchNorTheTestKit(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	deps := strings.Fields(string(out))
	require.Contains(t, deps, "github.com/tvsync/tvsync/sync/synccli", "go list -deps lists what the binary links")
	for _, dep := range deps {
		for _, forbidden := range []string{
			"github.com/tvsync/tvsync/internal/bench",
			"gonum.org/v1/plot",
			"github.com/tvsync/tvsync/sync/syncdbtest",
			"github.com/peterldowns/pgtestdb",
			"github.com/stretchr/testify",
		} {
			assert.False(t, dep == forbidden || strings.HasPrefix(dep, forbidden+"/"), "cmd/tvsync links %s", dep)
		}
	}
}
