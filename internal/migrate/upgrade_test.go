package migrate_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/blog"
	"github.com/tvsync/tvsync/internal/expect"
	"github.com/tvsync/tvsync/internal/migrate"
	"github.com/tvsync/tvsync/internal/seed"
	"github.com/tvsync/tvsync/internal/testdb"
	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/syncmigrate"
)

// texts returns the first column of every row of sql, as text.
func texts(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), sql, args...)
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return out
}

// TestUpgrade_FromPublicSyncObjects migrates a database with the blog's
// migrations as they were when they created sync_queue, sync_log and
// tvsync_ts in public (testdata/public-sync), writes documents, queues rows
// and logs batches there, then applies today's sets: tvsync's creates schema
// tvsync, the blog's 00005 moves every row into it and drops the old
// objects, and the views call tvsync.ts and still build byte-identical
// documents; a worker then drains the moved rows.
func TestUpgrade_FromPublicSyncObjects(t *testing.T) {
	ctx := context.Background()
	pool := testdb.Empty(t)

	old, err := goose.NewProvider(goose.DialectPostgres, openDB(t, pool), os.DirFS("testdata/public-sync"))
	require.NoError(t, err)
	res, err := old.Up(ctx)
	require.NoError(t, err)
	require.Len(t, res, 3)

	_, err = seed.Load(ctx, pool, seed.Options{Users: 20, Posts: 60, Comments: 150, Likes: 40})
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `
		UPDATE tb_user SET created_at = '2024-03-05 12:34:56.123456+05:30' WHERE id = (SELECT id FROM tb_user ORDER BY id LIMIT 1);
		UPDATE tb_comment SET created_at = created_at + interval '0.000007 s';
		INSERT INTO tv_user (id, data) SELECT id, data FROM tv_user_source;
		INSERT INTO tv_post (id, data) SELECT id, data FROM tv_post_source;
		INSERT INTO tv_comment (id, data) SELECT id, data FROM tv_comment_source;
		INSERT INTO sync_queue (entity, entity_id, cascade, enqueued_at, available_at, attempts, last_error, dead)
		SELECT 'post', id, id < '80000000-0000-0000-0000-000000000000', now() - interval '1 minute', now() - interval '1 second', 0, '', false
		FROM tb_post ORDER BY id LIMIT 10;
		INSERT INTO sync_queue (entity, entity_id, enqueued_at, available_at, attempts, last_error, dead)
		VALUES ('user', (SELECT id FROM tb_user ORDER BY id LIMIT 1), now() - interval '2 minutes', now() - interval '1 second', 3, 'timeout', false),
		       ('comment', gen_random_uuid(), now() - interval '1 hour', now(), 10, 'boom', true);
		INSERT INTO sync_log (entity, mode, requested, upserted, unchanged, deleted, failed, duration_us, error, started_at)
		VALUES ('post', 'full', 60, 60, 0, 0, 0, 1200, '', now() - interval '3 minutes'),
		       ('user', 'incremental', 1, 0, 1, 0, 0, 300, '', now() - interval '2 minutes'),
		       ('post', 'repair', 2, 0, 0, 0, 1, 900, 'poison', now() - interval '1 minute')`)
	require.NoError(t, err)

	docs := `SELECT id::text || ' ' || data::text FROM %s ORDER BY id`
	stored := map[string][]string{}
	for _, view := range []string{"tv_user", "tv_post", "tv_comment"} {
		stored[view] = texts(t, pool, fmt.Sprintf(docs, view))
		require.NotEmpty(t, stored[view])
	}
	queueRow := `SELECT concat_ws(' ', entity, entity_id, cascade, enqueued_at, available_at, attempts, last_error, dead) FROM %s ORDER BY entity, entity_id`
	logRow := `SELECT concat_ws(' ', entity, mode, requested, upserted, unchanged, deleted, failed, duration_us, error, started_at) FROM %s ORDER BY id`
	queued := texts(t, pool, fmt.Sprintf(queueRow, "public.sync_queue"))
	logged := texts(t, pool, fmt.Sprintf(logRow, "public.sync_log"))
	require.Len(t, queued, 12)
	require.Len(t, logged, 3)

	applied, err := migrate.Up(ctx, pool, nil)
	require.NoError(t, err)
	var paths []string
	for _, r := range applied {
		paths = append(paths, r.Name)
	}
	assert.Equal(t, []string{"00001_tvsync.sql", "00002_sync_queue_text_ids.sql", "00003_sync_queue_rows.sql", "00004_namespaces.sql", "00005_queue_lineage.sql", "00004_bounded_document_views.sql", "00005_move_public_sync_objects.sql",
		"00006_post_document_functions.sql"}, paths, "tvsync's set, then the blog's bounded views, upgrade and post document functions")

	var leftovers []string
	require.NoError(t, pool.QueryRow(ctx, `SELECT array_remove(ARRAY[to_regclass('public.sync_queue')::text, to_regclass('public.sync_log')::text,
		to_regprocedure('public.tvsync_ts(timestamptz)')::text], NULL)`).Scan(&leftovers))
	assert.Empty(t, leftovers, "the old objects are dropped")
	assert.Equal(t, queued, texts(t, pool, fmt.Sprintf(queueRow, "tvsync.sync_queue")), "every queued row moved, every column kept")
	assert.Equal(t, logged, texts(t, pool, fmt.Sprintf(logRow, "tvsync.sync_log")), "every sync_log row moved, in order")

	for _, view := range []string{"tv_user", "tv_post", "tv_comment"} {
		var def string
		require.NoError(t, pool.QueryRow(ctx, "SELECT pg_get_viewdef($1::regclass)", view+"_source").Scan(&def))
		assert.NotContains(t, def, "tvsync_ts", view)
		if view == "tv_post" {
			// 00006: the post document's shape, tvsync.ts included, is in
			// the functions the view calls.
			require.NoError(t, pool.QueryRow(ctx, `SELECT string_agg(pg_get_functiondef(p.oid), E'\n' ORDER BY p.proname)
				FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace AND p.proname IN ('post_document', 'post_comment_element')`).Scan(&def))
			assert.Equal(t, 2, strings.Count(def, "tvsync.ts("), "post_document and post_comment_element call tvsync.ts:\n%s", def)
		}
		assert.Contains(t, def, "tvsync.ts(", view)
		assert.Equal(t, stored[view], texts(t, pool, fmt.Sprintf(docs, view+"_source")), "%s_source builds the stored documents byte for byte", view)
		assert.Equal(t, stored[view], texts(t, pool, fmt.Sprintf(docs, view)), "%s is untouched", view)
	}
	diff, err := expect.Check(ctx, pool)
	require.NoError(t, err)
	assert.Empty(t, diff)

	// The moved rows are the worker's to drain, as before the move.
	engine := blog.MustNewEngine(pool, tvsync.Config{})
	n, err := must(tvsync.NewWorker(engine, pool, tvsync.WorkerConfig{})).Drain(ctx)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, n.Claimed, 11, "the ready rows (not the dead one), and the dependents they queued")
	assert.Equal(t, n.Claimed, n.Synced, "every claimed row synced")
	assert.Equal(t, []string{"comment 10 boom"}, texts(t, pool, "SELECT concat_ws(' ', entity, attempts, last_error) FROM tvsync.sync_queue"))

	// And the blog's set still rolls all the way back and up again.
	blog, err := migrate.New(pool, nil)
	require.NoError(t, err)
	defer blog.Close()
	_, err = blog.Migrate(ctx, syncmigrate.DirectionDown, &syncmigrate.MigrateOpts{TargetVersion: -1})
	require.NoError(t, err)
	_, err = migrate.Up(ctx, pool, nil)
	require.NoError(t, err)
	assert.Equal(t, blogTables, tables(t, pool, "public"))
}

// TestUpgrade_LeavesAnApplicationsOwnSyncTables: on a database migrated with
// the old files where public.sync_log is not tvsync's (the application has
// one of its own shape, FraiseQL's), the upgrade moves only what has
// tvsync's exact shape.
func TestUpgrade_LeavesAnApplicationsOwnSyncTables(t *testing.T) {
	ctx := context.Background()
	pool := testdb.Empty(t)
	old, err := goose.NewProvider(goose.DialectPostgres, openDB(t, pool), os.DirFS("testdata/public-sync"))
	require.NoError(t, err)
	_, err = old.Up(ctx)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `
		DROP TABLE sync_log;
		CREATE TABLE sync_log (id bigserial PRIMARY KEY, entity_type text NOT NULL, entity_id uuid, operation text NOT NULL,
		                       duration_ms integer, success boolean NOT NULL, error_message text);
		INSERT INTO sync_log (entity_type, entity_id, operation, duration_ms, success, error_message)
		VALUES ('post', gen_random_uuid(), 'update', 12, true, NULL), ('user', NULL, 'delete', 3, false, 'gone');
		INSERT INTO sync_queue (entity, entity_id) VALUES ('post', gen_random_uuid())`)
	require.NoError(t, err)
	before := texts(t, pool, "SELECT to_jsonb(l)::text FROM public.sync_log l ORDER BY id")

	_, err = migrate.Up(ctx, pool, nil)
	require.NoError(t, err)
	assert.Equal(t, before, texts(t, pool, "SELECT to_jsonb(l)::text FROM public.sync_log l ORDER BY id"), "the application's sync_log is left alone")
	assert.Empty(t, texts(t, pool, "SELECT entity FROM tvsync.sync_log"), "nothing of it moved")
	assert.Equal(t, []string{"post"}, texts(t, pool, "SELECT entity FROM tvsync.sync_queue"), "tvsync's own outbox moved")
	var oldQueue *string
	require.NoError(t, pool.QueryRow(ctx, "SELECT to_regclass('public.sync_queue')::text").Scan(&oldQueue))
	assert.Nil(t, oldQueue)
}

// TestUpgrade_RefusesWithoutTvsyncsSet: the blog's upgrade on a database
// whose schema tvsync was never migrated fails with the fix in its message
// and changes nothing.
func TestUpgrade_RefusesWithoutTvsyncsSet(t *testing.T) {
	ctx := context.Background()
	pool := testdb.Empty(t)
	old, err := goose.NewProvider(goose.DialectPostgres, openDB(t, pool), os.DirFS("testdata/public-sync"))
	require.NoError(t, err)
	_, err = old.Up(ctx)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, "INSERT INTO sync_queue (entity, entity_id) VALUES ('post', gen_random_uuid())")
	require.NoError(t, err)

	blog, err := migrate.New(pool, nil)
	require.NoError(t, err)
	defer blog.Close()
	_, err = blog.Migrate(ctx, syncmigrate.DirectionUp, nil)
	require.ErrorContains(t, err, "apply tvsync's migrations")
	assert.Equal(t, []string{"post"}, texts(t, pool, "SELECT entity FROM public.sync_queue"))
}

// openDB is a database/sql handle on pool for goose, closed with the test.
func openDB(t *testing.T, pool *pgxpool.Pool) *sql.DB {
	t.Helper()
	db := stdlib.OpenDBFromPool(pool)
	t.Cleanup(func() { _ = db.Close() })
	return db
}
