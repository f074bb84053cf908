package plancheck

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	tvsync "github.com/tvsync/tvsync/sync"
)

// Plan is what one statement cost on one database, from EXPLAIN (ANALYZE,
// BUFFERS).
type Plan struct {
	// Statement is the statement explained.
	Statement Statement
	// Generic says the plan is the statement's generic plan (ExplainGeneric),
	// not its custom plan for its arguments (Explain).
	Generic bool
	// Buffers is the shared buffers the execution touched: hit plus read,
	// over the whole statement (every node, subplan and CTE, every loop).
	// Planning is not included; see PlanningBuffers. This is the figure
	// [Compare] judges: whether a page came from the cache or the disk
	// does not change it.
	Buffers int64
	// PlanningBuffers is the shared buffers (hit plus read) the planner
	// touched: catalog pages it did not have cached, and index pages it
	// probed for the actual bounds of a range. It depends on the
	// connection's caches, so it is reported, not judged.
	PlanningBuffers int64
	// Relations are the shared buffers touched and the rows examined per
	// table, summed over every scan of it (an index scan counts towards
	// its table), sorted by buffers, most first.
	Relations []RelationCost
	// ExecutionTime and PlanningTime are what EXPLAIN ANALYZE measured.
	ExecutionTime, PlanningTime time.Duration
	// JSON is the plan as PostgreSQL printed it (FORMAT JSON).
	JSON json.RawMessage
}

// RelationCost is what a statement spent on one table.
type RelationCost struct {
	// Relation is the table's name, as EXPLAIN prints it.
	Relation string
	// Scans lists the scan nodes that read it ("Seq Scan", "Index Scan
	// using tb_post_pkey", ...), each once.
	Scans []string
	// Buffers is the shared buffers (hit plus read) its scans touched,
	// including their index pages.
	Buffers int64
	// Rows is the rows its scans examined over every loop: those they
	// returned plus those their filters removed.
	Rows int64
}

// Explain runs st under EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) with its
// arguments inside a transaction on conn that it always rolls back, so the
// statement really runs (its writes included) and nothing changes. The
// rollback runs even when ctx is cancelled.
func Explain(ctx context.Context, conn tvsync.Beginner, st Statement) (Plan, error) {
	var raw []byte
	err := rolledBack(ctx, conn, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)\n"+st.SQL, st.Args...).Scan(&raw)
	})
	if err != nil {
		return Plan{}, fmt.Errorf("plancheck: explain %s: %w", st.Label(), err)
	}
	plan, err := parsePlan(raw)
	if err != nil {
		return Plan{}, fmt.Errorf("plancheck: explain %s: %w", st.Label(), err)
	}
	plan.Statement = st
	return plan, nil
}

// ExplainText runs st under EXPLAIN (ANALYZE, BUFFERS, FORMAT TEXT) inside
// a transaction on conn that it always rolls back, and returns the plan's
// lines, for people to read.
func ExplainText(ctx context.Context, conn tvsync.Beginner, st Statement) ([]string, error) {
	var lines []string
	err := rolledBack(ctx, conn, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS, FORMAT TEXT)\n"+st.SQL, st.Args...)
		if err != nil {
			return err
		}
		lines, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("plancheck: explain %s: %w", st.Label(), err)
	}
	return lines, nil
}

// rolledBack runs f in a transaction on conn and rolls it back.
func rolledBack(ctx context.Context, conn tvsync.Beginner, f func(pgx.Tx) error) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	return f(tx)
}

// explainNode is the part of a FORMAT JSON plan node plancheck reads.
type explainNode struct {
	NodeType           string        `json:"Node Type"`
	Operation          string        `json:"Operation"`
	RelationName       string        `json:"Relation Name"`
	IndexName          string        `json:"Index Name"`
	ParentRelationship string        `json:"Parent Relationship"`
	SubplanName        string        `json:"Subplan Name"`
	CTEName            string        `json:"CTE Name"`
	ActualRows         float64       `json:"Actual Rows"`
	ActualLoops        float64       `json:"Actual Loops"`
	RemovedByFilter    float64       `json:"Rows Removed by Filter"`
	RemovedByRecheck   float64       `json:"Rows Removed by Index Recheck"`
	SharedHit          int64         `json:"Shared Hit Blocks"`
	SharedRead         int64         `json:"Shared Read Blocks"`
	Plans              []explainNode `json:"Plans"`
}

func (n *explainNode) buffers() int64 { return n.SharedHit + n.SharedRead }

// explainOutput is one FORMAT JSON EXPLAIN ANALYZE result.
type explainOutput struct {
	Plan     explainNode `json:"Plan"`
	Planning struct {
		SharedHit  int64 `json:"Shared Hit Blocks"`
		SharedRead int64 `json:"Shared Read Blocks"`
	} `json:"Planning"`
	PlanningTime  float64 `json:"Planning Time"`
	ExecutionTime float64 `json:"Execution Time"`
}

// parsePlan reads the figures of a FORMAT JSON EXPLAIN (ANALYZE, BUFFERS).
func parsePlan(raw []byte) (Plan, error) {
	var out []explainOutput
	if err := json.Unmarshal(raw, &out); err != nil {
		return Plan{}, fmt.Errorf("parse the JSON plan: %w", err)
	}
	if len(out) != 1 {
		return Plan{}, fmt.Errorf("parse the JSON plan: %d plans, want 1", len(out))
	}
	o := out[0]
	p := Plan{
		Buffers:         statementBuffers(&o.Plan),
		PlanningBuffers: o.Planning.SharedHit + o.Planning.SharedRead,
		PlanningTime:    time.Duration(o.PlanningTime * float64(time.Millisecond)),
		ExecutionTime:   time.Duration(o.ExecutionTime * float64(time.Millisecond)),
		JSON:            json.RawMessage(raw),
	}
	rels := map[string]*RelationCost{}
	relationCosts(&o.Plan, rels)
	for _, rc := range rels {
		p.Relations = append(p.Relations, *rc)
	}
	slices.SortFunc(p.Relations, func(a, b RelationCost) int {
		if a.Buffers != b.Buffers {
			return int(b.Buffers - a.Buffers)
		}
		return strings.Compare(a.Relation, b.Relation)
	})
	return p, nil
}

// statementBuffers is the shared buffers of the whole statement. A node's
// figures include everything it ran: its children, and the subplans and
// CTEs evaluated while it ran. A data-modifying CTE that no node reads
// runs after the plan, though, so its buffers are added.
func statementBuffers(root *explainNode) int64 {
	scanned := map[string]bool{}
	var walk func(n *explainNode)
	walk = func(n *explainNode) {
		if n.NodeType == "CTE Scan" {
			scanned[n.CTEName] = true
		}
		for i := range n.Plans {
			walk(&n.Plans[i])
		}
	}
	walk(root)
	total := root.buffers()
	for i := range root.Plans {
		c := &root.Plans[i]
		if name, ok := strings.CutPrefix(c.SubplanName, "CTE "); ok && !scanned[name] {
			total += c.buffers()
		}
	}
	return total
}

// relationCosts adds the buffers and rows of every node under n that reads
// or writes a table to rels. A scan's figures are its own once the subplans
// evaluated in its filters are taken out; the index scans under a Bitmap
// Heap Scan count towards its table. An Insert, Update or Delete counts
// what it spent itself (heap and index writes, conflict checks), without
// the plan that feeds it.
func relationCosts(n *explainNode, rels map[string]*RelationCost) {
	if n.RelationName == "" {
		for i := range n.Plans {
			relationCosts(&n.Plans[i], rels)
		}
		return
	}
	rc := rels[n.RelationName]
	if rc == nil {
		rc = &RelationCost{Relation: n.RelationName}
		rels[n.RelationName] = rc
	}
	modify := n.NodeType == "ModifyTable"
	scan := n.NodeType
	switch {
	case modify:
		scan = n.Operation
	case n.IndexName != "":
		scan += " using " + n.IndexName
	}
	if !slices.Contains(rc.Scans, scan) {
		rc.Scans = append(rc.Scans, scan)
	}
	buffers := n.buffers()
	for i := range n.Plans {
		c := &n.Plans[i]
		if modify || c.ParentRelationship == "SubPlan" || c.ParentRelationship == "InitPlan" {
			buffers -= c.buffers()
			relationCosts(c, rels)
		}
	}
	rc.Buffers += buffers
	if !modify {
		rc.Rows += int64((n.ActualRows + n.RemovedByFilter + n.RemovedByRecheck) * n.ActualLoops)
	}
}
