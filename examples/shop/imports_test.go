package shop_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestImports_OnlyThePublicKit holds every package of the shop module, tests
// included, to tvsync's public kit: of tvsync's own module it may import
// package sync and the packages under it, never the blog (db, blog,
// repository, migrations, cmd) or anything internal.
func TestImports_OnlyThePublicKit(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}: {{join .Imports " "}} {{join .TestImports " "}} {{join .XTestImports " "}}`, "./...").CombinedOutput()
	require.NoError(t, err, "%s", out)
	const root, shop = "github.com/tvsync/tvsync/", "github.com/tvsync/tvsync/examples/shop"
	var kit int
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, ": ")
		for _, imp := range strings.Fields(imports) {
			switch {
			case imp == shop || strings.HasPrefix(imp, shop+"/") || !strings.HasPrefix(imp, root):
			case imp == root+"sync" || strings.HasPrefix(imp, root+"sync/"):
				kit++
			default:
				t.Errorf("%s imports %s, which is not tvsync's public kit (sync/...)", pkg, imp)
			}
		}
	}
	require.Positive(t, kit, "the shop imports the kit")
}
