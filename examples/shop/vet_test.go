package shop_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/sync/syncvet"
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
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM shop.tb_order").Scan(&orders))
	require.Equal(t, vetOrders, orders)

	sqlc := []string{"go", "-C", filepath.Join(shopDir, "..", "..", "tools"), "tool", "sqlc"} // the repository's pinned sqlc

	t.Run("RealQueriesPass", func(t *testing.T) {
		out, err := syncvet.Vet(ctx, sqlc, filepath.Join(shopDir, "sqlc.yaml"), dbURL)
		require.NoError(t, err, "sqlc vet must pass on queries/:\n%s", out)
		assert.Empty(t, syncvet.Parse(out).Fired, "no rule may fire on the shop's queries")
	})

	t.Run("EachRuleFiresOnItsFixture", func(t *testing.T) {
		tables, err := syncvet.Tables(ctx, pool)
		require.NoError(t, err)
		require.Subset(t, tables, []string{"shop.tb_order_line", "shop.tv_review", "tvsync.sync_queue"})
		fixtures := syncvet.Fixtures{
			Config:  filepath.Join(shopDir, "sqlc.yaml"),
			Queries: []string{filepath.Join(shopDir, "testdata", "vetfixtures")},
			// Each fixture query and the one rule that must fire on it;
			// none may fire on VetFixtureOrderLineSearchByQuantity, a seq
			// scan outside the sync statements.
			Want: map[string]string{
				"VetFixtureOrderStar":                  ruleStar,
				"VetFixtureOrderLineByQuantityRefresh": ruleSeq,
				"VetFixtureOrderDeepRefresh":           ruleDepth,
			},
			StarTables: tables, // SELECT * of every table trips no-select-star
			StarRule:   ruleStar,
		}
		out, err := fixtures.Vet(ctx, sqlc, dbURL, t.TempDir())
		t.Logf("sqlc vet on the fixtures:\n%s", out)
		require.NoError(t, err)
		for _, msg := range []string{msgStar, msgSeq, msgDepth} {
			assert.Contains(t, out, msg, "each rule's message reaches the output")
		}
		assert.NotContains(t, out, "VetFixtureOrderLineSearchByQuantity", "a seq scan outside the sync statements is not the rule's business")
		assert.NotContains(t, out, "error explaining query")
	})
}
