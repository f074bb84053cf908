// Package syncvet lets an application test its sqlc vet rules the way tvsync
// tests its own: run `sqlc vet` against a database holding realistic,
// ANALYZEd data, prove that the real queries pass, and prove that each rule
// fires on a deliberately bad query written for it, and on nothing else.
//
// A rule that never fires passes every query, so a vet rule needs a test of
// its own as much as any code: a rule whose CEL no longer matches the plans
// PostgreSQL chooses (a new node type, a plan one level deeper than the rule
// walks) or the columns of a new table keeps passing silently. The test
// takes three pieces:
//
//   - [Vet] runs `sqlc vet` on a configuration, through the sqlc command the
//     application pins (sqlc on the PATH, or `go tool sqlc` of a tools
//     module), with the database URL in the environment variable from which
//     the configuration's database.uri comes.
//   - [Fixtures] writes a copy of the configuration, every rule kept, whose
//     queries are fixture files of bad queries plus a generated `SELECT *`
//     of every table of [Tables], runs [Vet] on it and checks the outcome:
//     each fixture trips the one rule named for it, each table's star query
//     the star rule, nothing else fires, and sqlc vet explained every query.
//   - [Parse] reads sqlc vet's output into the rules that fired on each query,
//     for assertions of one's own.
//
// The database is the caller's: a seeded, ANALYZEd database of package
// syncdbtest, for example, so that the planner chooses the plans production
// would. A typical test:
//
//	sqlc := []string{"go", "-C", "tools", "tool", "sqlc"} // your pinned sqlc, or {"sqlc"}
//	out, err := syncvet.Vet(ctx, sqlc, "sqlc.yaml", dbURL)
//	require.NoError(t, err, "the real queries pass:\n%s", out)
//
//	tables, err := syncvet.Tables(ctx, pool) // every table but goose's version tables
//	require.NoError(t, err)
//	out, err = syncvet.Fixtures{
//		Config:     "sqlc.yaml",
//		Queries:    []string{"testdata/vetfixtures"},
//		Want:       map[string]string{"VetFixtureWidgetStar": "no-select-star"},
//		StarTables: tables,
//		StarRule:   "no-select-star",
//	}.Vet(ctx, sqlc, dbURL, t.TempDir())
//	require.NoError(t, err, "each rule fires on its fixture alone:\n%s", out)
//
// Package syncvet reads sqlc's configuration format version 2, and needs
// each database.uri to be an environment variable alone
// (`uri: ${VET_DATABASE_URL}`, any name): the variable is how [Vet] hands
// sqlc the test's database, so that no URL is ever written into a file.
// [Fixtures] runs on the first entry under sql, whose queries its fixtures
// replace and whose schema must hold every table they read; it drops any
// other entry. Nothing here starts a database or needs one of
// package syncdbtest: any URL of a database holding the schema will do.
package syncvet
