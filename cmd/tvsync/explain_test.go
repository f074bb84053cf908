package main

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/internal/seed"
	"github.com/tvsync/tvsync/internal/testdb"
)

func TestExplain_PrintsEverySyncStatementWithItsIndexPlanAndChangesNothing(t *testing.T) {
	ctx := context.Background()
	url := testdb.URL(t)
	pool, err := pgxpool.New(ctx, url)
	require.NoError(t, err)
	defer pool.Close()
	// Realistic statistics: with much less data the planner rightly prefers
	// to scan small tables whole.
	_, err = seed.Load(ctx, pool, seed.Options{Users: 2000, Posts: 20000, Comments: 60000, Likes: 20000})
	require.NoError(t, err)
	for _, view := range []string{"tv_user", "tv_post", "tv_comment"} {
		_, err := pool.Exec(ctx, "INSERT INTO "+view+" (id, data) SELECT id, data FROM "+view+"_source")
		require.NoError(t, err, view)
	}
	// The batch explain picks is the first 100 post ids; ten of them lose
	// their tv_post row, so a refresh that were not rolled back would
	// restore them.
	_, err = pool.Exec(ctx, "DELETE FROM tv_post WHERE id IN (SELECT id FROM tb_post ORDER BY id LIMIT 10)")
	require.NoError(t, err)
	_, err = pool.Exec(ctx, "ANALYZE")
	require.NoError(t, err)

	code, out, errOut := runCLI(t, "--database-url", url, "explain", "--entity", "post")
	require.Equal(t, 0, code, errOut)

	assert.Contains(t, out, "== post (tv_post): 7 statements for a batch of 100 ids")
	assert.NotContains(t, out, "== user", "--entity post explains post only")
	sections := explainSections(out)
	for _, name := range []string{"PostRefresh", "PostWideRefresh", "PostDeleteMissing", "PostRangeRefresh", "PostRangeDeleteMissing", "CommentIDsByPost", "PostVerify"} {
		require.Contains(t, sections, name, out)
		assert.Contains(t, sections[name], "-- name: "+name+" :", "%s: prints the sqlc query text", name)
		assert.Contains(t, sections[name], "Execution Time:", "%s: prints an EXPLAIN ANALYZE plan", name)
		assert.Regexp(t, `Index (Only )?Scan|Bitmap Index Scan`, sections[name], "%s reaches its batch through an index", name)
	}
	refresh := sections["PostRefresh"]
	assert.NotContains(t, refresh, "Seq Scan on tb_post", "the post refresh reads its batch of posts by id")
	assert.Contains(t, refresh, "Tuples Inserted: 10", "the refresh ran for real (ANALYZE) and restored the ten missing rows")
	assert.Contains(t, refresh, ",… 100 ids}'", "the bound id list is abbreviated")

	// --generic: the plan a prepared statement may switch to after five
	// executions, which cannot see the batch; it must reach it by index too.
	code, out, errOut = runCLI(t, "--database-url", url, "explain", "--entity", "post", "--generic")
	require.Equal(t, 0, code, errOut)
	sections = explainSections(out)
	for _, name := range []string{"PostRefresh", "PostWideRefresh", "PostDeleteMissing", "PostRangeRefresh", "PostRangeDeleteMissing", "CommentIDsByPost", "PostVerify"} {
		require.Contains(t, sections, name, out)
		assert.Contains(t, sections[name], "generic plan (EXPLAIN ANALYZE, BUFFERS; rolled back):", name)
		assert.Contains(t, sections[name], "$1", "%s: the plan refers to its parameters, not to the batch", name)
		assert.Regexp(t, `Index (Only )?Scan|Bitmap Index Scan`, sections[name], "%s reaches its batch through an index", name)
	}
	assert.NotContains(t, sections["PostRefresh"], "Seq Scan on tb_post", "the generic post refresh reads its batch of posts by id")
	assert.Contains(t, sections["PostRefresh"], "Tuples Inserted: 10", "the generic plan ran for real")

	var rows int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM tv_post").Scan(&rows))
	assert.Equal(t, 20000-10, rows, "every explained statement was rolled back")
}

func TestExplain_AllEntitiesByDefault(t *testing.T) {
	ctx := context.Background()
	url := testdb.URL(t)
	pool, err := pgxpool.New(ctx, url)
	require.NoError(t, err)
	defer pool.Close()
	_, err = seed.Load(ctx, pool, seed.Options{Users: 20, Posts: 50, Comments: 100, Likes: 20})
	require.NoError(t, err)

	code, out, errOut := runCLI(t, "--database-url", url, "explain")
	require.Equal(t, 0, code, errOut)
	for _, header := range []string{"== user (tv_user): 8 statements for a batch of 20 ids", "== post (tv_post): 7 statements for a batch of 50 ids", "== comment (tv_comment): 5 statements for a batch of 100 ids"} {
		assert.Contains(t, out, header)
	}
	for _, name := range []string{"UserRefresh", "UserDeleteMissing", "PostIDsByAuthor", "PostIDsCommentedByUser", "CommentIDsByAuthor", "UserVerify", "CommentRefresh", "CommentDeleteMissing", "CommentVerify", "UserRangeRefresh", "CommentRangeRefresh", "CommentRangeDeleteMissing"} {
		assert.Contains(t, explainSections(out), name)
	}
	assert.Contains(t, out, "(the table holds only 20 rows: the plans are for that batch)")
}

func TestExplain_RejectsBadInput(t *testing.T) {
	url := testdb.URL(t)
	code, _, errOut := runCLI(t, "--database-url", url, "explain", "--entity", "postz")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, `--entity "postz": unknown entity`)
	code, _, errOut = runCLI(t, "--database-url", url, "explain", "--ids", "0")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "--ids 0: want 1 to 1000000")
}

// explainSection matches the header of one statement in tvsync explain's
// output: "--- ENTITY QueryName (role)".
var explainSection = regexp.MustCompile(`(?m)^--- \w+ (\w+) \(`)

// explainSections splits tvsync explain's output by statement, keyed by
// query name.
func explainSections(out string) map[string]string {
	sections := map[string]string{}
	locs := explainSection.FindAllStringSubmatchIndex(out, -1)
	for i, loc := range locs {
		end := len(out)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		if next := strings.Index(out[loc[0]:end], "\n== "); next >= 0 {
			end = loc[0] + next
		}
		sections[out[loc[2]:loc[3]]] = out[loc[0]:end]
	}
	return sections
}
