package plancheck_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/sync/plancheck"
)

// plan is one statement's figures: its buffers and, per table, buffers and
// rows examined.
func plan(seq int, buffers int64, rels ...plancheck.RelationCost) plancheck.Plan {
	return plancheck.Plan{
		Statement: plancheck.Statement{Entity: "thing", Role: plancheck.RoleRefresh, Seq: seq, Batch: 100,
			SQL: "-- name: ThingRefresh :batchone\nSELECT 1"},
		Buffers:   buffers,
		Relations: rels,
	}
}

func rel(name string, buffers, rows int64) plancheck.RelationCost {
	return plancheck.RelationCost{Relation: name, Scans: []string{"Some Scan"}, Buffers: buffers, Rows: rows}
}

func profile(rows float64, plans ...plancheck.Plan) plancheck.Profile {
	return plancheck.Profile{Plans: plans, Rows: map[string]float64{"thing": rows}}
}

func TestCompare_FailsATableReadWholeAtBothScales(t *testing.T) {
	small := profile(2_000, plan(0, 400, rel("tb_thing", 50, 2_000), rel("tb_other", 300, 100)))
	large := profile(20_000, plan(0, 800, rel("tb_thing", 500, 20_000), rel("tb_other", 300, 100)))
	cmp, err := plancheck.Compare(small, large, plancheck.Options{})
	require.NoError(t, err)
	require.ErrorIs(t, cmp.Err(), plancheck.ErrTableBound)
	require.Len(t, cmp.Failed(), 1)
	v := cmp.Failed()[0]
	require.Len(t, v.Problems, 1, "tb_other followed the batch")
	assert.Contains(t, v.Problems[0], "reads tb_thing with the table (Some Scan): 20000 rows examined and 500 buffers touched at the large scale, 10.0× and 10.0× the 2000 and 50 at the small one")
	assert.Contains(t, cmp.Err().Error(), "thing ThingRefresh (refresh): reads tb_thing")
	assert.InDelta(t, 10, v.Growth, 1e-9)
}

func TestCompare_PassesABatchThatReadAWholeSmallTable(t *testing.T) {
	// At the small scale the batch is a tenth of the table and the planner
	// rightly scans it; at the large scale it probes an index for the same
	// rows. The buffers grow (index pages instead of a few heap pages), the
	// rows examined do not: the statement follows its batch.
	small := profile(2_000, plan(0, 60, rel("tb_thing", 44, 2_000)))
	large := profile(20_000, plan(0, 600, rel("tb_thing", 600, 200)))
	cmp, err := plancheck.Compare(small, large, plancheck.Options{})
	require.NoError(t, err)
	assert.NoError(t, cmp.Err())
}

func TestCompare_SlackCoversSmallTablesAndIndexDepth(t *testing.T) {
	small := profile(2_000, plan(0, 10, rel("tb_tiny", 3, 20)))
	withinSlack := profile(20_000, plan(0, 40, rel("tb_tiny", 3*3+32, 3*20+100)))
	cmp, err := plancheck.Compare(small, withinSlack, plancheck.Options{})
	require.NoError(t, err)
	assert.NoError(t, cmp.Err(), "at the limits: MaxRatio 3 plus Slack 32 buffers and RowSlack (the batch, 100) rows")

	beyond := profile(20_000, plan(0, 40, rel("tb_tiny", 3*3+33, 3*20+101)))
	cmp, err = plancheck.Compare(small, beyond, plancheck.Options{})
	require.NoError(t, err)
	assert.ErrorIs(t, cmp.Err(), plancheck.ErrTableBound, "one buffer and one row beyond")
}

func TestCompare_RefusesMeasurementsThatCannotBeCompared(t *testing.T) {
	small := profile(2_000, plan(0, 10))
	_, err := plancheck.Compare(small, profile(15_000, plan(0, 10)), plancheck.Options{})
	assert.ErrorIs(t, err, plancheck.ErrScalesTooClose)
	assert.ErrorContains(t, err, `entity "thing" holds 2000 rows at the small scale and 15000 at the large one (7.5×, want 10×)`)

	_, err = plancheck.Compare(small, profile(20_000, plan(0, 10), plan(1, 10)), plancheck.Options{})
	assert.ErrorIs(t, err, plancheck.ErrMismatch)

	other := plan(0, 10)
	other.Statement.Batch = 40
	_, err = plancheck.Compare(small, profile(20_000, other), plancheck.Options{})
	assert.ErrorIs(t, err, plancheck.ErrMismatch)
	assert.ErrorContains(t, err, "covers 100 ids at the small scale, 40 at the large one")
}

func TestStatement_NameAndLabel(t *testing.T) {
	st := plancheck.Statement{Entity: "post", Role: plancheck.RoleLookup, Dependent: "comment", Seq: 5,
		SQL: "-- name: CommentIDsByPost :batchmany\nSELECT id FROM tb_comment"}
	assert.Equal(t, "CommentIDsByPost", st.Name())
	assert.Equal(t, "post CommentIDsByPost (cascade lookup of comment)", st.Label())
	st.SQL = "SELECT 1"
	assert.Empty(t, st.Name())
	assert.Equal(t, "post #5 (cascade lookup of comment)", st.Label())
}
