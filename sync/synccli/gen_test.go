package synccli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const genDecl = `version: 1
sql: {out: queries}
go: {out: app/entities_gen.go, package: app, queries: example.com/app/db}
entities:
  - name: widget
    table: tb_widget
    key: {column: id, type: bigint}
    tv: tv_widget
    source: tv_widget_source
`

// TestGen_CheckFailsOnAChangedDeclarationUntilGenRuns changes a declaration
// and shows gen --check failing (exit 1, naming the stale file, writing
// nothing), then passing after gen.
func TestGen_CheckFailsOnAChangedDeclarationUntilGenRuns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	decl := filepath.Join(dir, "tvsync.yaml")
	require.NoError(t, os.WriteFile(decl, []byte(genDecl), 0o644))
	sqlFile, goFile := filepath.Join(dir, "queries", "widget.gen.sql"), filepath.Join(dir, "app", "entities_gen.go")

	code, _, errOut := execute(ctx, t, nil, "gen", "--check", "--file", decl)
	assert.Equal(t, ExitFailure, code)
	assert.Equal(t, "shop gen: stale or missing, run 'shop gen': "+sqlFile+", "+goFile+"\n", errOut)
	assert.NoFileExists(t, sqlFile, "--check writes nothing")

	code, out, errOut := execute(ctx, t, nil, "gen", "--file", decl)
	require.Equal(t, ExitOK, code, errOut)
	assert.Equal(t, "wrote "+sqlFile+"\nwrote "+goFile+"\n", out)
	code, _, errOut = execute(ctx, t, nil, "gen", "--check", "--file", decl)
	assert.Equal(t, ExitOK, code, errOut)

	// The declaration changes: the SQL is stale, the Go is not.
	require.NoError(t, os.WriteFile(decl, []byte(strings.Replace(genDecl, "source: tv_widget_source", "source: tv_widget_doc", 1)), 0o644))
	before, err := os.ReadFile(sqlFile)
	require.NoError(t, err)
	code, _, errOut = execute(ctx, t, nil, "gen", "--check", "--file", decl)
	assert.Equal(t, ExitFailure, code)
	assert.Equal(t, "shop gen: stale or missing, run 'shop gen': "+sqlFile+", "+goFile+"\n", errOut, "Source is in the registration too")
	after, err := os.ReadFile(sqlFile)
	require.NoError(t, err)
	assert.Equal(t, string(before), string(after), "--check writes nothing")

	code, out, errOut = execute(ctx, t, nil, "gen", "--file", decl)
	require.Equal(t, ExitOK, code, errOut)
	assert.Equal(t, "wrote "+sqlFile+"\nwrote "+goFile+"\n", out)
	code, _, errOut = execute(ctx, t, nil, "gen", "--check", "--file", decl)
	assert.Equal(t, ExitOK, code, errOut)
	code, out, _ = execute(ctx, t, nil, "gen", "--file", decl)
	assert.Equal(t, ExitOK, code)
	assert.Empty(t, out, "nothing to write")

	// An entity no longer declared: its .gen.sql is stale until gen removes it.
	require.NoError(t, os.WriteFile(decl, []byte(strings.Replace(genDecl, "name: widget", "name: gadget", 1)), 0o644))
	gadget := filepath.Join(dir, "queries", "gadget.gen.sql")
	code, _, errOut = execute(ctx, t, nil, "gen", "--check", "--file", decl)
	assert.Equal(t, ExitFailure, code)
	assert.Equal(t, "shop gen: stale or missing, run 'shop gen': "+gadget+", "+goFile+", "+sqlFile+"\n", errOut)
	code, out, errOut = execute(ctx, t, nil, "gen", "--file", decl)
	require.Equal(t, ExitOK, code, errOut)
	assert.Equal(t, "wrote "+gadget+"\nwrote "+goFile+"\nremoved "+sqlFile+"\n", out)
	assert.NoFileExists(t, sqlFile)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "queries", "hand.gen.sql"), []byte("-- name: Hand :one\nSELECT 1;\n"), 0o644))
	code, _, errOut = execute(ctx, t, nil, "gen", "--check", "--file", decl)
	assert.Equal(t, ExitOK, code, "a .gen.sql tvsync gen did not write is left alone: %s", errOut)
	require.NoError(t, os.WriteFile(decl, []byte(genDecl), 0o644))
	code, _, errOut = execute(ctx, t, nil, "gen", "--file", decl)
	require.Equal(t, ExitOK, code, errOut)

	// A hand edit of a generated file is stale too.
	require.NoError(t, os.WriteFile(sqlFile, append(after, "-- edited\n"...), 0o644))
	code, _, errOut = execute(ctx, t, nil, "gen", "--check", "--file", decl)
	assert.Equal(t, ExitFailure, code)
	assert.Equal(t, "shop gen: stale or missing, run 'shop gen': "+sqlFile+"\n", errOut)
}

func TestGen_BadDeclarationFailsNamingIt(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	decl := filepath.Join(dir, "tvsync.yaml")
	require.NoError(t, os.WriteFile(decl, []byte(strings.Replace(genDecl, "type: bigint", "type: serial", 1)), 0o644))
	code, out, errOut := execute(context.Background(), t, nil, "gen", "--file", decl)
	assert.Equal(t, ExitFailure, code)
	assert.Empty(t, out)
	assert.Equal(t, "shop gen: "+decl+`:5: entity "widget": key.type "serial": want uuid, bigint, integer or text`+"\n", errOut)
	assert.NoDirExists(t, filepath.Join(dir, "queries"))

	code, _, errOut = execute(context.Background(), t, nil, "gen", "--file", filepath.Join(dir, "missing.yaml"))
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, errOut, "missing.yaml: no such file")
}

// TestGen_CheckFailsOnAChangedPlanFile: a plan file is an input of gen, so
// gen --check fails, naming the entity's .gen.sql, once it changes, until
// gen runs.
func TestGen_CheckFailsOnAChangedPlanFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	decl := filepath.Join(dir, "tvsync.yaml")
	require.NoError(t, os.WriteFile(decl, []byte(genDecl+"    plans: {wide: queries/plans/widget_wide.sql}\n"), 0o644))
	plan := filepath.Join(dir, "queries", "plans", "widget_wide.sql")
	require.NoError(t, os.MkdirAll(filepath.Dir(plan), 0o755))
	query := "SELECT w.id, jsonb_build_object('name', w.name) AS data FROM tb_widget w WHERE w.id = ANY(@ids::bigint[])\n"
	require.NoError(t, os.WriteFile(plan, []byte(query), 0o644))
	sqlFile := filepath.Join(dir, "queries", "widget.gen.sql")

	code, _, errOut := execute(ctx, t, nil, "gen", "--file", decl)
	require.Equal(t, ExitOK, code, errOut)
	code, _, errOut = execute(ctx, t, nil, "gen", "--check", "--file", decl)
	require.Equal(t, ExitOK, code, errOut)

	require.NoError(t, os.WriteFile(plan, []byte(strings.Replace(query, "'name'", "'title'", 1)), 0o644))
	code, _, errOut = execute(ctx, t, nil, "gen", "--check", "--file", decl)
	assert.Equal(t, ExitFailure, code)
	assert.Equal(t, "shop gen: stale or missing, run 'shop gen': "+sqlFile+"\n", errOut)
	code, out, errOut := execute(ctx, t, nil, "gen", "--file", decl)
	require.Equal(t, ExitOK, code, errOut)
	assert.Equal(t, "wrote "+sqlFile+"\n", out)
	got, err := os.ReadFile(sqlFile)
	require.NoError(t, err)
	assert.Contains(t, string(got), "jsonb_build_object('title', w.name)")

	// A broken plan file fails gen, naming it.
	require.NoError(t, os.WriteFile(plan, []byte(query+"; SELECT 2\n"), 0o644))
	code, _, errOut = execute(ctx, t, nil, "gen", "--check", "--file", decl)
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, errOut, decl+`:5: entity "widget": plans.wide queries/plans/widget_wide.sql: more than one statement`)
}
