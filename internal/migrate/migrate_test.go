package migrate_test

import (
	"context"
	"io/fs"
	"os"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/internal/migrate"
	"github.com/tvsync/tvsync/internal/testdb"
	"github.com/tvsync/tvsync/sync/syncmigrate"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

// tables lists the tables of schema, goose's version tables left out.
func tables(t *testing.T, pool *pgxpool.Pool, schema string) []string {
	t.Helper()
	var names []string
	require.NoError(t, pool.QueryRow(context.Background(),
		`SELECT coalesce(array_agg(tablename::text ORDER BY tablename), '{}') FROM pg_tables
		 WHERE schemaname = $1 AND tablename NOT IN ('goose_db_version', 'tvsync_migrations')`, schema).Scan(&names))
	return names
}

var (
	blogTables   = []string{"tb_comment", "tb_post", "tb_post_like", "tb_user", "tv_comment", "tv_post", "tv_user"}
	tvsyncTables = []string{"namespace_role", "sync_log", "sync_queue"}
)

// TestMigrations_UpDownUpOneByOne runs both sets up (tvsync's, then the
// blog's), all the way down (the blog's first: its views call tvsync.ts),
// then up one at a time, as goose tests itself. The blog's set creates only
// the blog's tables in public, tvsync's only its own in schema tvsync.
func TestMigrations_UpDownUpOneByOne(t *testing.T) {
	ctx := context.Background()
	db := testdb.Empty(t)

	up, err := migrate.Up(ctx, db, nil)
	require.NoError(t, err)
	require.NotEmpty(t, up)
	assert.Equal(t, blogTables, tables(t, db, "public"), "the blog's set creates the blog's tables only")
	assert.Equal(t, tvsyncTables, tables(t, db, "tvsync"))

	blog, err := migrate.New(db, nil)
	require.NoError(t, err)
	defer blog.Close()
	own, err := syncmigrate.New(db, nil)
	require.NoError(t, err)
	defer own.Close()

	all := &syncmigrate.MigrateOpts{TargetVersion: -1}
	_, err = own.Migrate(ctx, syncmigrate.DirectionDown, all)
	require.Error(t, err, "tvsync.ts cannot go while the blog's views call it")
	assert.Equal(t, []string{"sync_log", "sync_queue"}, tables(t, db, "tvsync"), "the failed rollback of 00001 left its tables")
	// goose rolls back one migration per transaction: every later one (the
	// queue's text ids, its rows, the namespaces) went before 00001
	// refused. Apply them again.
	again, err := own.Migrate(ctx, syncmigrate.DirectionUp, nil)
	require.NoError(t, err)
	files, err := fs.Glob(syncmigrate.FS, "*.sql")
	require.NoError(t, err)
	require.Len(t, again.Versions, len(files)-1)

	downBlog, err := blog.Migrate(ctx, syncmigrate.DirectionDown, all)
	require.NoError(t, err)
	downOwn, err := own.Migrate(ctx, syncmigrate.DirectionDown, all)
	require.NoError(t, err)
	assert.Len(t, append(downBlog.Versions, downOwn.Versions...), len(up))
	assert.Empty(t, tables(t, db, "public"), "every Down undoes its Up")
	assert.Empty(t, tables(t, db, "tvsync"))

	one := &syncmigrate.MigrateOpts{MaxSteps: 1}
	for range downOwn.Versions {
		res, err := own.Migrate(ctx, syncmigrate.DirectionUp, one)
		require.NoError(t, err)
		require.Len(t, res.Versions, 1)
	}
	for range downBlog.Versions {
		res, err := blog.Migrate(ctx, syncmigrate.DirectionUp, one)
		require.NoError(t, err)
		require.Len(t, res.Versions, 1)
	}
	assert.Equal(t, blogTables, tables(t, db, "public"))
	assert.Equal(t, tvsyncTables, tables(t, db, "tvsync"))
	more, err := migrate.Up(ctx, db, nil)
	require.NoError(t, err)
	assert.Empty(t, more, "nothing left to apply")
}
