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

// planDecl declares one bigint entity with a wide and a range plan file.
const planDecl = `version: 1
sql: {out: queries}
go: {out: app/entities_gen.go, package: app, queries: example.com/app/db}
entities:
  - name: item
    table: tb_item
    key: {column: id, type: bigint}
    tv: tv_item
    source: tv_item_source
    plans:
      wide: queries/plans/item_wide.sql
      range: queries/plans/item_range.sql
`

const (
	itemWide = `-- ItemWideRefresh builds the item documents of a large batch.
SELECT i.id, jsonb_build_object('name', i.name) AS data
FROM tb_item i WHERE i.id = ANY(@ids::bigint[]);
`
	itemRange = `SELECT i.id, jsonb_build_object('name', i.name) AS data
FROM tb_item i
WHERE i.id >= @after::bigint AND (i.id > @after::bigint OR i.id = -9223372036854775808) AND i.id <= @upto::bigint
`
)

// planDir writes planDecl (edited by the replacements old, new, …) and
// the two plan files into a new folder and returns the declaration's path.
func planDir(t *testing.T, wide, rng string, edits ...string) string {
	t.Helper()
	dir := t.TempDir()
	decl := strings.NewReplacer(edits...).Replace(planDecl)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "tvsync.yaml"), []byte(decl), 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "queries", "plans"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "queries", "plans", "item_wide.sql"), []byte(wide), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "queries", "plans", "item_range.sql"), []byte(rng), 0o644))
	return filepath.Join(dir, "tvsync.yaml")
}

// generatedSQL returns the generated item.gen.sql of the declaration at path.
func generatedSQL(t *testing.T, path string) string {
	t.Helper()
	files, err := syncgen.Generate(path)
	require.NoError(t, err)
	for _, f := range files {
		if strings.HasSuffix(f.Path, "item.gen.sql") {
			return string(f.Content)
		}
	}
	t.Fatal("no item.gen.sql")
	return ""
}

// statementOf cuts the statement name out of a generated SQL file.
func statementOf(t *testing.T, sql, name string) string {
	t.Helper()
	i := strings.Index(sql, "-- name: "+name+" ")
	require.GreaterOrEqual(t, i, 0, "no statement %s in\n%s", name, sql)
	s := sql[i:]
	if j := strings.Index(s[1:], "\n-- name: "); j >= 0 {
		s = s[:j+2]
	}
	return s
}

// TestGenerate_PlansAreWrappedInTheMechanicalStatements: a plan file is
// only the document query; gen writes the statement around it — the
// file's comment first, the query as a CTE (its own WITH clause kept), the
// @ids restriction of a range, the upsert and its counts — and registers
// it.
func TestGenerate_PlansAreWrappedInTheMechanicalStatements(t *testing.T) {
	path := planDir(t, itemWide, itemRange)
	sql := generatedSQL(t, path)

	wide := statementOf(t, sql, "ItemWideRefresh")
	assert.True(t, strings.HasPrefix(wide, "-- name: ItemWideRefresh :batchone\n-- ItemWideRefresh builds the item documents of a large batch.\n-- Generated around the hand-written query of queries/plans/item_wide.sql (plans.wide of tvsync.yaml)"), wide)
	assert.Contains(t, wide, "WITH src AS (\n    SELECT i.id, jsonb_build_object('name', i.name) AS data\n    FROM tb_item i WHERE i.id = ANY(@ids::bigint[])\n),\nupserted AS (\n    INSERT INTO tv_item (id, data, updated_at)")
	assert.Contains(t, wide, "WHERE tv_item.data IS DISTINCT FROM EXCLUDED.data")
	assert.Contains(t, wide, "SELECT (SELECT count(*) FROM src)::int      AS found,")

	rng := statementOf(t, sql, "ItemRangeRefresh")
	assert.Equal(t, 1, strings.Count(sql, "-- name: ItemRangeRefresh "), "the plan's range statement replaces the view's")
	assert.True(t, strings.HasPrefix(rng, "-- name: ItemRangeRefresh :batchone\n-- ItemRangeRefresh upserts the tv_item documents of the chunk's locked @ids"), "a file without comments gets a default one: %s", rng)
	assert.Contains(t, rng, "WITH range_src AS MATERIALIZED (\n    SELECT i.id, jsonb_build_object('name', i.name) AS data\n    FROM tb_item i\n    WHERE i.id >= @after::bigint")
	assert.Contains(t, rng, "\n),\nsrc AS (\n    SELECT r.id, r.data FROM range_src r WHERE r.id IN (SELECT unnest(@ids::bigint[]))\n),\nupserted AS (")
	assert.NotContains(t, rng, "tv_item_source", "the range statement reads the plan, not the view")

	files, err := syncgen.Generate(path)
	require.NoError(t, err)
	var goSrc string
	for _, f := range files {
		if strings.HasSuffix(f.Path, ".go") {
			goSrc = string(f.Content)
		}
	}
	assert.Contains(t, goSrc, "return sync.ReadRefresh(q.ItemWideRefresh(ctx, p, [][]int64{sync.Int64s(ids)}))")
	assert.Contains(t, goSrc, "return sync.ReadRefresh(q.ItemRangeRefresh(ctx, p, []db.ItemRangeRefreshParams{{After: after.Int64(), Upto: upto.Int64(), Ids: sync.Int64s(ids)}}))")
}

// TestGenerate_PlanQueriesAreInsertedAsWritten: string literals, quoted
// identifiers, dollar quotes and comments may hold what would otherwise
// be a parameter or a semicolon, and a line inside a literal is not
// indented (its value would change); the JSON operators @> and <@ are left
// alone; a plan's own WITH clause (RECURSIVE, column lists, NOT
// MATERIALIZED) is kept as written.
func TestGenerate_PlanQueriesAreInsertedAsWritten(t *testing.T) {
	wide := `-- ItemWideRefresh: tricky text.
SELECT i.id, jsonb_build_object('note', 'a;b @upto
second line', 'e', E'it\'s; @after', "Name", $q$ ; @x $q$) AS data -- not @after;
FROM tb_item i /* ; @after /* nested ; */ */
WHERE i.id = ANY(@ids::bigint[]) AND i.tags @> '{}'::jsonb AND '{}'::jsonb <@ i.tags AND @ -1 = 1;  -- done
`
	// A WITH clause's CTEs join the generated statement's (sqlc resolves no
	// WITH nested in a CTE), as written; its main query is indented, but
	// for the lines inside a literal.
	rng := `WITH RECURSIVE "Walk" (n) AS NOT MATERIALIZED (
    SELECT 1 UNION ALL SELECT n + 1 FROM "Walk" WHERE n < 3
),
items AS (SELECT i.id, i.name FROM tb_item i WHERE i.id >= @after::bigint AND (i.id > @after::bigint OR i.id = -9223372036854775808) AND i.id <= @upto::bigint)
SELECT items.id, jsonb_build_object('name', items.name, 'walk', (SELECT count(*) FROM "Walk"), 'lines', 'one
two') AS data
FROM items
`
	sql := generatedSQL(t, planDir(t, wide, rng))
	stmt := statementOf(t, sql, "ItemWideRefresh")
	assert.Contains(t, stmt, "WITH src AS (\n    SELECT i.id, jsonb_build_object('note', 'a;b @upto\nsecond line', 'e', E'it\\'s; @after', \"Name\", $q$ ; @x $q$) AS data -- not @after;\n    FROM tb_item i /* ; @after /* nested ; */ */\n    WHERE i.id = ANY(@ids::bigint[]) AND i.tags @> '{}'::jsonb AND '{}'::jsonb <@ i.tags AND @ -1 = 1\n),\n")
	stmt = statementOf(t, sql, "ItemRangeRefresh")
	assert.Contains(t, stmt, `
WITH RECURSIVE "Walk" (n) AS NOT MATERIALIZED (
    SELECT 1 UNION ALL SELECT n + 1 FROM "Walk" WHERE n < 3
),
items AS (SELECT i.id, i.name FROM tb_item i WHERE i.id >= @after::bigint AND (i.id > @after::bigint OR i.id = -9223372036854775808) AND i.id <= @upto::bigint),
range_src AS MATERIALIZED (
    SELECT items.id, jsonb_build_object('name', items.name, 'walk', (SELECT count(*) FROM "Walk"), 'lines', 'one
two') AS data
    FROM items
),
src AS (
    SELECT r.id, r.data FROM range_src r WHERE r.id IN (SELECT unnest(@ids::bigint[]))
),
upserted AS (`)
}

// TestGenerate_PlanFileErrors: a plan file that is not one query naming
// exactly its parameters fails, naming the declaration, the entity, the
// field and the file.
func TestGenerate_PlanFileErrors(t *testing.T) {
	for _, tc := range []struct {
		name, wide, rng, want string
	}{
		{"wide names @after", strings.Replace(itemWide, "= ANY(@ids::bigint[])", "> @after", 1), itemRange,
			`:5: entity "item": plans.wide queries/plans/item_wide.sql: parameter @after: a wide query names only @ids (it returns the documents of the ids of @ids)`},
		{"wide without @ids", strings.Replace(itemWide, "= ANY(@ids::bigint[])", "> 0", 1), itemRange,
			`:5: entity "item": plans.wide queries/plans/item_wide.sql: never names @ids: a wide query returns the documents of the ids of @ids`},
		{"range names @ids", itemWide, itemRange + "AND i.id = ANY(@ids::bigint[])\n",
			`:5: entity "item": plans.range queries/plans/item_range.sql: parameter @ids: a range query names only @after and @upto (it returns the documents of the keyset range (@after, @upto]; tvsync gen adds the @ids restriction)`},
		{"range without @upto", itemWide, strings.Replace(itemRange, "@upto::bigint", "9", 1),
			`plans.range queries/plans/item_range.sql: never names @upto`},
		{"two statements", itemWide + "SELECT 1;\n", itemRange,
			`:5: entity "item": plans.wide queries/plans/item_wide.sql: more than one statement ("SELECT 1;" follows the first semicolon): want one query`},
		{"a whole statement", "-- name: ItemWideRefresh :batchone\n" + itemWide, itemRange,
			`plans.wide queries/plans/item_wide.sql: a plan file is a bare query: tvsync gen writes the -- name: line and the upsert around it`},
		{"an upsert", itemWide, "INSERT INTO tv_item SELECT 1 WHERE @after < @upto",
			`plans.range queries/plans/item_range.sql: starts with INSERT: want a query (SELECT, WITH, VALUES or TABLE) returning (id, data)`},
		{"empty", "-- nothing\n;\n", itemRange,
			`plans.wide queries/plans/item_wide.sql: no query: want one query returning (id, data)`},
		{"positional parameter", strings.Replace(itemWide, "= ANY(@ids::bigint[])", "= ANY(@ids::bigint[]) AND i.id > $1", 1), itemRange,
			`plans.wide queries/plans/item_wide.sql: positional parameter $1: name the parameters (@ids)`},
		{"sqlc.arg", strings.Replace(itemWide, "@ids::bigint[]", "sqlc.arg(ids)::bigint[]", 1), itemRange,
			`plans.wide queries/plans/item_wide.sql: sqlc.arg and its kin are not supported in a plan file: name the parameters as @ids`},
		{"unterminated string", strings.Replace(itemWide, "'name'", "'name", 1), itemRange,
			`plans.wide queries/plans/item_wide.sql: unterminated string literal`},
		{"unterminated comment", itemWide + "/* ", itemRange,
			`plans.wide queries/plans/item_wide.sql: unterminated /* comment`},
		{"unbalanced parentheses", strings.Replace(itemWide, "AS data", "AS data)", 1), itemRange,
			`plans.wide queries/plans/item_wide.sql: unbalanced parentheses: a ) closes nothing`},
		{"a CTE named as the generated ones", "WITH src AS (SELECT i.id FROM tb_item i WHERE i.id = ANY(@ids::bigint[]))\nSELECT src.id, '{}'::jsonb AS data FROM src", itemRange,
			`plans.wide queries/plans/item_wide.sql: CTE src: the generated statement names its own CTEs src, range_src, upserted; rename it`},
		{"a CTE's SEARCH clause", "WITH RECURSIVE w(id) AS (SELECT 1 UNION ALL SELECT id + 1 FROM w WHERE id < 3) SEARCH DEPTH FIRST BY id SET o\nSELECT w.id, '{}'::jsonb AS data FROM w WHERE w.id = ANY(@ids::bigint[])", itemRange,
			`plans.wide queries/plans/item_wide.sql: CTE w: its SEARCH clause is not supported in a plan file`},
		{"a CTE that writes", "WITH d AS (DELETE FROM tb_item WHERE id = ANY(@ids::bigint[]) RETURNING id)\nSELECT d.id, '{}'::jsonb AS data FROM d", itemRange,
			`plans.wide queries/plans/item_wide.sql: CTE d starts with DELETE: a plan only reads (SELECT, WITH, VALUES or TABLE)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := planDir(t, tc.wide, tc.rng)
			_, err := syncgen.Generate(path)
			require.Error(t, err)
			assert.Contains(t, err.Error(), path+":5: entity \"item\": ")
			assert.Contains(t, err.Error(), tc.want)
		})
	}

	path := planDir(t, itemWide, itemRange)
	require.NoError(t, os.Remove(filepath.Join(filepath.Dir(path), "queries", "plans", "item_range.sql")))
	_, err := syncgen.Generate(path)
	require.Error(t, err)
	assert.Contains(t, err.Error(), path+`:5: entity "item": plans.range queries/plans/item_range.sql: open `)
	assert.Contains(t, err.Error(), "no such file or directory")
}

// TestParse_PlanDeclarationErrors: the plans of a declaration are checked
// before any file is read.
func TestParse_PlanDeclarationErrors(t *testing.T) {
	for _, tc := range []struct {
		name, old, new, want string
	}{
		{"plan file where sqlc reads", "wide: queries/plans/item_wide.sql", "wide: queries/item_wide.sql",
			`tvsync.yaml:5: entity "item": plans.wide "queries/item_wide.sql": sqlc compiles every .sql file of queries; put plan files in a folder it does not read, such as queries/plans`},
		{"absolute path", "wide: queries/plans/item_wide.sql", "wide: /tmp/item_wide.sql",
			`tvsync.yaml:5: entity "item": plans.wide "/tmp/item_wide.sql": want a path relative to the declaration file`},
		{"not a .sql file", "range: queries/plans/item_range.sql", "range: queries/plans/item_range.txt",
			`tvsync.yaml:5: entity "item": plans.range "queries/plans/item_range.txt": want a .sql file (not a .gen.sql one)`},
		{"empty", "wide: queries/plans/item_wide.sql", "wide: ''",
			`tvsync.yaml:5: entity "item": plans.wide: want the path of a plan file (a hand-written query), relative to the declaration file`},
		{"a plan and an override of one role", "range: queries/plans/item_range.sql", "range: queries/plans/item_range.sql\n    overrides: {refresh_range: ItemRangeRefreshByHand}",
			`tvsync.yaml:5: entity "item": plans.range and overrides.refresh_range are exclusive`},
		{"unknown plan", "range: queries/plans/item_range.sql", "narrow: queries/plans/item_range.sql",
			`tvsync.yaml:12: entity "item": plans: unknown key "narrow" (want wide, range)`},
		{"a plan's statement named again", "source: tv_item_source", "source: tv_item_source\n    cascades: [{to: item, path: tb_item.id, name: ItemWideRefresh}]",
			`entity "item": cascade look-up: query name ItemWideRefresh is already entity "item"'s plans.wide statement`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := strings.Replace(planDecl, tc.old, tc.new, 1)
			require.NotEqual(t, planDecl, src, "the case edits nothing")
			_, err := syncgen.Parse("tvsync.yaml", []byte(src))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// TestGenerate_AChangedPlanFileMakesTheGeneratedFileStale: gen --check
// covers the plan files: editing one makes its entity's .gen.sql stale
// (and nothing else), until gen writes it again.
func TestGenerate_AChangedPlanFileMakesTheGeneratedFileStale(t *testing.T) {
	path := planDir(t, itemWide, itemRange)
	files, err := syncgen.Generate(path)
	require.NoError(t, err)
	_, err = syncgen.Write(files)
	require.NoError(t, err)
	files, err = syncgen.Generate(path)
	require.NoError(t, err)
	stale, err := syncgen.Stale(files)
	require.NoError(t, err)
	require.Empty(t, stale)

	plan := filepath.Join(filepath.Dir(path), "queries", "plans", "item_range.sql")
	require.NoError(t, os.WriteFile(plan, []byte(strings.Replace(itemRange, "'name'", "'title'", 1)), 0o644))
	files, err = syncgen.Generate(path)
	require.NoError(t, err)
	stale, err = syncgen.Stale(files)
	require.NoError(t, err)
	assert.Equal(t, []string{filepath.Join(filepath.Dir(path), "queries", "item.gen.sql")}, stale)
	written, err := syncgen.Write(files)
	require.NoError(t, err)
	assert.Equal(t, stale, written)
	got, err := os.ReadFile(stale[0])
	require.NoError(t, err)
	assert.Contains(t, string(got), "jsonb_build_object('title', i.name)")
}
