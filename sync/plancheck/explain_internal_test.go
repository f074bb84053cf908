package plancheck

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A trimmed FORMAT JSON plan of a delete-missing statement: a data-modifying
// CTE that nothing reads (so it runs after the plan, outside the root's
// figures), a Bitmap Heap Scan over its Bitmap Index Scan, a scan filtered
// by a correlated subplan on another table, and the Delete itself.
const deletePlan = `[{
  "Plan": {
    "Node Type": "Result", "Actual Rows": 1, "Actual Loops": 1,
    "Shared Hit Blocks": 10, "Shared Read Blocks": 2,
    "Plans": [
      {"Node Type": "ModifyTable", "Operation": "Delete", "Parent Relationship": "InitPlan", "Subplan Name": "CTE gone",
       "Relation Name": "tv_post", "Actual Rows": 0, "Actual Loops": 1,
       "Shared Hit Blocks": 300, "Shared Read Blocks": 20,
       "Plans": [
         {"Node Type": "Bitmap Heap Scan", "Parent Relationship": "Outer", "Relation Name": "tv_post",
          "Actual Rows": 3, "Actual Loops": 1, "Rows Removed by Filter": 197, "Rows Removed by Index Recheck": 0,
          "Shared Hit Blocks": 280, "Shared Read Blocks": 10,
          "Plans": [
            {"Node Type": "Bitmap Index Scan", "Parent Relationship": "Outer", "Index Name": "tv_post_pkey",
             "Actual Rows": 200, "Actual Loops": 1, "Shared Hit Blocks": 3, "Shared Read Blocks": 0},
            {"Node Type": "Index Only Scan", "Parent Relationship": "SubPlan", "Subplan Name": "SubPlan 1",
             "Relation Name": "tb_post", "Index Name": "tb_post_pkey",
             "Actual Rows": 1, "Actual Loops": 200, "Shared Hit Blocks": 190, "Shared Read Blocks": 10}
          ]}
       ]},
      {"Node Type": "Seq Scan", "Parent Relationship": "Outer", "Relation Name": "tb_user",
       "Actual Rows": 4, "Actual Loops": 2, "Rows Removed by Filter": 46,
       "Shared Hit Blocks": 6, "Shared Read Blocks": 0}
    ]
  },
  "Planning": {"Shared Hit Blocks": 17, "Shared Read Blocks": 4},
  "Planning Time": 0.5,
  "Execution Time": 2.25
}]`

func TestParsePlan_CountsEveryBufferOnceAndAttributesScansToTheirTables(t *testing.T) {
	p, err := parsePlan([]byte(deletePlan))
	require.NoError(t, err)

	assert.Equal(t, int64(12+320), p.Buffers, "the root's buffers plus those of the CTE no node reads")
	assert.Equal(t, int64(21), p.PlanningBuffers)
	assert.Equal(t, "2.25ms", p.ExecutionTime.String())
	assert.Equal(t, "500µs", p.PlanningTime.String())

	byName := map[string]RelationCost{}
	for _, r := range p.Relations {
		byName[r.Relation] = r
	}
	require.Len(t, byName, 3)
	assert.Equal(t, RelationCost{Relation: "tv_post", Scans: []string{"Delete", "Bitmap Heap Scan"},
		Buffers: (320 - 290) + (290 - 200), Rows: 3 + 197}, byName["tv_post"],
		"the Delete's own buffers, and the bitmap scan's with its index but without the subplan")
	assert.Equal(t, RelationCost{Relation: "tb_post", Scans: []string{"Index Only Scan using tb_post_pkey"}, Buffers: 200, Rows: 200},
		byName["tb_post"], "the subplan's probes, over all 200 loops")
	assert.Equal(t, RelationCost{Relation: "tb_user", Scans: []string{"Seq Scan"}, Buffers: 6, Rows: (4 + 46) * 2},
		byName["tb_user"], "rows returned and removed by the filter, over every loop")
	assert.Equal(t, "tb_post", p.Relations[0].Relation, "sorted by buffers, most first")
}

func TestParsePlan_RejectsWhatIsNotOnePlan(t *testing.T) {
	_, err := parsePlan([]byte(`[]`))
	assert.ErrorContains(t, err, "0 plans, want 1")
	_, err = parsePlan([]byte(`{"Plan": {}}`))
	assert.ErrorContains(t, err, "parse the JSON plan")
}
