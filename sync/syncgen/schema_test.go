package syncgen_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/sync/syncgen"
)

// TestSchemaTables reads tables and columns, in table order, as sqlc sees
// them: goose Up parts only; constraints, comments, string literals and
// dollar-quoted bodies skipped; ALTER TABLE and DROP TABLE followed; views
// are no tables.
func TestSchemaTables(t *testing.T) {
	dir := filepath.Join("testdata", "schema")
	tables, err := syncgen.SchemaTables([]string{filepath.Join(dir, "kit"), filepath.Join(dir, "app")})
	require.NoError(t, err)
	assert.Equal(t, []syncgen.Table{
		{Name: "log", Columns: []string{"id", "note"}},
		{Name: "tb_item", Columns: []string{"id", "Label", "unit_price", "stock", "sku"}},
		{Name: "tv_item", Columns: []string{"id", "data", "updated_at"}},
		{Name: "tv_thing", Columns: []string{"id", "data", "updated_at"}},
	}, tables)
}

// copyTree copies the schema fixture to a temporary folder.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	require.NoError(t, os.CopyFS(dst, os.DirFS(src)))
	return dst
}

// TestGenerate_RewritesTheSqlcColumnListsFromTheSchema: gen rewrites the
// marked block of sqlc.yaml, one list per distinct column list with the
// tables that have it, and a migration that adds a column makes the file
// stale.
func TestGenerate_RewritesTheSqlcColumnListsFromTheSchema(t *testing.T) {
	dir := copyTree(t, filepath.Join("testdata", "schema"))
	files, err := syncgen.Generate(filepath.Join(dir, "tvsync.yaml"))
	require.NoError(t, err)
	sqlc := files[len(files)-1]
	assert.Equal(t, filepath.Join(dir, "sqlc.yaml"), sqlc.Path)
	assert.Equal(t, `version: "2"
sql:
  - engine: postgresql
    schema: [kit, app]
    queries: queries
rules:
  - name: no-select-star
    rule: |
      [
        // BEGIN tvsync gen
        ["id", "note"], // log
        ["id", "Label", "unit_price", "stock", "sku"], // tb_item
        ["id", "data", "updated_at"] // tv_item, tv_thing
        // END tvsync gen
      ].exists(cols, true)
`, string(sqlc.Content))
	_, err = syncgen.Write(files)
	require.NoError(t, err)
	stale, err := syncgen.Stale(files)
	require.NoError(t, err)
	assert.Empty(t, stale)

	require.NoError(t, os.WriteFile(filepath.Join(dir, "app", "00003_more.sql"), []byte("-- +goose Up\nALTER TABLE tb_item ADD COLUMN weight int;\n"), 0o644))
	files, err = syncgen.Generate(filepath.Join(dir, "tvsync.yaml"))
	require.NoError(t, err)
	stale, err = syncgen.Stale(files)
	require.NoError(t, err)
	assert.Equal(t, []string{filepath.Join(dir, "sqlc.yaml")}, stale)
	assert.Contains(t, string(files[len(files)-1].Content), `["id", "Label", "unit_price", "stock", "sku", "weight"], // tb_item`)
}

func TestGenerate_SqlcWithoutTheBlockFailsNamingTheMarkers(t *testing.T) {
	dir := copyTree(t, filepath.Join("testdata", "schema"))
	src, err := os.ReadFile(filepath.Join(dir, "sqlc.yaml"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "sqlc.yaml"), []byte(strings.Replace(string(src), "// END tvsync gen", "", 1)), 0o644))
	_, err = syncgen.Generate(filepath.Join(dir, "tvsync.yaml"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), filepath.Join(dir, "sqlc.yaml")+`: no block to rewrite: add the lines "// BEGIN tvsync gen" and "// END tvsync gen"`)
}
