package syncvet_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tvsync/tvsync/sync/syncvet"
)

// A test of an application's vet rules: the real queries pass, and each
// rule fires on its fixture, and no-select-star on SELECT * of every table.
// In a test, dbURL is a database seeded with realistic data and ANALYZEd
// (syncdbtest.URL(t), then the inserts and ANALYZE), and dir is t.TempDir().
func Example() {
	ctx := context.Background()
	dbURL := os.Getenv("APP_VET_DATABASE_URL")
	sqlc := []string{"go", "-C", "tools", "tool", "sqlc"} // sqlc pinned in tools/go.mod

	if out, err := syncvet.Vet(ctx, sqlc, "sqlc.yaml", dbURL); err != nil {
		log.Fatalf("the real queries must pass: %v\n%s", err, out)
	}

	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	tables, err := syncvet.Tables(ctx, pool)
	if err != nil {
		log.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "vet")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	out, err := syncvet.Fixtures{
		Config:  "sqlc.yaml",
		Queries: []string{"testdata/vetfixtures"},
		Want: map[string]string{
			"VetFixtureOrderStar":                  "no-select-star",
			"VetFixtureOrderLineByQuantityRefresh": "no-seq-scan-in-sync",
		},
		StarTables: tables,
		StarRule:   "no-select-star",
	}.Vet(ctx, sqlc, dbURL, dir)
	if err != nil {
		log.Fatalf("each rule must fire on its fixture alone: %v\n%s", err, out)
	}
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
