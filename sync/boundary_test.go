package sync_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The module's path, and the packages of the blog the kit must never link:
// its sqlc code, its entities, its repository and the module's top-level
// internal packages (the blog's test databases, seeding, bench, demo).
const modulePath = "github.com/tvsync/tvsync"

var blogPackages = []string{modulePath + "/db", modulePath + "/blog", modulePath + "/repository", modulePath + "/internal"}

// isBlog reports whether the import path is one of blogPackages or under one.
func isBlog(path string) bool {
	for _, p := range blogPackages {
		if path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}

// TestBoundary_KitLinksNoBlogPackage: no package under sync/ depends, directly
// or through another package, on the blog (db/, blog/, repository/) or on the
// module's top-level internal/ (test files, whose fixtures are the blog's, are
// not part of what a team links). `go list -deps` over ./... from sync/ lists
// every package the kit's packages link; for each one that is the blog's, the
// kit's packages importing it directly are named.
func TestBoundary_KitLinksNoBlogPackage(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", "-f", `{{.ImportPath}}: {{join .Imports " "}}`, "./...").CombinedOutput()
	require.NoError(t, err, "%s", out)
	var kit int
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, ": ")
		if isBlog(pkg) {
			t.Errorf("the kit links %s, a package of the blog", pkg)
		}
		if pkg != modulePath+"/sync" && !strings.HasPrefix(pkg, modulePath+"/sync/") {
			continue
		}
		kit++
		for _, imp := range strings.Fields(imports) {
			if isBlog(imp) {
				t.Errorf("%s imports %s: nothing under sync/ may import db/, blog/, repository/ or the module's internal/", pkg, imp)
			}
		}
	}
	require.Greater(t, kit, 10, "go list listed the kit's packages:\n%s", out)
}

// TestBoundary_ShopBinaryLinksNoBlogSymbol: a binary built from the shop
// example (its own module, on the kit alone) holds no symbol of the blog's
// packages: not the blog's sqlc queries (db.(*Queries).UserCreate), not its
// entities, not its repository. It builds examples/shop/cmd/shop into a temp
// folder and reads the symbol table with `go tool nm`.
func TestBoundary_ShopBinaryLinksNoBlogSymbol(t *testing.T) {
	t.Parallel()
	shop, err := filepath.Abs(filepath.Join("..", "examples", "shop"))
	require.NoError(t, err)
	bin := filepath.Join(t.TempDir(), "shop")
	build := exec.Command("go", "build", "-o", bin, "./cmd/shop")
	build.Dir = shop
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build the shop:\n%s", out)

	nm := exec.Command("go", "tool", "nm", bin)
	nm.Stderr = os.Stderr
	syms, err := nm.Output()
	require.NoError(t, err)
	var kit int
	for _, line := range strings.Split(string(syms), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 3 {
			continue
		}
		name := strings.Join(fields[2:], " ")
		if strings.Contains(name, modulePath+"/sync.") {
			kit++
		}
		for _, p := range blogPackages {
			if strings.Contains(name, p+".") || strings.Contains(name, p+"/") {
				t.Errorf("the shop's binary links %s, a symbol of the blog", name)
				break
			}
		}
	}
	assert.Positive(t, kit, "the shop's binary links the kit (symbols %s/sync.*)", modulePath)
}
