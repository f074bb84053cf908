package queries_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/internal/seed"
	"github.com/tvsync/tvsync/internal/testdb"
	"github.com/tvsync/tvsync/sync/syncvet"
)

// TestMain starts one throwaway PostgreSQL for the vet tests.
func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

// Rule names and a distinctive part of each rule's message, as sqlc.yaml
// defines them.
const (
	ruleStar = "no-select-star"
	ruleSeq  = "no-seq-scan-in-sync"
	msgStar  = "selects every column of a table"
	msgSeq   = "plans a sequential scan of a tb_ or tv_"
)

// TestVet runs sqlc vet with the rules of sqlc.yaml on a database holding
// realistic, ANALYZEd data: the real queries pass, and each rule fires on the
// deliberately bad queries of vetfixtures/ (and on SELECT * of every table)
// and on nothing else.
func TestVet(t *testing.T) {
	ctx := context.Background()
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	dbURL := realisticDatabase(t, ctx)
	sqlc := []string{"go", "-C", filepath.Join(root, "tools"), "tool", "sqlc"} // the pinned sqlc

	t.Run("RealQueriesPass", func(t *testing.T) {
		out, err := syncvet.Vet(ctx, sqlc, filepath.Join(root, "sqlc.yaml"), dbURL)
		require.NoError(t, err, "sqlc vet must pass on queries/:\n%s", out)
	})

	t.Run("EachRuleFiresOnItsFixture", func(t *testing.T) {
		tables, err := syncvet.Tables(ctx, openPool(t, ctx, dbURL))
		require.NoError(t, err)
		require.Subset(t, tables, []string{"tb_post", "tvsync.sync_queue", "tvsync.sync_log"})
		out, err := syncvet.Fixtures{
			Config:  filepath.Join(root, "sqlc.yaml"),
			Queries: []string{filepath.Join(root, "queries", "vetfixtures")},
			Want: map[string]string{ // fixture query → the one rule that must fire on it; no rule on the others
				"VetFixturePostStar":                ruleStar,
				"VetFixtureCommentWithPostTitle":    ruleStar,
				"VetFixtureUserDeleteReturningStar": ruleStar,
				"VetFixturePostByTitleRefresh":      ruleSeq,
				"VetFixturePostIDsByTitle":          ruleSeq,
				"VetFixtureCommentVerify":           ruleSeq,
				"VetFixturePostDeepRefresh":         ruleSeq,
			},
			StarTables: tables,
			StarRule:   ruleStar,
		}.Vet(ctx, sqlc, dbURL, t.TempDir())
		t.Logf("sqlc vet on the fixtures:\n%s", out)
		require.NoError(t, err, "each rule must fire on its fixture and on nothing else (extend a rule in sqlc.yaml if a table or column is new)")
		assert.NotContains(t, syncvet.Parse(out).Fired, "VetFixturePostSearchByTitle", "a seq scan outside the sync statements is not the rule's business")
		assert.Contains(t, out, msgStar)
		assert.Contains(t, out, msgSeq)
		assert.Contains(t, out, "name only the columns the caller reads", "the star message says what to do")
		assert.Contains(t, out, "filter on an indexed column", "the seq-scan message says what to do")
		assert.NotContains(t, out, "error explaining query", out)
	})
}

// realisticDatabase returns the URL of a fresh migrated database holding
// 2,000 users, 20,000 posts, 60,000 comments and 20,000 likes, every tv_
// row built from its view, and fresh planner statistics.
func realisticDatabase(t *testing.T, ctx context.Context) string {
	t.Helper()
	dbURL := testdb.URL(t)
	pool := openPool(t, ctx, dbURL)
	_, err := seed.Load(ctx, pool, seed.Options{Users: 2000, Posts: 20000, Comments: 60000, Likes: 20000})
	require.NoError(t, err)
	for _, view := range []string{"tv_user", "tv_post", "tv_comment"} {
		_, err := pool.Exec(ctx, fmt.Sprintf("INSERT INTO %s (id, data) SELECT id, data FROM %s_source", view, view))
		require.NoError(t, err, view)
	}
	_, err = pool.Exec(ctx, "ANALYZE")
	require.NoError(t, err)
	return dbURL
}

func openPool(t *testing.T, ctx context.Context, dbURL string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(ctx, dbURL)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}
