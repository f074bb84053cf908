package shop_test

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
)

// Rule names and a distinctive part of each rule's message, as sqlc.yaml
// defines them.
const (
	ruleStar  = "no-select-star"
	ruleSeq   = "no-seq-scan-in-sync"
	ruleDepth = "sync-plan-depth"
	msgStar   = "name only the columns the caller reads"
	msgSeq    = "then check the plan with `shop explain --entity E`"
	msgDepth  = "deeper than no-seq-scan-in-sync inspects"
)

// vetOrders is the size of the vetted shop: the orders (one per customer,
// two lines each), customers and products; enough rows that the planner
// prefers an index to a sequential scan wherever one fits.
const vetOrders = 5_000

// TestVet_RulesHoldOnTheShop runs sqlc vet with the rules of sqlc.yaml on a
// shop of 5,000 orders with fresh planner statistics: the shop's real
// queries pass, and each rule fires on its deliberately bad query of
// testdata/vetfixtures (and no-select-star on SELECT * of every table), on
// nothing else.
func TestVet_RulesHoldOnTheShop(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	shopDir, err := filepath.Abs(".")
	require.NoError(t, err)
	pool := shopAt(t, vetOrders)
	dbURL := pool.Config().ConnString()
	var orders int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM tb_order").Scan(&orders))
	require.Equal(t, vetOrders, orders)

	t.Run("RealQueriesPass", func(t *testing.T) {
		out, err := sqlcVet(t, ctx, shopDir, filepath.Join(shopDir, "sqlc.yaml"), dbURL)
		require.NoError(t, err, "sqlc vet must pass on queries/:\n%s", out)
		assert.Empty(t, firedRules(out), "no rule may fire on the shop's queries")
	})

	t.Run("EachRuleFiresOnItsFixture", func(t *testing.T) {
		tables := shopTables(t, ctx, pool)
		cfg := vetFixtureConfig(t, shopDir, tables)
		out, err := sqlcVet(t, ctx, shopDir, cfg, dbURL)
		require.Error(t, err, "sqlc vet must fail on the fixtures:\n%s", out)
		var exitErr *exec.ExitError
		require.ErrorAs(t, err, &exitErr, out)
		t.Logf("sqlc vet on the fixtures:\n%s", out)

		want := map[string]string{ // fixture query → the rule that must fire on it
			"VetFixtureOrderStar":                  ruleStar,
			"VetFixtureOrderLineByQuantityRefresh": ruleSeq,
			"VetFixtureOrderDeepRefresh":           ruleDepth,
		}
		for _, table := range tables {
			want[starQueryName(table)] = ruleStar
		}
		got := firedRules(out)
		for query, rule := range want {
			assert.Contains(t, got[query], rule, "%s must trip %s", query, rule)
		}
		for query, rules := range got {
			assert.Len(t, rules, 1, "%s: exactly one rule must fire, got %v", query, rules)
			assert.Contains(t, want, query, "no rule may fire on %s, got %v", query, rules)
		}
		assert.NotContains(t, got, "VetFixtureOrderLineSearchByQuantity", "a seq scan outside the sync statements is not the rule's business")
		assert.Contains(t, out, msgStar)
		assert.Contains(t, out, msgSeq)
		assert.Contains(t, out, msgDepth)
		assert.NotContains(t, out, "error explaining query", out)
	})
}

// shopTables lists the shop's tables and tvsync's (schema-qualified), all
// but the goose version tables.
func shopTables(t *testing.T, ctx context.Context, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(ctx, `SELECT CASE schemaname WHEN 'public' THEN tablename ELSE schemaname || '.' || tablename END
		FROM pg_tables WHERE schemaname IN ('public', 'tvsync') AND tablename NOT IN ('shop_migrations', 'tvsync_migrations') ORDER BY 1`)
	require.NoError(t, err)
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Contains(t, tables, "tb_order_line")
	require.Contains(t, tables, "tv_review")
	require.Contains(t, tables, "tvsync.sync_queue")
	return tables
}

// sqlcVet runs sqlc vet on config with VET_DATABASE_URL set, through the
// sqlc pinned in the repository's tools module, and returns its combined
// output.
func sqlcVet(t *testing.T, ctx context.Context, shopDir, config, dbURL string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute) // a cold build of sqlc takes about two
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "-C", filepath.Join(shopDir, "..", "..", "tools"), "tool", "sqlc", "-f", config, "vet")
	cmd.Env = append(os.Environ(), "VET_DATABASE_URL="+dbURL)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// vetFixtureConfig writes a copy of sqlc.yaml whose queries are the fixtures
// of testdata/vetfixtures plus a SELECT * of every table, and returns its
// path. The copy keeps every rule of sqlc.yaml, so the test checks the real
// rules.
func vetFixtureConfig(t *testing.T, shopDir string, tables []string) string {
	t.Helper()
	real, err := os.ReadFile(filepath.Join(shopDir, "sqlc.yaml"))
	require.NoError(t, err)
	dir := t.TempDir()

	var stars strings.Builder
	for _, table := range tables {
		fmt.Fprintf(&stars, "-- name: %s :many\nSELECT * FROM %s;\n\n", starQueryName(table), table)
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "stars.sql"), []byte(stars.String()), 0o644))

	// sqlc resolves the paths of a configuration relative to its folder.
	rel := func(path string) string {
		r, err := filepath.Rel(dir, path)
		require.NoError(t, err)
		return r
	}
	cfg := string(real)
	require.Contains(t, cfg, "\n      uri: ${VET_DATABASE_URL}\n", "sqlc.yaml's vet database must come from VET_DATABASE_URL")
	for old, repl := range map[string]string{
		"\n    schema: [../../sync/syncmigrate, migrations]\n": "\n    schema: [" + rel(filepath.Join(shopDir, "..", "..", "sync", "syncmigrate")) + ", " + rel(filepath.Join(shopDir, "migrations")) + "]\n",
		"\n    queries: queries\n":                             "\n    queries: [" + rel(filepath.Join(shopDir, "testdata", "vetfixtures")) + ", stars.sql]\n",
		"\n        out: db\n":                                  "\n        out: " + filepath.Join(dir, "db") + "\n",
	} {
		require.Equal(t, 1, strings.Count(cfg, old), "sqlc.yaml must contain %q exactly once for this test", old)
		cfg = strings.Replace(cfg, old, repl, 1)
	}
	path := filepath.Join(dir, "sqlc.yaml")
	require.NoError(t, os.WriteFile(path, []byte(cfg), 0o644))
	return path
}

// starQueryName names the SELECT * query of a table: VetStarTbOrderLine.
func starQueryName(table string) string {
	var b strings.Builder
	b.WriteString("VetStar")
	for _, part := range strings.FieldsFunc(table, func(r rune) bool { return r == '_' || r == '.' }) {
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
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
