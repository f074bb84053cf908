package sync

import (
	"context"

	"github.com/tvsync/tvsync/sync/internal/dbsqlc"
)

// The statements over tvsync.sync_queue plan afresh at each execution.
// The queue swings between empty and a backlog, and a connection caches a
// statement's plan: after five executions PostgreSQL may keep a generic
// plan, made while the queue was small and its statistics said so, where a
// sequential scan of a table of one page was the cheapest path. Such a plan
// reads the whole backlog at every enqueue (once per row queued), claim and
// removal, so a backlog slows every write and every batch, and grows
// (TestQueue_StatementsDoNotReadTheBacklog). A plan made for each execution
// sees the queue's current size; it costs a planning each time.

// planCacheMode is the setting freshPlans changes.
const planCacheMode = "plan_cache_mode"

// freshPlans queues on p, with no result to read, the setting that makes
// the statements queued after it plan afresh, for the rest of the
// transaction or until restorePlans.
func (e *Engine) freshPlans(ctx context.Context, p *Pipeline) {
	e.queries.SettingPush(ctx, p, []dbsqlc.SettingPushParams{{Name: planCacheMode, Value: "force_custom_plan"}})
	p.quietLast()
}

// restorePlans queues on p, with no result to read, the setting that puts
// back the plan_cache_mode that freshPlans replaced.
func (e *Engine) restorePlans(ctx context.Context, p *Pipeline) {
	e.queries.SettingPop(ctx, p, []string{planCacheMode})
	p.quietLast()
}
