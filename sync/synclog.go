package sync

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/tvsync/tvsync/sync/internal/dbsqlc"
)

// writeLog writes one tvsync.sync_log row per entity batch, all in one round trip.
func (e *Engine) writeLog(ctx context.Context, conn DB, results []EntityResult) error {
	_, err := e.writeQueueAndLog(ctx, conn, nil, results, "")
	return err
}

// writeQueueAndLog queues the rows enq in tvsync.sync_queue, writes the
// tvsync.sync_log rows and, when end is not empty, ends the transaction or
// savepoint with that statement (COMMIT, RELEASE SAVEPOINT), all in one
// round trip. It returns the queued rows. On a COMMIT error the transaction
// is over (rolled back by the server).
func (e *Engine) writeQueueAndLog(ctx context.Context, conn DB, enq []pendingRow, results []EntityResult, end string) (rows []queuedRow, err error) {
	p := &Pipeline{}
	read := e.queueEnqueue(ctx, p, enq)
	var logs *dbsqlc.SyncLogInsertBatchResults
	if !e.cfg.DisableSyncLog && !syncLogDisabled(ctx) && len(results) > 0 {
		params := make([]dbsqlc.SyncLogInsertParams, len(results))
		for i, r := range results {
			params[i] = dbsqlc.SyncLogInsertParams{
				Namespace: e.cfg.Namespace, Entity: r.Entity, Mode: string(r.Mode), Requested: int32(r.Requested), Upserted: int32(r.Upserted),
				Unchanged: int32(r.Unchanged), Deleted: int32(r.Deleted), Failed: int32(r.Failed),
				DurationUs: r.Duration.Microseconds(), Error: r.Err, StartedAt: r.StartedAt,
			}
		}
		logs = e.queries.SyncLogInsert(ctx, p, params)
	}
	if end != "" {
		p.queueStatement(end)
	}
	if p.size() == 0 {
		return nil, nil
	}
	p.Send(ctx, conn)
	defer func() {
		if cerr := p.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("write tvsync.sync_log: %w", cerr)
		}
	}()
	if rows, err = read(); err != nil {
		return nil, err
	}
	if logs != nil {
		logs.Exec(func(_ int, qerr error) {
			if err == nil && qerr != nil {
				err = fmt.Errorf("write tvsync.sync_log: %w", qerr)
			}
		})
	}
	if end != "" && err == nil {
		if err = p.readCommit(); err != nil {
			return nil, fmt.Errorf("end sync (%s): %w", end, err)
		}
	}
	return rows, err
}

// recordFailure logs, observes and writes to tvsync.sync_log an id that failed
// alone, in a transaction of its own since the sync's was rolled back.
func (e *Engine) recordFailure(ctx context.Context, j job, r EntityResult) {
	e.log.ErrorContext(ctx, "tvsync: sync failed", slog.String("entity", r.Entity), slog.String("mode", string(r.Mode)),
		slog.Any("ids", r.FailedIDs), slog.String("error", r.Err))
	conn := DB(e.pool)
	if j.parent != nil {
		conn = j.parent
	}
	if err := e.writeLog(ctx, conn, []EntityResult{r}); err != nil {
		e.log.ErrorContext(ctx, "tvsync: could not record a sync failure in tvsync.sync_log", slog.Any("error", err))
	}
	if e.cfg.Observer != nil {
		e.cfg.Observer.ObserveSync(r)
	}
}

// logFailure logs a batch that failed as a whole.
func (e *Engine) logFailure(ctx context.Context, mode Mode, chunk idSet, err error) {
	attrs := []any{slog.String("mode", string(mode)), slog.Any("error", err)}
	for _, name := range e.order {
		if ids := chunk.sorted(name); len(ids) > 0 {
			attrs = append(attrs, slog.Any(name, ids[:min(len(ids), 20)]))
		}
	}
	e.log.ErrorContext(ctx, "tvsync: sync batch failed", attrs...)
}

// observe logs each committed entity batch and hands it to the Observer.
func (e *Engine) observe(ctx context.Context, results []EntityResult) {
	for _, r := range results {
		attrs := []any{slog.String("entity", r.Entity), slog.String("mode", string(r.Mode)),
			slog.Int("requested", r.Requested), slog.Int("upserted", r.Upserted), slog.Int("unchanged", r.Unchanged),
			slog.Int("deleted", r.Deleted), slog.Int("missing", r.Missing), slog.Duration("duration", r.Duration)}
		// Full-sync, rebuild and repair chunks are large by design: only the
		// syncs of writes (incremental, deferred) can be slow.
		if e.cfg.SlowThreshold > 0 && r.Duration > e.cfg.SlowThreshold && (r.Mode == ModeIncremental || r.Mode == ModeDeferred) {
			e.log.WarnContext(ctx, "tvsync: slow sync", append(attrs, slog.Duration("threshold", e.cfg.SlowThreshold))...)
		} else {
			e.log.DebugContext(ctx, "tvsync: sync done", attrs...)
		}
		if e.cfg.Observer != nil {
			e.cfg.Observer.ObserveSync(r)
		}
	}
}
