package syncvet_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/tvsync/tvsync/sync/syncvet"
)

// appConfig is an application's sqlc.yaml, in the shape of the shop's: a
// kit's migrations beside its own, a gen block, a database from a variable,
// rules with literal CEL and a folded message.
const appConfig = `version: "2"
sql:
  - engine: postgresql
    schema: [../kit/migrations, migrations]
    queries: queries
    gen:
      go:
        package: db
        out: db
        overrides:
          - db_type: timestamptz
            go_type: time.Time
    database:
      uri: ${APP_DB}
    analyzer:
      database: false
    rules: [no-star, no-seq]
rules:
  - name: no-star
    message: >-
      the query selects every column:
      name the columns
    rule: |
      query.sql.matches("(?i)select\\s+\\*") ||
      [
        // BEGIN tvsync gen
        ["id", "data"] // tv_thing
        // END tvsync gen
      ].exists(cols, query.sql.contains(cols.join(", ")))
  - name: no-seq
    rule: query.name.endsWith("Refresh")
`

// app writes appConfig with its folders into a fresh tree and returns the
// configuration's path and the tree's root.
func app(t *testing.T, config string) (path, root string) {
	t.Helper()
	root = t.TempDir()
	for _, dir := range []string{"kit/migrations", "app/migrations", "app/queries", "app/testdata/vetfixtures"} {
		require.NoError(t, os.MkdirAll(filepath.Join(root, dir), 0o755))
	}
	path = filepath.Join(root, "app", "sqlc.yaml")
	require.NoError(t, os.WriteFile(path, []byte(config), 0o644))
	return path, root
}

// decode parses a YAML file into plain Go values.
func decode(t *testing.T, path string) map[string]any {
	t.Helper()
	src, err := os.ReadFile(path)
	require.NoError(t, err)
	var v map[string]any
	require.NoError(t, yaml.Unmarshal(src, &v), string(src))
	return v
}

func TestFixtures_WriteConfigPointsTheCopyAtTheSameFiles(t *testing.T) {
	config, root := app(t, appConfig)
	dir := t.TempDir() // elsewhere than the application, as t.TempDir() is

	path, err := syncvet.Fixtures{
		Config:     config,
		Queries:    []string{filepath.Join(root, "app", "testdata", "vetfixtures")},
		StarTables: []string{"tv_thing", "tvsync.sync_log"},
		StarRule:   "no-star",
	}.WriteConfig(dir)
	require.NoError(t, err)
	require.Equal(t, filepath.Join(dir, "sqlc.yaml"), path)

	got, orig := decode(t, path), decode(t, config)
	entry := got["sql"].([]any)[0].(map[string]any)
	resolve := func(list any) []string { // as sqlc does: joined to the copy's folder
		var paths []string
		for _, p := range list.([]any) {
			paths = append(paths, filepath.Join(dir, p.(string)))
		}
		return paths
	}
	assert.Equal(t, []string{filepath.Join(root, "kit", "migrations"), filepath.Join(root, "app", "migrations")}, resolve(entry["schema"]),
		"the schema paths name the application's folders from the copy's")
	assert.Equal(t, []string{filepath.Join(root, "app", "testdata", "vetfixtures"), filepath.Join(dir, "stars.sql")}, resolve(entry["queries"]),
		"the fixtures and the star queries replace the application's queries")
	out := entry["gen"].(map[string]any)["go"].(map[string]any)["out"].(string)
	assert.NotContains(t, filepath.Join(dir, out), root, "generated code goes into the copy's folder, never over the application's db/")
	assert.Equal(t, filepath.Join(dir, "gen", "go"), filepath.Join(dir, out))

	// Everything else is the application's, to the letter of every rule.
	assert.Equal(t, orig["rules"], got["rules"])
	origEntry := orig["sql"].([]any)[0].(map[string]any)
	for _, key := range []string{"engine", "database", "analyzer", "rules"} {
		assert.Equal(t, origEntry[key], entry[key], key)
	}
	assert.Equal(t, origEntry["gen"].(map[string]any)["go"].(map[string]any)["overrides"], entry["gen"].(map[string]any)["go"].(map[string]any)["overrides"])
	assert.Equal(t, "2", got["version"])

	stars, err := os.ReadFile(filepath.Join(dir, "stars.sql"))
	require.NoError(t, err)
	assert.Equal(t, "-- name: VetStarTvThing :many\nSELECT * FROM tv_thing;\n\n"+
		"-- name: VetStarTvsyncSyncLog :many\nSELECT * FROM tvsync.sync_log;\n\n", string(stars))
}

func TestFixtures_WriteConfigKeepsTheRepositoryRules(t *testing.T) {
	// The blog's and the shop's configurations, whose rules carry CEL with
	// comments, regular expressions and folded messages.
	for _, config := range []string{"../../sqlc.yaml", "../../examples/shop/sqlc.yaml"} {
		t.Run(filepath.Base(filepath.Dir(config)), func(t *testing.T) {
			dir := t.TempDir()
			path, err := syncvet.Fixtures{Config: config, Queries: []string{filepath.Dir(config)}}.WriteConfig(dir)
			require.NoError(t, err)
			got, orig := decode(t, path), decode(t, config)
			assert.Equal(t, orig["rules"], got["rules"])
			_, err = os.Stat(filepath.Join(dir, "stars.sql"))
			assert.ErrorIs(t, err, os.ErrNotExist, "no star tables, no star file")
			entry := got["sql"].([]any)[0].(map[string]any)
			assert.Equal(t, []any{"${VET_DATABASE_URL}"}, []any{entry["database"].(map[string]any)["uri"]})
			for _, p := range entry["schema"].([]any) {
				assert.DirExists(t, filepath.Join(dir, p.(string)))
			}
		})
	}
}

// TestFixtures_WriteConfigKeepsTheFirstEntryOnly: a configuration with a
// second sql entry (a kit's own queries on the kit's schema alone, as the
// blog's sqlc.yaml has) gives a copy with the first entry alone, the
// fixtures in place of its queries, so no other entry's queries are vetted
// or generated by the run.
func TestFixtures_WriteConfigKeepsTheFirstEntryOnly(t *testing.T) {
	second := "  - engine: postgresql\n    schema: [../kit/migrations]\n    queries: ../kit/queries\n    database:\n      uri: ${APP_DB}\n    rules: [no-star]\nrules:\n  - name"
	require.Contains(t, appConfig, "rules:\n  - name")
	config, root := app(t, strings.Replace(appConfig, "rules:\n  - name", second, 1))
	dir := t.TempDir()
	path, err := syncvet.Fixtures{Config: config, Queries: []string{filepath.Join(root, "app", "testdata", "vetfixtures")}}.WriteConfig(dir)
	require.NoError(t, err)
	entries := decode(t, path)["sql"].([]any)
	require.Len(t, entries, 1, "only the first entry is kept")
	entry := entries[0].(map[string]any)
	assert.Equal(t, []any{filepath.ToSlash(mustRel(t, dir, filepath.Join(root, "app", "testdata", "vetfixtures")))}, entry["queries"])
	assert.Len(t, entry["schema"], 2, "the first entry's schema, the kit's migrations and the application's")
}

// mustRel is filepath.Rel or the end of the test.
func mustRel(t *testing.T, base, target string) string {
	t.Helper()
	rel, err := filepath.Rel(base, target)
	require.NoError(t, err)
	return rel
}

func TestFixtures_WriteConfigRefuses(t *testing.T) {
	replace := func(old, new string) string {
		t.Helper()
		require.Contains(t, appConfig, old)
		return strings.Replace(appConfig, old, new, 1)
	}
	for name, c := range map[string]struct {
		config   string
		fixtures syncvet.Fixtures
		want     string
	}{
		"a URL written into the file": {replace("${APP_DB}", "postgres://localhost/app"), syncvet.Fixtures{}, `must be an environment variable alone, as ` + "`uri: ${VET_DATABASE_URL}`" + `, so that the test can point it at its database; it is "postgres://localhost/app"`},
		"a variable inside a URL":     {replace("${APP_DB}", "postgres://${HOST}/app"), syncvet.Fixtures{}, `it is "postgres://${HOST}/app"`},
		"a managed database":          {replace("uri: ${APP_DB}", "managed: true"), syncvet.Fixtures{}, "sql[0].database is managed by sqlc"},
		"no database":                 {replace("    database:\n      uri: ${APP_DB}\n", ""), syncvet.Fixtures{}, "no sql entry names a database"},
		"version 1":                   {replace(`version: "2"`, `version: "1"`), syncvet.Fixtures{}, `version "2" configurations only`},
		"star tables without a rule":  {appConfig, syncvet.Fixtures{StarTables: []string{"tv_thing"}}, "StarTables without a StarRule"},
		"a missing fixture":           {appConfig, syncvet.Fixtures{Queries: []string{"no/such/fixtures"}}, "no/such/fixtures: no such file or directory"},
	} {
		t.Run(name, func(t *testing.T) {
			config, root := app(t, c.config)
			f := c.fixtures
			f.Config = config
			if f.Queries == nil {
				f.Queries = []string{filepath.Join(root, "app", "testdata", "vetfixtures")}
			}
			if f.StarTables == nil {
				f.StarTables, f.StarRule = []string{"tv_thing"}, "no-star"
			}
			dir := t.TempDir()
			_, err := f.WriteConfig(dir)
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			assert.Empty(t, entries, "a refused configuration writes nothing")
		})
	}
}

func TestStarQueryName(t *testing.T) {
	for table, want := range map[string]string{
		"tb_order_line":   "VetStarTbOrderLine",
		"tvsync.sync_log": "VetStarTvsyncSyncLog",
		`app."Odd Name"`:  "VetStarAppOddName",
		"tb_a__b":         "VetStarTbAB",
		"t2_x":            "VetStarT2X",
		`"überTable".t`:   "VetStarÜberTableT",
	} {
		assert.Equal(t, want, syncvet.StarQueryName(table), table)
	}
}
