package syncvet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode"
)

// Fixtures describes a run of sqlc vet on deliberately bad queries: the
// application's sqlc configuration with its queries replaced by fixture
// files, plus a generated `SELECT *` of every table, and what must fire on
// each query.
type Fixtures struct {
	// Config is the path of the application's sqlc configuration (version
	// 2, one entry under sql, database.uri an environment variable). Its
	// rules, schema and everything else are kept: the run checks the real
	// rules on the real schema.
	Config string

	// Queries are the fixture files or folders of queries (sqlc's `queries`
	// key), each a path relative to the current directory or absolute.
	// They replace the configuration's queries.
	Queries []string

	// Want maps each fixture query (its `-- name:`) to the one rule that
	// must fire on it. A fixture query absent from Want must trip no rule:
	// list a near miss (a sequential scan outside the statements a rule
	// inspects) to prove the rule leaves it alone.
	Want map[string]string

	// StarTables are the tables to write a `SELECT *` query of, named by
	// [StarQueryName], usually every table of [Tables]: each must trip
	// StarRule, which proves the rule knows every table's columns. Empty
	// writes none.
	StarTables []string

	// StarRule is the rule that must fire on each query of StarTables.
	StarRule string
}

// starFile is the name of the generated file of SELECT * queries in the
// folder of the fixture configuration.
const starFile = "stars.sql"

// WriteConfig writes the fixture configuration into dir (which must exist;
// t.TempDir() in a test) as dir/sqlc.yaml, with the star queries in
// dir/stars.sql, and returns the configuration's path. The copy names the
// schema and the fixtures by paths relative to dir, since sqlc resolves
// them from the configuration's folder, and sends any generated code into
// dir/gen. It refuses a configuration whose database.uri is not an
// environment variable alone. Only the first sql entry is kept.
func (f Fixtures) WriteConfig(dir string) (string, error) {
	if len(f.Queries) == 0 && len(f.StarTables) == 0 {
		return "", errors.New("syncvet fixtures: no Queries and no StarTables: nothing to vet")
	}
	if len(f.StarTables) > 0 && f.StarRule == "" {
		return "", errors.New("syncvet fixtures: StarTables without a StarRule that must fire on them")
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("syncvet fixtures: dir %s: %w", dir, err)
	}
	c, err := readConfig(f.Config)
	if err != nil {
		return "", err
	}
	var queries []string
	for _, q := range f.Queries {
		abs, err := filepath.Abs(q)
		if err != nil {
			return "", fmt.Errorf("syncvet fixtures: query path %s: %w", q, err)
		}
		if _, err := os.Stat(abs); err != nil {
			return "", fmt.Errorf("syncvet fixtures: %w", err)
		}
		rel, err := filepath.Rel(dir, abs)
		if err != nil {
			return "", fmt.Errorf("syncvet fixtures: query path %s: %w", q, err)
		}
		queries = append(queries, filepath.ToSlash(rel))
	}
	if len(f.StarTables) > 0 {
		queries = append(queries, starFile)
	}
	cfg, err := c.fixtureConfig(dir, queries)
	if err != nil {
		return "", err
	}
	if len(f.StarTables) > 0 {
		if err := os.WriteFile(filepath.Join(dir, starFile), []byte(starQueries(f.StarTables)), 0o644); err != nil {
			return "", fmt.Errorf("syncvet fixtures: %w", err)
		}
	}
	path := filepath.Join(dir, "sqlc.yaml")
	if err := os.WriteFile(path, cfg, 0o644); err != nil {
		return "", fmt.Errorf("syncvet fixtures: %w", err)
	}
	return path, nil
}

// Vet writes the fixture configuration into dir ([Fixtures.WriteConfig]),
// runs sqlc vet on it ([Vet]) with sqlc and databaseURL, and checks the
// outcome ([Fixtures.Check]). It returns sqlc vet's output, and an error
// when sqlc could not run or did not finish its checks, or when the outcome
// differs from f's expectation in any way (each difference on a line of its
// own). A nil error means every expected rule fired on its query and
// nothing else happened.
func (f Fixtures) Vet(ctx context.Context, sqlc []string, databaseURL, dir string) (string, error) {
	config, err := f.WriteConfig(dir)
	if err != nil {
		return "", err
	}
	out, err := Vet(ctx, sqlc, config, databaseURL)
	if err != nil && !errors.Is(err, ErrRulesFired) {
		return out, err
	}
	return out, f.Check(Parse(out))
}

// Check compares a report of sqlc vet on the fixture configuration with
// f's expectation: each query of Want trips its rule, each star query of
// StarTables trips StarRule, exactly one rule fires on each query that
// trips any, none fires on any other query, and sqlc vet reported no query
// it could not prepare or explain (a rule it could not evaluate is not a
// rule that passed). It returns nil when all holds, else an error listing
// every difference, sorted.
func (f Fixtures) Check(r Report) error {
	want := f.want()
	var problems []string
	for query, rule := range want {
		if !slices.Contains(r.Fired[query], rule) {
			problems = append(problems, fmt.Sprintf("%s: %s did not fire (got %v)", query, rule, r.Fired[query]))
		}
	}
	for query, rules := range r.Fired {
		switch _, expected := want[query]; {
		case !expected:
			problems = append(problems, fmt.Sprintf("%s: no rule may fire, got %v", query, rules))
		case len(rules) != 1:
			problems = append(problems, fmt.Sprintf("%s: exactly one rule must fire, got %v", query, rules))
		}
	}
	for _, line := range r.Errors {
		problems = append(problems, "sqlc vet could not check a query: "+line)
	}
	if len(problems) == 0 {
		return nil
	}
	slices.Sort(problems)
	return fmt.Errorf("sqlc vet on the fixtures of %s, not as expected:\n%s", f.Config, strings.Join(problems, "\n"))
}

// want returns Want with a StarRule entry for each star query.
func (f Fixtures) want() map[string]string {
	want := make(map[string]string, len(f.Want)+len(f.StarTables))
	for query, rule := range f.Want {
		want[query] = rule
	}
	for _, table := range f.StarTables {
		want[StarQueryName(table)] = f.StarRule
	}
	return want
}

// starQueries returns a sqlc query file with a `SELECT *` query of each
// table, named by StarQueryName.
func starQueries(tables []string) string {
	var b strings.Builder
	for _, table := range tables {
		fmt.Fprintf(&b, "-- name: %s :many\nSELECT * FROM %s;\n\n", StarQueryName(table), table)
	}
	return b.String()
}

// StarQueryName returns the name of the generated `SELECT *` query of
// table: "VetStar" followed by each word of the table's name (schema
// included, split at every character that is neither a letter nor a
// digit), capitalized: tb_order_line gives VetStarTbOrderLine,
// tvsync.sync_log gives VetStarTvsyncSyncLog.
func StarQueryName(table string) string {
	var b strings.Builder
	b.WriteString("VetStar")
	for _, word := range strings.FieldsFunc(table, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		r := []rune(word)
		b.WriteString(string(unicode.ToUpper(r[0])) + string(r[1:]))
	}
	return b.String()
}
