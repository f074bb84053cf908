package syncvet_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/sync/syncvet"
)

// vetOutput is sqlc vet's output in each form sqlc 1.31 prints (its
// internal/cmd/vet.go), among lines that name no query.
const vetOutput = `bad.sql: VetFixtureOrderStar: no-select-star: the query selects every column of a table (SELECT *, t.* or RETURNING *): name only the columns
bad.sql: VetFixtureOrderStar: no-seq-scan-in-sync: an incremental sync statement plans a sequential scan
queries/vetfixtures/bad.sql: VetFixtureDeepRefresh: sync-plan-depth
stars.sql: VetStarTvsyncSyncLog: no_select_star: a rule named with underscores
bad.sql: VetFixtureBroken: sqlc/db-prepare: error preparing query: ERROR: relation "tb_gone" does not exist (SQLSTATE 42P01)
bad.sql: VetFixtureOrderRefresh: no-seq-scan-in-sync: error explaining query: ERROR: syntax error at or near "$1" (SQLSTATE 42601)
bad.sql: VetFixtureOther: rule-check error: rule "no-such-rule" does not exist in the config file
queries/order.sql:12:3: column "total" does not exist
error validating sqlc.yaml: invalid engine
# package db
`

func TestParse_ReadsEachRuleThatFiredAndEachQueryNotChecked(t *testing.T) {
	r := syncvet.Parse(vetOutput)
	assert.Equal(t, map[string][]string{
		"VetFixtureOrderStar":   {"no-select-star", "no-seq-scan-in-sync"},
		"VetFixtureDeepRefresh": {"sync-plan-depth"},
		"VetStarTvsyncSyncLog":  {"no_select_star"},
	}, r.Fired)
	lines := strings.Split(vetOutput, "\n")
	assert.Equal(t, lines[4:7], r.Errors, "a rule sqlc could not evaluate is an error, not a rule that fired")

	assert.Empty(t, syncvet.Parse("").Fired)
	assert.Empty(t, syncvet.Parse(strings.Join(lines[7:], "\n")).Fired, "lines naming no query")
	assert.Equal(t, map[string][]string{"Q": {"r"}}, syncvet.Parse("a.sql: Q: r: m\r\n").Fired, "CRLF output")
}

func TestFixtures_CheckListsEveryDifference(t *testing.T) {
	f := syncvet.Fixtures{
		Config:     "sqlc.yaml",
		Want:       map[string]string{"VetFixtureStar": "star", "VetFixtureRefresh": "seq"},
		StarTables: []string{"tb_a", "tvsync.sync_log"},
		StarRule:   "star",
	}
	pass := map[string][]string{
		"VetFixtureStar":       {"star"},
		"VetFixtureRefresh":    {"seq"},
		"VetStarTbA":           {"star"},
		"VetStarTvsyncSyncLog": {"star"},
	}
	require.NoError(t, f.Check(syncvet.Report{Fired: pass}))

	with := func(query string, rules ...string) map[string][]string {
		fired := map[string][]string{}
		for q, r := range pass {
			fired[q] = r
		}
		if rules == nil {
			delete(fired, query)
		} else {
			fired[query] = rules
		}
		return fired
	}
	for name, c := range map[string]struct {
		report syncvet.Report
		want   []string
	}{
		"a fixture's rule did not fire": {syncvet.Report{Fired: with("VetFixtureRefresh")}, []string{"VetFixtureRefresh: seq did not fire (got [])"}},
		"another rule fired instead":    {syncvet.Report{Fired: with("VetFixtureRefresh", "star")}, []string{"VetFixtureRefresh: seq did not fire (got [star])"}},
		"a table's star query passed":   {syncvet.Report{Fired: with("VetStarTvsyncSyncLog")}, []string{"VetStarTvsyncSyncLog: star did not fire (got [])"}},
		"two rules fired on a fixture":  {syncvet.Report{Fired: with("VetFixtureStar", "star", "seq")}, []string{"VetFixtureStar: exactly one rule must fire, got [star seq]"}},
		"a rule fired twice":            {syncvet.Report{Fired: with("VetStarTbA", "star", "star")}, []string{"VetStarTbA: exactly one rule must fire, got [star star]"}},
		"a rule fired on a near miss":   {syncvet.Report{Fired: with("VetFixtureSearch", "seq")}, []string{"VetFixtureSearch: no rule may fire, got [seq]"}},
		"a query was not explained":     {syncvet.Report{Fired: pass, Errors: []string{"bad.sql: Q: seq: error explaining query: boom"}}, []string{"sqlc vet could not check a query: bad.sql: Q: seq: error explaining query: boom"}},
		"nothing fired": {syncvet.Report{}, []string{
			"VetFixtureRefresh: seq did not fire (got [])", "VetFixtureStar: star did not fire (got [])",
			"VetStarTbA: star did not fire (got [])", "VetStarTvsyncSyncLog: star did not fire (got [])",
		}},
	} {
		t.Run(name, func(t *testing.T) {
			err := f.Check(c.report)
			require.Error(t, err)
			msg := err.Error()
			assert.True(t, strings.HasPrefix(msg, "sqlc vet on the fixtures of sqlc.yaml, not as expected:\n"), msg)
			assert.Equal(t, c.want, strings.Split(msg, "\n")[1:])
		})
	}
}
