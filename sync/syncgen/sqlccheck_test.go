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

// TestGenerate_SaysWhichSqlcOverrideUUIDKeysNeed: uuid keys compile only
// with sqlc's override of uuid to github.com/google/uuid.UUID (the
// registration passes []uuid.UUID; pgx/v5's default is pgtype.UUID). gen
// fails naming the file, the block, the entities and the exact lines to
// add, whether sqlc.yaml is declared (sqlc:) or found next to the
// declarations; with the override, in either of sqlc's forms, or with no
// uuid key, it generates.
func TestGenerate_SaysWhichSqlcOverrideUUIDKeysNeed(t *testing.T) {
	const decl = `version: 1
sql: {out: q}
go: {out: g/entities_gen.go, package: g, queries: example.com/x/db}
entities:
  - name: tag
    table: tb_tag
    key: {column: id, type: uuid}
    tv: tv_tag
    source: tv_tag_source
  - name: note
    table: tb_note
    key: {column: id, type: uuid}
    tv: tv_note
    source: tv_note_source
`
	sqlc := func(overrides string) string {
		return "version: \"2\"\nsql:\n  - engine: postgresql\n    schema: schema.sql\n    queries: q\n    gen:\n      go:\n        package: db\n        out: db\n        sql_package: pgx/v5\n" + overrides
	}
	for _, tc := range []struct {
		name, decl, sqlc, want string
	}{
		{"no override", decl, sqlc(""), `sqlc.yaml: sql[0].gen.go maps uuid columns to pgtype.UUID (sqlc's pgx/v5 default), but the registration tvsync gen writes for entities "tag", "note" (key.type uuid) passes their keys as github.com/google/uuid.UUID: add to sql[0].gen.go.overrides:
  - db_type: uuid
    go_type: github.com/google/uuid.UUID`},
		{"another override only", decl, sqlc("        overrides:\n          - db_type: timestamptz\n            go_type: time.Time\n"), `sql[0].gen.go maps uuid columns to pgtype.UUID`},
		{"declared sqlc.yaml", decl + "sqlc: sqlc.yaml\n", sqlc(""), `sql[0].gen.go maps uuid columns to pgtype.UUID`},
		{"the override", decl, sqlc("        overrides:\n          - db_type: uuid\n            go_type: github.com/google/uuid.UUID\n"), ""},
		{"the override, import form", decl, sqlc("        overrides:\n          - db_type: uuid\n            go_type: {import: github.com/google/uuid, type: UUID}\n"), ""},
		{"no uuid key", strings.ReplaceAll(decl, "type: uuid", "type: text"), sqlc(""), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(dir, "tvsync.yaml"), []byte(tc.decl), 0o644))
			require.NoError(t, os.WriteFile(filepath.Join(dir, "sqlc.yaml"), []byte(tc.sqlc), 0o644))
			require.NoError(t, os.WriteFile(filepath.Join(dir, "schema.sql"), []byte("CREATE TABLE tb_tag (id uuid PRIMARY KEY);\n"), 0o644))
			_, err := syncgen.Generate(filepath.Join(dir, "tvsync.yaml"))
			if tc.want == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}
