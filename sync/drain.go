package sync

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tvsync/tvsync/sync/internal/dbsqlc"
)

// The engine's side of a Worker's drain: the worker owns its connection,
// its configuration and its accounting, and reaches the queue and the sync
// through these methods only.

// claimQueued begins a worker's batch transaction on conn, bounds its lock
// waits and statements (PostgreSQL's lock_timeout and statement_timeout for
// that transaction only; zero or negative is no limit), and locks up to
// batchSize ready rows of the engine's namespace that no other worker holds:
// one round trip. On error nothing is left open.
func (e *Engine) claimQueued(ctx context.Context, conn DB, batchSize int, lockTimeout, statementTimeout time.Duration) (pgx.Tx, []dbsqlc.QueueClaimRow, error) {
	p := &Pipeline{}
	timeouts := e.queries.QueueBatchTimeouts(ctx, p, []dbsqlc.QueueBatchTimeoutsParams{{
		LockTimeoutMs: max(lockTimeout, 0).Milliseconds(), StatementTimeoutMs: max(statementTimeout, 0).Milliseconds(),
	}})
	e.indexPlans(ctx, p)
	claim := e.queries.QueueClaim(ctx, p, []dbsqlc.QueueClaimParams{{Namespace: e.cfg.Namespace, BatchSize: int32(batchSize)}})
	e.restorePlans(ctx, p)
	tx, err := p.sendInTx(ctx, conn)
	if err != nil {
		return nil, nil, fmt.Errorf("worker: %w", err)
	}
	timeouts.Exec(func(_ int, qerr error) {
		if err == nil && qerr != nil {
			err = fmt.Errorf("worker: set the batch's timeouts: %w", qerr)
		}
	})
	var rows []dbsqlc.QueueClaimRow
	claim.Query(func(_ int, r []dbsqlc.QueueClaimRow, qerr error) {
		rows = r
		if err == nil && qerr != nil {
			err = fmt.Errorf("worker: claim queued rows: %w", qerr)
		}
	})
	if cerr := p.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("worker: claim queued rows: %w", cerr)
	}
	if err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return nil, nil, err
	}
	return tx, rows, nil
}

// settleQueued ends a worker's batch transaction tx: it records the failed
// attempts of params, removes the rows of done (see writeQueued) and
// commits, all in one round trip.
func (e *Engine) settleQueued(ctx context.Context, tx pgx.Tx, params []dbsqlc.QueueFailParams, done batch) error {
	return e.writeQueued(ctx, tx, params, done, true)
}

// failQueued records on conn a failed attempt on the rows of each of
// params, in one round trip (see writeQueued).
func (e *Engine) failQueued(ctx context.Context, conn DB, params []dbsqlc.QueueFailParams) error {
	if len(params) == 0 {
		return nil
	}
	return e.writeQueued(ctx, conn, params, batch{}, false)
}

// writeQueued, in one round trip on conn, records the failed attempts of
// params (a backoff, or dead after their max_attempts) in the engine's
// namespace, whatever namespace params name; deletes the claimed rows of
// done (by seq), whose sync has succeeded, and the parked rows, that no one
// holds, of the same ids (that sync covered them); and, with commit set,
// commits the transaction conn is.
func (e *Engine) writeQueued(ctx context.Context, conn DB, params []dbsqlc.QueueFailParams, done batch, commit bool) error {
	p := &Pipeline{}
	e.indexPlans(ctx, p)
	var results []interface{ Exec(func(int, error)) }
	if len(params) > 0 {
		for i := range params {
			params[i].Namespace = e.cfg.Namespace
		}
		results = append(results, e.queries.QueueFail(ctx, p, params))
	}
	if seqs := done.seqList(); len(seqs) > 0 {
		dead := dbsqlc.QueueDeleteDeadParams{Namespace: e.cfg.Namespace}
		for _, r := range done.rows() {
			dead.Entities = append(dead.Entities, r.entity)
			dead.EntityIds = append(dead.EntityIds, r.id.String())
		}
		results = append(results,
			e.queries.QueueDelete(ctx, p, []dbsqlc.QueueDeleteParams{{Namespace: e.cfg.Namespace, Seqs: seqs}}),
			e.queries.QueueDeleteDead(ctx, p, []dbsqlc.QueueDeleteDeadParams{dead}))
	}
	if commit {
		p.queueCommit()
	} else {
		e.restorePlans(ctx, p)
	}
	p.Send(ctx, conn)
	var err error
	for _, b := range results {
		b.Exec(func(_ int, qerr error) {
			if err == nil && qerr != nil {
				err = fmt.Errorf("worker: record the batch's rows: %w", qerr)
			}
		})
	}
	if commit && err == nil {
		if cerr := p.readCommit(); cerr != nil {
			err = fmt.Errorf("worker: commit: %w", cerr)
		}
	}
	if cerr := p.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("worker: record the batch's rows: %w", cerr)
	}
	return err
}

// registered lists the registered entities' names, sorted, for messages.
func (e *Engine) registered() string { return strings.Join(e.order, ", ") }

// syncIsolated syncs the claimed rows b inside tx, with failing ids
// isolated in savepoints of tx instead of aborting it (they are returned in
// a *FailedError), and queues in tx, ready at once, the dependents of what
// changed.
func (e *Engine) syncIsolated(ctx context.Context, tx pgx.Tx, mode Mode, b batch) (Report, error) {
	return e.run(ctx, job{mode: mode, ops: opRefresh | opDelete, parent: tx, savepoint: true, follow: true}, b)
}
