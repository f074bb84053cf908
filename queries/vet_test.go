package queries_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/internal/seed"
	"github.com/tvsync/tvsync/internal/testdb"
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

	t.Run("RealQueriesPass", func(t *testing.T) {
		out, err := sqlcVet(t, ctx, root, filepath.Join(root, "sqlc.yaml"), dbURL)
		require.NoError(t, err, "sqlc vet must pass on queries/:\n%s", out)
	})

	t.Run("EachRuleFiresOnItsFixture", func(t *testing.T) {
		pool := openPool(t, ctx, dbURL)
		tables := publicTables(t, ctx, pool)
		cfg := fixtureConfig(t, root, tables)
		out, err := sqlcVet(t, ctx, root, cfg, dbURL)
		require.Error(t, err, "sqlc vet must fail on the fixtures:\n%s", out)
		var exitErr *exec.ExitError
		require.ErrorAs(t, err, &exitErr, out)
		t.Logf("sqlc vet on the fixtures:\n%s", out)

		want := map[string]string{ // fixture query → the rule that must fire on it
			"VetFixturePostStar":                ruleStar,
			"VetFixtureCommentWithPostTitle":    ruleStar,
			"VetFixtureUserDeleteReturningStar": ruleStar,
			"VetFixturePostByTitleRefresh":      ruleSeq,
			"VetFixturePostIDsByTitle":          ruleSeq,
			"VetFixtureCommentVerify":           ruleSeq,
			"VetFixturePostDeepRefresh":         ruleSeq,
		}
		for _, table := range tables {
			want[starQueryName(table)] = ruleStar
		}
		got := firedRules(out)
		for query, rule := range want {
			assert.Contains(t, got[query], rule, "%s must trip %s (extend the rule in sqlc.yaml if a table or column is new)", query, rule)
		}
		for query, rules := range got {
			assert.Len(t, rules, 1, "%s: exactly one rule must fire, got %v", query, rules)
			assert.Contains(t, want, query, "no rule may fire on %s, got %v", query, rules)
		}
		assert.NotContains(t, got, "VetFixturePostSearchByTitle", "a seq scan outside the sync statements is not the rule's business")
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

// publicTables lists the application's tables and tvsync's (schema-qualified),
// all but goose's version tables.
func publicTables(t *testing.T, ctx context.Context, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(ctx, `SELECT CASE schemaname WHEN 'public' THEN tablename ELSE schemaname || '.' || tablename END
		FROM pg_tables WHERE schemaname IN ('public', 'tvsync') AND tablename NOT IN ('goose_db_version', 'tvsync_migrations') ORDER BY 1`)
	require.NoError(t, err)
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Contains(t, tables, "tb_post")
	require.Contains(t, tables, "tvsync.sync_queue")
	return tables
}

// sqlcVet runs the pinned sqlc's vet on config with VET_DATABASE_URL set
// and returns its combined output.
func sqlcVet(t *testing.T, ctx context.Context, root, config, dbURL string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute) // a cold build of sqlc takes about two
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "-C", filepath.Join(root, "tools"), "tool", "sqlc", "-f", config, "vet")
	cmd.Env = append(os.Environ(), "VET_DATABASE_URL="+dbURL)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// fixtureConfig writes a copy of sqlc.yaml whose queries are the fixtures of
// vetfixtures/ plus a SELECT * of every table, and returns its path. The copy
// keeps every rule of sqlc.yaml, so the test checks the real rules.
func fixtureConfig(t *testing.T, root string, tables []string) string {
	t.Helper()
	real, err := os.ReadFile(filepath.Join(root, "sqlc.yaml"))
	require.NoError(t, err)
	dir := t.TempDir()

	var stars strings.Builder
	for _, table := range tables {
		fmt.Fprintf(&stars, "-- name: %s :many\nSELECT * FROM %s;\n\n", starQueryName(table), table)
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "stars.sql"), []byte(stars.String()), 0o644))

	rel := func(path string) string {
		r, err := filepath.Rel(dir, path)
		require.NoError(t, err)
		return r
	}
	cfg := string(real)
	require.Contains(t, cfg, "\n      uri: ${VET_DATABASE_URL}\n", "sqlc.yaml's vet database must come from VET_DATABASE_URL")
	for old, repl := range map[string]string{
		"\n    schema: [sync/syncmigrate, migrations]\n": "\n    schema: [" + rel(filepath.Join(root, "sync", "syncmigrate")) + ", " + rel(filepath.Join(root, "migrations")) + "]\n",
		"\n    queries: queries\n":                       "\n    queries: [" + rel(filepath.Join(root, "queries", "vetfixtures")) + ", stars.sql]\n",
		"\n        out: db\n":                            "\n        out: " + filepath.Join(dir, "db") + "\n",
	} {
		require.Equal(t, 1, strings.Count(cfg, old), "sqlc.yaml must contain %q exactly once for this test", old)
		cfg = strings.Replace(cfg, old, repl, 1)
	}
	path := filepath.Join(dir, "sqlc.yaml")
	require.NoError(t, os.WriteFile(path, []byte(cfg), 0o644))
	return path
}

// starQueryName names the generated SELECT * query of a table.
func starQueryName(table string) string {
	var b strings.Builder
	b.WriteString("VetStar")
	for _, part := range strings.FieldsFunc(table, func(r rune) bool { return r == '_' || r == '.' }) {
		if part != "" {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}

// vetLine matches a rule violation as sqlc vet prints it:
// "file: QueryName: rule-name: message".
var vetLine = regexp.MustCompile(`(?m)^\S+: (\w+): ([a-z0-9-]+): `)

// firedRules maps each query named in sqlc vet's output to the rules that
// fired on it.
func firedRules(out string) map[string][]string {
	got := map[string][]string{}
	for _, m := range vetLine.FindAllStringSubmatch(out, -1) {
		got[m[1]] = append(got[m[1]], m[2])
	}
	return got
}
