package queries_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/blog"
	"github.com/tvsync/tvsync/internal/seed"
	"github.com/tvsync/tvsync/internal/testdb"
	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/plancheck"
)

// The functions of migrations/00006_post_document_functions.sql that hold
// the JSON shape of a tv_post document and of its comments[] element, and
// the keys each writes (as SQL literals).
const (
	postDocumentFunc = "public.post_document(uuid, text, text, boolean, timestamptz, uuid, text, text, bigint, bigint, jsonb)"
	commentElemFunc  = "public.post_comment_element(uuid, text, timestamptz, uuid, text)"
)

var (
	postDocumentKeys = []string{"'id'", "'title'", "'content'", "'published'", "'createdAt'", "'author'", "'username'", "'fullName'", "'commentCount'", "'likeCount'", "'comments'"}
	commentElemKeys  = []string{"'id'", "'content'", "'createdAt'", "'author'", "'username'"}
	// postOnlyKeys are the keys of the post document that no other document
	// of queries/ or of tv_post_source's text may name.
	postOnlyKeys = []string{"'title'", "'published'", "'fullName'", "'commentCount'", "'likeCount'", "'comments'", "'createdAt'", "'username'"}
)

// TestPostDocument_ShapeIsWrittenOnlyInItsFunctions: the post document's
// JSON shape lives in post_document and post_comment_element alone. No
// statement of queries/ nor plan file of queries/plans/ builds a JSON
// object or names a key of the post document (the plans of PostWideRefresh
// and PostRangeRefresh call the functions), the live definition of
// tv_post_source names none either, and each function names each of its
// keys once.
func TestPostDocument_ShapeIsWrittenOnlyInItsFunctions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	files, err := filepath.Glob("*.sql")
	require.NoError(t, err)
	require.Contains(t, files, "post.sql")
	plans, err := filepath.Glob(filepath.Join("plans", "*.sql"))
	require.NoError(t, err)
	require.Contains(t, plans, filepath.Join("plans", "post_wide.sql"))
	files = append(files, plans...)
	for _, f := range files {
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		sql := string(raw)
		assert.False(t, strings.Contains(sql, "jsonb_build_object"), "%s builds a JSON object: a document's shape belongs in its view or the functions it calls", f)
		for _, key := range postOnlyKeys {
			assert.False(t, strings.Contains(sql, key), "%s names the post document's key %s: call public.post_document instead", f, key)
		}
	}
	// The statements are tvsync gen's, around the plan files.
	post, err := os.ReadFile("post.gen.sql")
	require.NoError(t, err)
	for _, name := range []string{"PostWideRefresh", "PostRangeRefresh"} {
		stmt := namedStatement(t, string(post), name)
		assert.Equal(t, 1, strings.Count(stmt, "public.post_document("), "%s builds its documents with public.post_document", name)
		assert.Equal(t, 1, strings.Count(stmt, "public.post_comment_element("), "%s builds its comments with public.post_comment_element", name)
	}

	pool := testdb.New(t)
	var view string
	require.NoError(t, pool.QueryRow(ctx, "SELECT pg_get_viewdef('tv_post_source'::regclass)").Scan(&view))
	assert.NotContains(t, view, "jsonb_build_object", "tv_post_source:\n%s", view)
	for _, key := range postDocumentKeys {
		assert.NotContains(t, view, key, "tv_post_source names a key of the document:\n%s", view)
	}
	assert.Contains(t, view, "post_document(", "tv_post_source calls post_document")
	assert.Contains(t, view, "post_comment_element(", "tv_post_source calls post_comment_element")

	for fn, keys := range map[string][]string{postDocumentFunc: postDocumentKeys, commentElemFunc: commentElemKeys} {
		var def string
		require.NoError(t, pool.QueryRow(ctx, "SELECT pg_get_functiondef($1::regprocedure)", fn).Scan(&def))
		n := 0
		for _, key := range keys {
			n += strings.Count(def, key)
		}
		// 'id' is also the key of the nested author's id.
		assert.Equal(t, len(keys)+1, n, "%s names each of its keys once, 'id' once more for the author:\n%s", fn, def)
	}
}

// TestPostDocument_FunctionsAreInlined: PostgreSQL inlines post_document and
// post_comment_element into every plan of post that builds documents (the
// view's per-id refresh, the wide and range overrides), in custom and
// generic plans: EXPLAIN VERBOSE shows the keys of their bodies and no call
// of either. A function PostgreSQL cannot inline (declared VOLATILE or
// STRICT, SECURITY DEFINER, with a SET clause) would be called once per
// post and per comment.
func TestPostDocument_FunctionsAreInlined(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	_, err := seed.Load(ctx, pool, seed.Options{Users: 20, Posts: 60, Comments: 200, Likes: 40})
	require.NoError(t, err)
	post, err := blog.MustNewEngine(pool, tvsync.Config{}).Entity(blog.EntityPost)
	require.NoError(t, err)
	stmts, err := plancheck.Statements(ctx, pool, post, 30)
	require.NoError(t, err)

	builds := map[plancheck.Role]bool{plancheck.RoleRefresh: true, plancheck.RoleWideRefresh: true, plancheck.RoleRangeRefresh: true}
	seen := 0
	for _, st := range stmts {
		if !builds[st.Role] {
			continue
		}
		seen++
		for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
			plan := explainVerbose(t, pool, st, mode)
			assert.NotContains(t, plan, "post_document(", "%s (%s) calls post_document:\n%s", st.Label(), mode, plan)
			assert.NotContains(t, plan, "post_comment_element(", "%s (%s) calls post_comment_element:\n%s", st.Label(), mode, plan)
			assert.Contains(t, plan, "'commentCount'", "%s (%s): the document's body is in the plan", st.Label(), mode)
			assert.Contains(t, plan, "'username'", "%s (%s): the comment's body is in the plan", st.Label(), mode)
		}
	}
	assert.Equal(t, 3, seen, "the refresh, the wide refresh and the range refresh")
}

// TestPostDocument_ViewKeeps00004sPlanAndDocuments: tv_post_source, which
// now calls the functions, plans a batch exactly as 00004's view, which
// wrote the document in place (the same nodes, index conditions and
// fences), and builds the same documents byte for byte.
func TestPostDocument_ViewKeeps00004sPlanAndDocuments(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	_, err := seed.Load(ctx, pool, seed.Options{Users: 20, Posts: 60, Comments: 200, Likes: 40})
	require.NoError(t, err)
	_, err = pool.Exec(ctx, "ANALYZE")
	require.NoError(t, err)
	raw, err := os.ReadFile("../migrations/00004_bounded_document_views.sql")
	require.NoError(t, err)
	up, _, ok := strings.Cut(string(raw), "-- +goose Down")
	require.True(t, ok)
	_, def, ok := strings.Cut(up, "CREATE OR REPLACE VIEW tv_post_source AS")
	require.True(t, ok, "00004 replaces tv_post_source")
	def, _, ok = strings.Cut(def, ";\nCOMMENT ON VIEW tv_post_source")
	require.True(t, ok)

	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	// A small table is cheaper to scan whole: plan as on a large one.
	_, err = tx.Exec(ctx, "SET LOCAL enable_seqscan = off")
	require.NoError(t, err)
	_, err = tx.Exec(ctx, "CREATE TEMP VIEW tv_post_source_00004 AS"+def)
	require.NoError(t, err)
	var ids []string
	require.NoError(t, tx.QueryRow(ctx, "SELECT array_agg(id::text ORDER BY id) FROM (SELECT id FROM tb_post ORDER BY id LIMIT 25) p").Scan(&ids))
	explain := func(view string) string {
		rows, err := tx.Query(ctx, "EXPLAIN (COSTS OFF) SELECT id, data FROM "+view+" WHERE id = ANY($1::uuid[])", ids)
		require.NoError(t, err)
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		return strings.Join(lines, "\n")
	}
	plan := explain("tv_post_source")
	assert.Equal(t, explain("tv_post_source_00004"), plan)
	assert.Contains(t, plan, "Index Scan", "a batch is read through the indexes")

	var docs, old []string
	require.NoError(t, tx.QueryRow(ctx, "SELECT array_agg(id::text || ' ' || data::text ORDER BY id) FROM tv_post_source").Scan(&docs))
	require.NoError(t, tx.QueryRow(ctx, "SELECT array_agg(id::text || ' ' || data::text ORDER BY id) FROM tv_post_source_00004").Scan(&old))
	assert.Len(t, docs, 60)
	assert.Equal(t, old, docs, "the same documents as 00004's view")
}

// explainVerbose returns the text of EXPLAIN (VERBOSE) of st under
// plan_cache_mode mode, in a transaction it rolls back.
func explainVerbose(t *testing.T, pool interface {
	Begin(context.Context) (pgx.Tx, error)
}, st plancheck.Statement, mode string) string {
	t.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	_, err = tx.Exec(ctx, "SELECT set_config('plan_cache_mode', $1, true)", mode)
	require.NoError(t, err)
	rows, err := tx.Query(ctx, "EXPLAIN (VERBOSE)\n"+st.SQL, st.Args...)
	require.NoError(t, err, st.Label())
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err, st.Label())
	return strings.Join(lines, "\n")
}

// namedStatement returns the statement of sql (a sqlc query file) named
// name: from its "-- name: name " line to the next one.
func namedStatement(t *testing.T, sql, name string) string {
	t.Helper()
	_, rest, ok := strings.Cut(sql, "-- name: "+name+" ")
	require.True(t, ok, "no statement %s", name)
	stmt, _, _ := strings.Cut(rest, "-- name: ")
	return stmt
}
