package sync

import (
	"context"

	"github.com/tvsync/tvsync/sync/internal/dbsqlc"
)

// The statements over tvsync.sync_queue are planned without sequential
// scans. The queue swings between empty and a backlog, and a connection
// caches a statement's plan: after five executions PostgreSQL may keep a
// generic plan, made while the queue was small and its statistics said so,
// where a sequential scan of a table of one page was the cheapest path. Such
// a plan reads the whole backlog at every enqueue (once per row queued),
// claim and removal, so a backlog slows every write and every batch, and
// grows (TestQueue_StatementsDoNotReadTheBacklog). Every one of these
// statements has an index for its conditions; planned with enable_seqscan
// off, the plan that is cached uses it whatever the queue's size was then,
// and costs nothing more to run. (Planning each execution afresh,
// plan_cache_mode = force_custom_plan, also avoids the trap, but measured
// about 1 ms more per deferred commit.)

// indexPlans queues on p, with no result to read, the setting under which
// the statements queued after it are planned, for the rest of the
// transaction or until restorePlans: enable_seqscan off.
func (e *Engine) indexPlans(ctx context.Context, p *Pipeline) {
	e.queries.SettingPush(ctx, p, []dbsqlc.SettingPushParams{{Name: "enable_seqscan", Value: "off"}})
	p.quietLast()
}

// restorePlans queues on p, with no result to read, the statement that
// puts back the enable_seqscan that indexPlans replaced.
func (e *Engine) restorePlans(ctx context.Context, p *Pipeline) {
	e.queries.SettingPop(ctx, p, []string{"enable_seqscan"})
	p.quietLast()
}
