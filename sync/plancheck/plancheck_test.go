package plancheck_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/blog"
	"github.com/tvsync/tvsync/internal/seed"
	"github.com/tvsync/tvsync/internal/testdb"
	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/plancheck"
)

// TestMain starts one throwaway PostgreSQL for the package's tests.
func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

// The blog at two scales ten times apart, with the same shape (a post per
// user, five comments and a like per post), so that a batch of ids finds as
// many dependent rows at either scale. The batch is a tenth of every table
// at the small scale and a hundredth at the large one: from about a percent
// of a table on, the planner reads a table whole rather than probe an index
// for each id, unless the statement leaves it no such plan.
const (
	smallScale = 2_000
	largeScale = 20_000
	checkBatch = 200
)

// blogAt returns a database holding the blog at the given number of posts,
// its tv_ tables filled from their definitions, vacuumed and analyzed.
func blogAt(t *testing.T, posts int) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	pool := testdb.New(t)
	_, err := seed.Load(ctx, pool, seed.Options{Users: posts, Posts: posts, Comments: 5 * posts, Likes: posts})
	require.NoError(t, err)
	for _, view := range []string{"tv_user", "tv_post", "tv_comment"} {
		_, err := pool.Exec(ctx, "INSERT INTO "+view+" (id, data) SELECT id, data FROM "+view+"_source")
		require.NoError(t, err, view)
	}
	_, err = pool.Exec(ctx, "VACUUM ANALYZE")
	require.NoError(t, err)
	return pool
}

// TestCheck_OnTheBlog runs the plan-scaling check on every statement of
// every blog entity, and on a registered entity with a deliberately bad
// statement, at the two scales.
func TestCheck_OnTheBlog(t *testing.T) {
	ctx := context.Background()
	small, large := blogAt(t, smallScale), blogAt(t, largeScale)
	opts := plancheck.Options{Batch: checkBatch}

	t.Run("EveryStatementFollowsItsBatch", func(t *testing.T) {
		cmp, err := plancheck.Check(ctx, blog.MustNewEngine(small, tvsync.Config{}), blog.MustNewEngine(large, tvsync.Config{}), opts)
		require.NoError(t, err)
		var table strings.Builder
		require.NoError(t, cmp.WriteTable(&table))
		t.Logf("plan-scaling check, batch %d, %d and %d posts:\n%s", checkBatch, smallScale, largeScale, table.String())

		var names []string
		for _, v := range cmp.Verdicts {
			names = append(names, v.Statement().Name())
			assert.Equal(t, checkBatch, v.Statement().Batch, v.Statement().Label())
			assert.Positive(t, v.Large.Buffers, "%s: EXPLAIN ANALYZE ran it", v.Statement().Label())
			assert.InDelta(t, 10, v.Growth, 0.2, v.Statement().Label())
		}
		assert.ElementsMatch(t, []string{
			"CommentRefresh", "CommentDeleteMissing", "CommentRangeRefresh", "CommentRangeDeleteMissing", "CommentVerify",
			"PostRefresh", "PostWideRefresh", "PostDeleteMissing", "PostRangeRefresh", "PostRangeDeleteMissing", "CommentIDsByPost", "PostVerify",
			"UserRefresh", "UserDeleteMissing", "UserRangeRefresh", "UserRangeDeleteMissing", "PostIDsByAuthor", "PostIDsCommentedByUser", "CommentIDsByAuthor", "UserVerify",
		}, names, "every sync statement of every blog entity is checked")
		assert.NoError(t, cmp.Err(), "every blog sync statement must read rows in proportion to its batch, not to its tables")
	})

	t.Run("EveryGenericPlanFollowsItsBatch", func(t *testing.T) {
		generic := opts
		generic.Generic = true
		cmp, err := plancheck.Check(ctx, blog.MustNewEngine(small, tvsync.Config{}), blog.MustNewEngine(large, tvsync.Config{}), generic)
		require.NoError(t, err)
		var table strings.Builder
		require.NoError(t, cmp.WriteTable(&table))
		t.Logf("plan-scaling check of the generic plans, batch %d, %d and %d posts:\n%s", checkBatch, smallScale, largeScale, table.String())
		require.Len(t, cmp.Verdicts, 20, "every sync statement of every blog entity")
		for _, v := range cmp.Verdicts {
			assert.True(t, v.Large.Generic && v.Small.Generic, v.Statement().Label())
		}
		assert.NoError(t, cmp.Err(), "a prepared statement's generic plan must read rows in proportion to its batch too")
	})

	t.Run("AnOptionalFilterFailsInItsGenericPlanOnly", func(t *testing.T) {
		engine := func(pool *pgxpool.Pool) *tvsync.Engine {
			e, err := tvsync.NewEngine(pool, tvsync.Config{}, optionalFilterPost(t))
			require.NoError(t, err)
			return e
		}
		custom, err := plancheck.Check(ctx, engine(small), engine(large), opts)
		require.NoError(t, err)
		assert.NoError(t, custom.Err(), "with its arguments, the planner folds the filter away and probes the index")

		generic := opts
		generic.Generic = true
		cmp, err := plancheck.Check(ctx, engine(small), engine(large), generic)
		require.NoError(t, err)
		var table strings.Builder
		require.NoError(t, cmp.WriteTable(&table))
		t.Logf("generic plans of the optional-filter entity:\n%s", table.String())
		require.ErrorIs(t, cmp.Err(), plancheck.ErrTableBound)
		var failed []string
		for _, v := range cmp.Failed() {
			failed = append(failed, v.Statement().Label())
		}
		require.Equal(t, []string{"optionalfilter OptionalFilterDeleteMissing (delete-missing)"}, failed, "only the optional filter fails")
		assert.Contains(t, cmp.Err().Error(), "generic plans")
		assert.Contains(t, cmp.Err().Error(), "reads tv_post with the table")
	})

	t.Run("ATableWideDeleteMissingFails", func(t *testing.T) {
		engine := func(pool *pgxpool.Pool) *tvsync.Engine {
			e, err := tvsync.NewEngine(pool, tvsync.Config{}, tableWidePost(t))
			require.NoError(t, err)
			return e
		}
		cmp, err := plancheck.Check(ctx, engine(small), engine(large), opts)
		require.NoError(t, err)
		var table strings.Builder
		require.NoError(t, cmp.WriteTable(&table))
		t.Logf("plan-scaling check of the table-wide entity:\n%s", table.String())

		require.ErrorIs(t, cmp.Err(), plancheck.ErrTableBound)
		var failed []string
		for _, v := range cmp.Failed() {
			failed = append(failed, v.Statement().Label())
		}
		require.Equal(t, []string{"tablewide TableWideDeleteMissing (delete-missing)"}, failed, "only the table-wide statement fails")
		assert.Equal(t, "tablewide #0 (refresh)", cmp.Verdicts[0].Statement().Label(), "the refresh probing id by id passes")
		bad := cmp.Failed()[0]
		assert.Contains(t, cmp.Err().Error(), "tablewide TableWideDeleteMissing (delete-missing): reads tb_post with the table")
		var postRows [2]int64
		for i, p := range []plancheck.Plan{bad.Small, bad.Large} {
			for _, r := range p.Relations {
				if r.Relation == "tb_post" {
					postRows[i] = r.Rows
				}
			}
		}
		assert.Equal(t, [2]int64{smallScale, largeScale}, postRows, "the statement reads every tb_post row at both scales")
	})
}

// tableWidePost registers tv_post under another name, with two statements
// written by hand (no sqlc): a refresh that probes tb_post id by id, which
// follows its batch, and a deliberately bad delete-missing statement, NOT
// IN over a subquery of all of tb_post, which PostgreSQL runs as a hashed
// subplan that reads the whole table for every batch.
func tableWidePost(t *testing.T) tvsync.Entity {
	t.Helper()
	var post tvsync.Entity
	for _, ent := range blog.Entities() {
		if ent.Name == blog.EntityPost {
			post = ent
		}
	}
	require.NotNil(t, post.IDsAfter)
	queue := func(p *tvsync.Pipeline, sql string, ids []tvsync.ID) func() (int, error) {
		b := &pgx.Batch{}
		b.Queue(sql, tvsync.UUIDs(ids))
		br := p.SendBatch(context.Background(), b)
		return func() (n int, err error) { return n, br.QueryRow().Scan(&n) }
	}
	return tvsync.Entity{
		Name: "tablewide",
		View: "tv_post",
		Refresh: func(p *tvsync.Pipeline, ids []tvsync.ID) func() (tvsync.RefreshResult, error) {
			read := queue(p, `SELECT count(*)::int FROM unnest($1::uuid[]) AS b(id)
WHERE EXISTS (SELECT 1 FROM tb_post p WHERE p.id = b.id OFFSET 0)`, ids)
			return func() (tvsync.RefreshResult, error) { n, err := read(); return tvsync.RefreshResult{Found: n}, err }
		},
		DeleteMissing: func(p *tvsync.Pipeline, ids []tvsync.ID) func() (tvsync.DeleteResult, error) {
			read := queue(p, `-- name: TableWideDeleteMissing :batchone
WITH gone AS (
    DELETE FROM tv_post t
    WHERE t.id = ANY($1::uuid[]) AND t.id NOT IN (SELECT x.id FROM tb_post x)
    RETURNING t.id
)
SELECT count(*)::int FROM gone`, ids)
			return func() (tvsync.DeleteResult, error) { n, err := read(); return tvsync.DeleteResult{Deleted: n}, err }
		},
		IDsAfter:     post.IDsAfter,
		ViewIDsAfter: post.ViewIDsAfter,
	}
}

// optionalFilterPost is tableWidePost with a delete-missing statement
// whose filter on the batch is optional, "id = ANY($1) OR $2": called with
// $2 false, a custom plan folds the OR away and probes tv_post's index per
// id, but the generic plan, which cannot, reads tv_post whole.
func optionalFilterPost(t *testing.T) tvsync.Entity {
	t.Helper()
	ent := tableWidePost(t)
	ent.Name = "optionalfilter"
	ent.DeleteMissing = func(p *tvsync.Pipeline, ids []tvsync.ID) func() (tvsync.DeleteResult, error) {
		b := &pgx.Batch{}
		b.Queue(`-- name: OptionalFilterDeleteMissing :batchone
WITH gone AS (
    DELETE FROM tv_post t
    WHERE (t.id = ANY($1::uuid[]) OR $2::boolean)
      AND NOT EXISTS (SELECT FROM tb_post x WHERE x.id = t.id OFFSET 0)
    RETURNING t.id
)
SELECT count(*)::int FROM gone`, tvsync.UUIDs(ids), false)
		br := p.SendBatch(context.Background(), b)
		return func() (tvsync.DeleteResult, error) {
			var n int
			err := br.QueryRow().Scan(&n)
			return tvsync.DeleteResult{Deleted: n}, err
		}
	}
	return ent
}

func TestStatements_CaptureEveryBuilderWithTheFirstIDsAndTheirRange(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	_, err := seed.Load(ctx, pool, seed.Options{Users: 30, Posts: 80, Comments: 200, Likes: 50})
	require.NoError(t, err)
	rows, err := pool.Query(ctx, "SELECT id FROM tb_post ORDER BY id LIMIT 25")
	require.NoError(t, err)
	first, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	require.NoError(t, err)
	post, err := blog.MustNewEngine(pool, tvsync.Config{}).Entity(blog.EntityPost)
	require.NoError(t, err)

	stmts, err := plancheck.Statements(ctx, pool, post, 25)
	require.NoError(t, err)

	type captured struct {
		name      string
		role      plancheck.Role
		dependent string
	}
	var got []captured
	for i, st := range stmts {
		got = append(got, captured{st.Name(), st.Role, st.Dependent})
		assert.Equal(t, i, st.Seq)
		assert.Equal(t, 25, st.Batch)
		assert.Equal(t, blog.EntityPost, st.Entity)
		assert.True(t, strings.HasPrefix(st.SQL, "-- name: "+st.Name()+" :"), "%s: the text as sqlc sends it", st.Label())
	}
	assert.Equal(t, []captured{
		{"PostRefresh", plancheck.RoleRefresh, ""},
		{"PostWideRefresh", plancheck.RoleWideRefresh, ""},
		{"PostDeleteMissing", plancheck.RoleDeleteMissing, ""},
		{"PostRangeRefresh", plancheck.RoleRangeRefresh, ""},
		{"PostRangeDeleteMissing", plancheck.RoleRangeDeleteMissing, ""},
		{"CommentIDsByPost", plancheck.RoleLookup, blog.EntityComment},
		{"PostVerify", plancheck.RoleVerify, ""},
	}, got)
	for _, i := range []int{0, 1, 2, 5} {
		assert.Equal(t, []any{first}, stmts[i].Args, "%s gets the first 25 ids in id order", stmts[i].Label())
	}
	for _, i := range []int{3, 4} {
		assert.Equal(t, []any{uuid.Nil, first[24], first}, stmts[i].Args, "%s gets the keyset range holding exactly those ids, and the ids", stmts[i].Label())
	}
	assert.Equal(t, []any{uuid.Nil, first[24]}, stmts[6].Args, "%s gets the keyset range holding exactly those ids", stmts[6].Label())

	_, err = plancheck.Statements(ctx, pool, post, 0)
	assert.ErrorContains(t, err, `batch of 0 ids for entity "post": want at least 1`)
}

func TestExplain_RunsTheStatementForRealAndRollsItBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	_, err := seed.Load(ctx, pool, seed.Options{Users: 30, Posts: 80, Comments: 200, Likes: 50})
	require.NoError(t, err)
	_, err = pool.Exec(ctx, "INSERT INTO tv_post (id, data) SELECT id, data FROM tv_post_source")
	require.NoError(t, err)
	// Ten of the batch's posts lose their tv_post row: the refresh, if it
	// were not rolled back, would restore them.
	_, err = pool.Exec(ctx, "DELETE FROM tv_post WHERE id IN (SELECT id FROM tb_post ORDER BY id LIMIT 10)")
	require.NoError(t, err)
	post, err := blog.MustNewEngine(pool, tvsync.Config{}).Entity(blog.EntityPost)
	require.NoError(t, err)
	stmts, err := plancheck.Statements(ctx, pool, post, 40)
	require.NoError(t, err)
	require.Equal(t, "PostRefresh", stmts[0].Name())

	p, err := plancheck.Explain(ctx, pool, stmts[0])
	require.NoError(t, err)
	assert.Contains(t, string(p.JSON), `"Tuples Inserted": 10`, "the refresh ran (ANALYZE) and inserted the ten missing rows")
	assert.Positive(t, p.Buffers)
	assert.Positive(t, p.ExecutionTime)
	tables := map[string]bool{}
	for _, r := range p.Relations {
		tables[r.Relation] = true
	}
	for _, table := range []string{"tb_post", "tb_user", "tb_comment", "tb_post_like", "tv_post"} {
		assert.True(t, tables[table], "the refresh of posts reads or writes %s", table)
	}
	var n int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM tv_post").Scan(&n))
	assert.Equal(t, 80-10, n, "rolled back")

	lines, err := plancheck.ExplainText(ctx, pool, stmts[0])
	require.NoError(t, err)
	assert.Contains(t, strings.Join(lines, "\n"), "Execution Time:")
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM tv_post").Scan(&n))
	assert.Equal(t, 80-10, n, "rolled back")

	_, err = plancheck.Explain(ctx, pool, plancheck.Statement{Entity: "post", Role: plancheck.RoleRefresh, SQL: "SELECT nope"})
	assert.ErrorContains(t, err, "plancheck: explain post #0 (refresh)")
}

// TestExplainGeneric_ExplainsThePlanWithoutTheArgumentsAndRollsBack: the
// generic plan of a refresh refers to its parameter ($1) where the custom
// plan has the batch's ids; the statement ran (ANALYZE) and was rolled
// back, and the prepared statement is gone from the connection.
func TestExplainGeneric_ExplainsThePlanWithoutTheArgumentsAndRollsBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	shared := testdb.New(t)
	cfg := shared.Config().Copy()
	cfg.MaxConns = 1 // one connection: the one the prepared statement lived on
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	_, err = seed.Load(ctx, pool, seed.Options{Users: 30, Posts: 80, Comments: 200, Likes: 50})
	require.NoError(t, err)
	_, err = pool.Exec(ctx, "INSERT INTO tv_post (id, data) SELECT id, data FROM tv_post_source WHERE id NOT IN (SELECT id FROM tb_post ORDER BY id LIMIT 10)")
	require.NoError(t, err)
	post, err := blog.MustNewEngine(pool, tvsync.Config{}).Entity(blog.EntityPost)
	require.NoError(t, err)
	stmts, err := plancheck.Statements(ctx, pool, post, 40)
	require.NoError(t, err)
	require.Equal(t, "PostRefresh", stmts[0].Name())

	custom, err := plancheck.Explain(ctx, pool, stmts[0])
	require.NoError(t, err)
	assert.False(t, custom.Generic)
	// (Subplans' own outputs are named $0, $1, … too: look for the ids' use.)
	assert.NotContains(t, string(custom.JSON), "unnest($1", "a custom plan holds the batch's ids")
	for range 2 { // twice: nothing is left on the connection to collide with
		generic, err := plancheck.ExplainGeneric(ctx, pool, stmts[0])
		require.NoError(t, err)
		assert.True(t, generic.Generic)
		assert.Contains(t, string(generic.JSON), "$1", "a generic plan refers to its parameter")
		assert.Contains(t, string(generic.JSON), `"Tuples Inserted": 10`, "the refresh ran and inserted the ten missing rows")
		assert.Positive(t, generic.Buffers)
	}
	lines, err := plancheck.ExplainGenericText(ctx, pool, stmts[3])
	require.NoError(t, err)
	assert.Equal(t, "PostRangeRefresh", stmts[3].Name())
	assert.Contains(t, strings.Join(lines, "\n"), "$3", "the range refresh's third parameter, its ids")

	var n, prepared int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM tv_post").Scan(&n))
	assert.Equal(t, 80-10, n, "rolled back")
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM pg_prepared_statements WHERE from_sql").Scan(&prepared))
	assert.Zero(t, prepared, "deallocated")
	var mode string
	require.NoError(t, pool.QueryRow(ctx, "SHOW plan_cache_mode").Scan(&mode))
	assert.Equal(t, "auto", mode, "the forced mode was local to the rolled-back transaction")

	_, err = plancheck.ExplainGeneric(ctx, pool, plancheck.Statement{Entity: "post", Role: plancheck.RoleRefresh, SQL: "SELECT nope"})
	assert.ErrorContains(t, err, "plancheck: explain the generic plan of post #0 (refresh)")
	_, err = plancheck.ExplainGeneric(ctx, pool, plancheck.Statement{Entity: "post", Role: plancheck.RoleRefresh, SQL: "SELECT 1 / $1::int", Args: []any{0}})
	assert.ErrorContains(t, err, "division by zero")
	_, err = plancheck.ExplainGeneric(ctx, pool, stmts[0])
	assert.NoError(t, err, "a failed explain leaves nothing behind either")
}
