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

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/internal/testdb"
	tvsync "github.com/tvsync/tvsync/sync"
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
		cli, err := New(Config{Name: "shop", NewEngine: widgets, Migrations: []syncmigrate.Set{shopMigrations},
			Stdout: &out, Stderr: &errOut, Stdin: strings.NewReader("")})
		require.NoError(t, err)
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

// TestMigrate_ASetsVersionTableMayLiveInTheSchemaItsFirstMigrationCreates:
// a team keeps its tables and its goose version table in schema lib, which
// its first migration creates (CREATE SCHEMA lib, no IF NOT EXISTS). A
// status first leaves no trace; up applies the set as written (tvsync
// creates neither the schema nor the table ahead of it, which failed with
// 42P06), recording it in lib.lib_migrations; status and down work on it.
func TestMigrate_ASetsVersionTableMayLiveInTheSchemaItsFirstMigrationCreates(t *testing.T) {
	ctx := context.Background()
	pool := testdb.Empty(t)
	lib := syncmigrate.Set{
		Name: "lib",
		FS: fstest.MapFS{
			"00001_lib.sql":  {Data: []byte("-- +goose Up\nCREATE SCHEMA lib;\nCREATE TABLE lib.tb_book (isbn text PRIMARY KEY);\n-- +goose Down\nDROP TABLE lib.tb_book;\n")},
			"00002_loan.sql": {Data: []byte("-- +goose Up\nCREATE TABLE lib.tb_loan (id bigint PRIMARY KEY, isbn text NOT NULL REFERENCES lib.tb_book);\n-- +goose Down\nDROP TABLE lib.tb_loan;\n")},
		},
		VersionTable: "lib.lib_migrations",
	}
	// books lists its ids with an unqualified name, as statements did before
	// tvsync.yaml could name a schema: on this search_path it is not found.
	books := func(pool *pgxpool.Pool, cfg tvsync.Config) (*tvsync.Engine, error) {
		return tvsync.NewEngine(pool, cfg, tvsync.Entity{
			Name:          "book",
			Key:           tvsync.KeyText,
			Refresh:       func(*tvsync.Pipeline, []tvsync.ID) func() (tvsync.RefreshResult, error) { panic("not run") },
			DeleteMissing: func(*tvsync.Pipeline, []tvsync.ID) func() (tvsync.DeleteResult, error) { panic("not run") },
			IDsAfter: func(ctx context.Context, conn tvsync.DB, _ tvsync.ID, _ int) ([]tvsync.ID, error) {
				_, err := conn.Exec(ctx, "SELECT isbn FROM tb_book")
				return nil, err
			},
			ViewIDsAfter: func(context.Context, tvsync.DB, tvsync.ID, int) ([]tvsync.ID, error) { return nil, nil },
		})
	}
	run := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		cli, err := New(Config{Name: "library", NewEngine: books, Migrations: []syncmigrate.Set{lib},
			Stdout: &out, Stderr: &errOut, Stdin: strings.NewReader("")})
		require.NoError(t, err)
		code := cli.Execute(ctx, append([]string{"--database-url", pool.Config().ConnString()}, args...))
		return code, out.String(), errOut.String()
	}
	schemaExists := func() bool {
		var ok bool
		require.NoError(t, pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'lib')").Scan(&ok))
		return ok
	}

	code, out, errOut := run("migrate", "status")
	require.Equal(t, ExitOK, code, errOut)
	assert.Regexp(t, `(?m)^lib\s+pending\s+.*00001_lib.sql$`, out)
	assert.False(t, schemaExists(), "a status creates nothing")
	code, _, errOut = run("sync", "--entity", "book", "--all")
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, errOut, "the database is not migrated: run `library migrate up` (pending: tvsync, lib)")
	assert.False(t, schemaExists(), "the check of the migrations creates nothing")

	code, out, errOut = run("migrate", "up")
	require.Equal(t, ExitOK, code, errOut)
	assert.Regexp(t, `applied lib 00001_lib.sql \(\S+\)\napplied lib 00002_loan.sql \(\S+\)\n$`, out)
	var versions []int64
	require.NoError(t, pool.QueryRow(ctx, "SELECT array_agg(version_id ORDER BY id) FROM lib.lib_migrations WHERE is_applied").Scan(&versions))
	assert.Equal(t, []int64{0, 1, 2}, versions)

	code, out, errOut = run("migrate", "status")
	require.Equal(t, ExitOK, code, errOut)
	assert.Regexp(t, `(?m)^lib\s+applied\s+.*00002_loan.sql$`, out)
	// Migrated: a name that misses its schema is not "not migrated".
	code, _, errOut = run("sync", "--entity", "book", "--all")
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, errOut, `relation "tb_book" does not exist`)
	assert.Contains(t, errOut, "every migration is applied: the statement names an object that does not exist under that name")
	assert.NotContains(t, errOut, "not migrated")
	code, out, errOut = run("migrate", "down", "--set", "lib")
	require.Equal(t, ExitOK, code, errOut)
	assert.Contains(t, out, "rolled back lib 00002_loan.sql")
	code, out, errOut = run("migrate", "up")
	require.Equal(t, ExitOK, code, errOut)
	assert.Contains(t, out, "applied lib 00002_loan.sql")
}

// TestNew_RefusesASetTakingTheKitsOwnName: an application set named
// "tvsync", or recording in tvsync's version table, is an error naming
// Config.Migrations.
func TestNew_RefusesASetTakingTheKitsOwnName(t *testing.T) {
	t.Parallel()
	for _, set := range []syncmigrate.Set{
		{Name: "tvsync", FS: fstest.MapFS{}},
		{Name: "mine", FS: fstest.MapFS{}, VersionTable: "tvsync.tvsync_migrations"},
	} {
		cli, err := New(Config{Name: "shop", NewEngine: widgets, Migrations: []syncmigrate.Set{set}})
		assert.ErrorContains(t, err, "synccli: Config.Migrations: syncmigrate: migration set", set.Name)
		assert.Nil(t, cli, set.Name)
	}
}
