package syncvet_test

import (
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/sync/syncvet"
)

// seededWidgets stands for a team's helper returning a database of
// syncdbtest.New holding realistic data, then ANALYZEd.
var seededWidgets func(t *testing.T) *pgxpool.Pool

// Example is a team's test of the vet rules of its sqlc.yaml on a seeded,
// ANALYZEd database: the real queries pass, and each rule fires on its
// fixture alone, no-select-star on SELECT * of every table.
func Example() {
	// vet_test.go
	TestVet := func(t *testing.T) {
		ctx := t.Context()
		pool := seededWidgets(t)
		dbURL := pool.Config().ConnString()

		sqlc := []string{"go", "-C", "tools", "tool", "sqlc"} // your pinned sqlc, or {"sqlc"}
		out, err := syncvet.Vet(ctx, sqlc, "sqlc.yaml", dbURL)
		require.NoError(t, err, "the real queries pass:\n%s", out)

		tables, err := syncvet.Tables(ctx, pool) // every table but goose's version tables
		require.NoError(t, err)
		out, err = syncvet.Fixtures{
			Config:     "sqlc.yaml",
			Queries:    []string{"testdata/vetfixtures"},
			Want:       map[string]string{"VetFixtureWidgetStar": "no-select-star", "VetFixtureWidgetByNameRefresh": "no-seq-scan-in-sync"},
			StarTables: tables,
			StarRule:   "no-select-star",
		}.Vet(ctx, sqlc, dbURL, t.TempDir())
		require.NoError(t, err, "each rule fires on its fixture alone:\n%s", out)
	}

	_ = TestVet
}

func ExampleParse() {
	out := `bad.sql: VetFixtureOrderStar: no-select-star: the query selects every column of a table
bad.sql: VetFixtureOrderRefresh: no-seq-scan-in-sync: error explaining query: ERROR: syntax error
stars.sql: VetStarTvsyncSyncLog: no-select-star: the query selects every column of a table
`
	r := syncvet.Parse(out)
	fmt.Println(r.Fired["VetFixtureOrderStar"], r.Fired["VetStarTvsyncSyncLog"], len(r.Fired))
	fmt.Println(len(r.Errors), "query not explained")
	// Output:
	// [no-select-star] [no-select-star] 2
	// 1 query not explained
}

func ExampleStarQueryName() {
	fmt.Println(syncvet.StarQueryName("tb_order_line"))
	fmt.Println(syncvet.StarQueryName("tvsync.sync_log"))
	// Output:
	// VetStarTbOrderLine
	// VetStarTvsyncSyncLog
}
