package synccli

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/internal/testdb"
	"github.com/tvsync/tvsync/sync/syncmigrate"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

// shopMigrations is a team's own set, with its version table in a schema of
// its own.
var shopMigrations = syncmigrate.Set{
	Name: "shop",
	FS: fstest.MapFS{"00001_shop.sql": {Data: []byte(
		"-- +goose Up\nCREATE TABLE shop_item (id bigint PRIMARY KEY);\n-- +goose Down\nDROP TABLE shop_item;\n")}},
	VersionTable: "shop.shop_migrations",
}

// TestMigrate_KitsOwnSetRunsFirstNextToATeamsSet: a team's binary migrates
// tvsync's own set first (schema tvsync), then the team's, each in its own
// version table; a schema-qualified version table gets its schema; nothing
// lands in goose's default goose_db_version.
func TestMigrate_KitsOwnSetRunsFirstNextToATeamsSet(t *testing.T) {
	ctx := context.Background()
	pool := testdb.Empty(t)
	run := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		cli := New(Config{Name: "shop", NewEngine: widgets, Migrations: []syncmigrate.Set{shopMigrations},
			Stdout: &out, Stderr: &errOut, Stdin: strings.NewReader("")})
		code := cli.Execute(ctx, append([]string{"--database-url", pool.Config().ConnString()}, args...))
		return code, out.String(), errOut.String()
	}

	code, out, errOut := run("migrate", "up")
	require.Equal(t, ExitOK, code, errOut)
	own, err := fs.Glob(syncmigrate.FS, "*.sql")
	require.NoError(t, err)
	var applied strings.Builder
	for _, f := range own {
		fmt.Fprintf(&applied, `applied tvsync %s \(\S+\)\n`, regexp.QuoteMeta(f))
	}
	assert.Regexp(t, `^`+applied.String()+`applied shop 00001_shop.sql \(\S+\)\n$`, out)

	var tables []string
	require.NoError(t, pool.QueryRow(ctx, `SELECT array_agg(schemaname || '.' || tablename ORDER BY schemaname || '.' || tablename) FROM pg_tables
		WHERE schemaname NOT IN ('pg_catalog', 'information_schema')`).Scan(&tables))
	assert.Equal(t, []string{"public.shop_item", "shop.shop_migrations", "tvsync.namespace_role", "tvsync.sync_log", "tvsync.sync_queue", "tvsync.tvsync_migrations"}, tables)

	code, out, errOut = run("migrate", "status")
	require.Equal(t, ExitOK, code, errOut)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, len(own)+1)
	for i, f := range own {
		assert.Regexp(t, `^tvsync\s+applied\s+.*`+regexp.QuoteMeta(f)+`$`, lines[i])
	}
	assert.Regexp(t, `^shop\s+applied\s+.*00001_shop.sql$`, lines[len(own)])

	code, _, errOut = run("migrate", "down")
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, errOut, "--set is required: the migration sets are tvsync, shop")
	code, out, errOut = run("migrate", "down", "--set", "shop")
	require.Equal(t, ExitOK, code, errOut)
	assert.Contains(t, out, "rolled back shop 00001_shop.sql")
	code, out, errOut = run("migrate", "down", "--set", "tvsync")
	require.Equal(t, ExitOK, code, errOut)
	assert.Contains(t, out, "rolled back tvsync "+own[len(own)-1], "an empty queue needs no --force")
}

// TestNew_RefusesASetTakingTheKitsOwnName: an application set named
// "tvsync", or recording in tvsync's version table, is a programming error.
func TestNew_RefusesASetTakingTheKitsOwnName(t *testing.T) {
	t.Parallel()
	for _, set := range []syncmigrate.Set{
		{Name: "tvsync", FS: fstest.MapFS{}},
		{Name: "mine", FS: fstest.MapFS{}, VersionTable: "tvsync.tvsync_migrations"},
	} {
		assert.Panics(t, func() { New(Config{Name: "shop", NewEngine: widgets, Migrations: []syncmigrate.Set{set}}) }, set.Name)
	}
}
