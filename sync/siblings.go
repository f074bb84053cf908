package sync

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tvsync/tvsync/sync/internal/engineapi"
)

// The kit's private API for its sibling packages under sync/ (package
// engineapi): the unit of work's queue protocol, plancheck's database, the
// test kit's plan check, the CLI's first key and namespace check.
func init() {
	engineapi.Set(engineapi.Engine[*Engine, Beginner, DB, Change, Token]{
		Pool: func(e *Engine) Beginner { return e.pool },
		EnqueueAndCommit: func(ctx context.Context, e *Engine, tx pgx.Tx, delay time.Duration, notify bool, changes ...Change) (engineapi.Queued, error) {
			return e.enqueueAndCommit(ctx, tx, delay, notify, changes...)
		},
		Enqueue: func(ctx context.Context, e *Engine, tx DB, delay time.Duration, notify bool, changes ...Change) (engineapi.Queued, error) {
			return e.enqueue(ctx, tx, delay, notify, changes...)
		},
		SyncTx: func(ctx context.Context, e *Engine, tx pgx.Tx, changes ...Change) (engineapi.Queued, error) {
			report, err := e.syncTx(ctx, tx, ModeIncremental, changes...)
			return report.queued, err
		},
		SyncQueued: func(ctx context.Context, e *Engine, q engineapi.Queued) error {
			_, err := e.syncQueued(ctx, ModeIncremental, asQueued(q))
			return err
		},
		Changes:               func(q engineapi.Queued) []Change { return asQueued(q).changes() },
		Token:                 func(e *Engine, q engineapi.Queued) Token { return e.queuedToken(asQueued(q)) },
		ReachedToken:          (*Engine).reachedToken,
		NotifiesInTransaction: (*Engine).notifiesInTransaction,
		WakeWorkers:           (*Engine).wakeWorkers,
		QueueChannel:          (*Engine).listenChannel,
		CheckNamespace:        checkNamespace,
		CheckPlans: func(ctx context.Context, e *Engine, entity string) (engineapi.PlanCheck, error) {
			return e.checkPlans(ctx, entity)
		},
	})
	engineapi.Set(engineapi.Keys[KeyKind, ID]{MinID: minID})
	engineapi.Set(engineapi.Workers[*Worker, DrainResult]{DrainOnce: func(ctx context.Context, w *Worker) (DrainResult, error) { return w.drainOnce(ctx) }})
}

// asQueued returns the queued rows q names (none for nil).
func asQueued(q engineapi.Queued) queued {
	v, _ := q.(queued)
	return v
}
