package sync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tvsync/tvsync/db"
)

// QueueChannel is the LISTEN/NOTIFY channel on which deferred writes wake
// the workers.
const QueueChannel = "tvsync_sync_queue"

// Enqueue records changes in the durable sync_queue on tx, normally the
// write transaction, coalesced to one row per (entity, id). A worker may take
// the rows once delay has passed (the after-commit sync gives itself a head
// start this way); notify wakes listening workers when tx commits. A row
// that is being synced by a worker right now makes Enqueue wait for that
// worker's transaction, then queues the change afresh: a change is never
// coalesced into a sync that could not see it.
func (e *Engine) Enqueue(ctx context.Context, tx DB, delay time.Duration, notify bool, changes ...Change) error {
	return e.enqueue(ctx, tx, delay, notify, false, changes)
}

// EnqueueAndCommit is Enqueue followed by COMMIT of tx, sent together in one
// round trip, so queueing costs a write transaction no extra round trip. On
// success the transaction is committed and tx must not be used again (its
// connection is idle; release it rather than calling tx.Commit). On error the
// transaction did not commit; roll tx back.
func (e *Engine) EnqueueAndCommit(ctx context.Context, tx pgx.Tx, delay time.Duration, notify bool, changes ...Change) error {
	return e.enqueue(ctx, tx, delay, notify, true, changes)
}

func (e *Engine) enqueue(ctx context.Context, tx DB, delay time.Duration, notify, commit bool, changes []Change) error {
	all, _, err := e.collect(ModeDeferred, changes)
	if err != nil {
		return err
	}
	cascading := idSet{}
	for _, c := range changes {
		if c.Cascade {
			cascading.add(c.Entity, c.IDs...)
		}
	}
	p := &Pipeline{}
	var params []db.QueueEnqueueParams
	for _, name := range e.order {
		var plain, casc []uuid.UUID
		for _, id := range all.sorted(name) {
			if _, ok := cascading[name][id]; ok {
				casc = append(casc, id)
			} else {
				plain = append(plain, id)
			}
		}
		for _, group := range []struct {
			ids     []uuid.UUID
			cascade bool
		}{{plain, false}, {casc, true}} {
			if len(group.ids) > 0 {
				params = append(params, db.QueueEnqueueParams{Entity: name, Cascade: group.cascade, DelaySeconds: delay.Seconds(), Ids: group.ids})
			}
		}
	}
	var enq *db.QueueEnqueueBatchResults
	var ntf *db.QueueNotifyBatchResults
	if len(params) > 0 {
		enq = e.queries.QueueEnqueue(ctx, p, params)
		if notify {
			ntf = e.queries.QueueNotify(ctx, p, []string{QueueChannel})
		}
	}
	if commit {
		p.queueCommit()
	}
	if p.Len() == 0 {
		return nil
	}
	p.Send(ctx, tx)
	if enq != nil {
		enq.Exec(func(_ int, qerr error) {
			if err == nil && qerr != nil {
				err = fmt.Errorf("queue changes in sync_queue: %w", qerr)
			}
		})
	}
	if ntf != nil {
		ntf.Exec(func(_ int, qerr error) {
			if err == nil && qerr != nil {
				err = fmt.Errorf("notify sync workers: %w", qerr)
			}
		})
	}
	if commit && err == nil {
		if cerr := p.readCommit(); cerr != nil {
			err = fmt.Errorf("commit: %w", cerr)
		}
	}
	if cerr := p.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("queue changes in sync_queue: %w", cerr)
	}
	return err
}

// QueueStats summarizes the durable queue.
type QueueStats struct {
	// Pending is how many (entity, id) rows wait for a sync.
	Pending int64
	// OldestAge is how long the oldest pending row has waited.
	OldestAge time.Duration
	// Dead is how many rows were parked after too many failed attempts.
	Dead int64
}

// QueueStats reads the queue's depth, the age of its oldest row and its
// dead rows.
func (e *Engine) QueueStats(ctx context.Context) (QueueStats, error) {
	row, err := e.queries.QueueStats(ctx, e.pool)
	if err != nil {
		return QueueStats{}, fmt.Errorf("read sync_queue stats: %w", err)
	}
	return QueueStats{Pending: row.Pending, OldestAge: time.Duration(row.OldestAgeSeconds * float64(time.Second)), Dead: row.Dead}, nil
}

// DeadItem is a queued row parked after too many failed attempts.
type DeadItem struct {
	Entity     string
	ID         uuid.UUID
	Attempts   int
	LastError  string
	EnqueuedAt time.Time
}

// DeadItems lists up to limit parked rows, oldest first.
func (e *Engine) DeadItems(ctx context.Context, limit int) ([]DeadItem, error) {
	rows, err := e.queries.QueueDeadList(ctx, e.pool, int32(limit))
	if err != nil {
		return nil, fmt.Errorf("list dead sync_queue rows: %w", err)
	}
	out := make([]DeadItem, len(rows))
	for i, r := range rows {
		out[i] = DeadItem{Entity: r.Entity, ID: r.EntityID, Attempts: int(r.Attempts), LastError: r.LastError, EnqueuedAt: r.EnqueuedAt}
	}
	return out, nil
}

// RetryDead revives every parked row for an immediate retry and reports how many.
func (e *Engine) RetryDead(ctx context.Context) (int64, error) {
	n, err := e.queries.QueueRetryDead(ctx, e.pool)
	if err != nil {
		return 0, fmt.Errorf("retry dead sync_queue rows: %w", err)
	}
	return n, nil
}

// WorkerConfig tunes a Worker. The zero value is usable.
type WorkerConfig struct {
	// BatchSize is how many queued rows one transaction takes; zero means 300
	// (about 100 ids per entity, few enough to be locked id by id, so that
	// workers running at once do not wait for each other).
	BatchSize int
	// PollInterval is how often the worker looks at the queue when no
	// notification arrives; zero means one second.
	PollInterval time.Duration
	// MaxAttempts is how many failed attempts park a row as dead; zero means 10.
	MaxAttempts int
	// MaxBackoff caps the exponential delay between attempts; zero means five minutes.
	MaxBackoff time.Duration
}

// Worker drains the durable sync_queue: it takes batches of ready rows with
// FOR UPDATE SKIP LOCKED, syncs each batch set-based, and removes the rows in
// the same transaction, so a crash at any point loses nothing. Any number of
// workers, in any number of processes, can run at once.
type Worker struct {
	engine *Engine
	pool   *pgxpool.Pool
	cfg    WorkerConfig
	log    *slog.Logger
}

// NewWorker returns a worker that syncs with e and listens on pool.
func NewWorker(e *Engine, pool *pgxpool.Pool, cfg WorkerConfig) *Worker {
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 300
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 10
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 5 * time.Minute
	}
	return &Worker{engine: e, pool: pool, cfg: cfg, log: e.log}
}

// Run drains the queue until ctx is cancelled, waking on notifications and
// polling as a fallback. On cancellation it finishes the batch in hand (its
// transaction is not cancelled) and returns nil.
func (w *Worker) Run(ctx context.Context) error {
	var listener *pgxpool.Conn
	defer func() {
		if listener != nil {
			listener.Release()
		}
	}()
	for ctx.Err() == nil {
		n, err := w.DrainOnce(context.WithoutCancel(ctx))
		if err != nil {
			w.log.ErrorContext(ctx, "tvsync: worker batch failed", slog.Any("error", err))
		}
		if n == w.cfg.BatchSize && err == nil {
			continue // more is probably ready
		}
		if listener == nil {
			listener = w.listen(ctx)
		}
		wait, cancel := context.WithTimeout(ctx, w.cfg.PollInterval)
		if listener != nil {
			if _, err := listener.Conn().WaitForNotification(wait); err != nil && wait.Err() == nil {
				w.log.WarnContext(ctx, "tvsync: worker lost its LISTEN connection; polling", slog.Any("error", err))
				listener.Release()
				listener = nil
			}
		} else {
			<-wait.Done()
		}
		cancel()
	}
	return nil
}

// listen takes a connection for LISTEN, or returns nil to fall back to polling.
func (w *Worker) listen(ctx context.Context) *pgxpool.Conn {
	conn, err := w.pool.Acquire(ctx)
	if err != nil {
		return nil
	}
	if _, err := conn.Exec(ctx, "LISTEN "+QueueChannel); err != nil {
		conn.Release()
		return nil
	}
	return conn
}

// Drain runs batches until no ready row is left and reports how many rows
// it took. Rows that fail are retried later (after their backoff), not here.
func (w *Worker) Drain(ctx context.Context) (int, error) {
	total := 0
	for {
		n, err := w.DrainOnce(ctx)
		total += n
		if err != nil || n < w.cfg.BatchSize {
			return total, err
		}
	}
}

// DrainOnce takes one batch of ready rows, syncs it and removes the synced
// rows, all in one transaction; it reports how many rows it took. Ids that
// fail are isolated from the rest of the batch and rescheduled with an
// exponential backoff, or parked as dead after MaxAttempts.
func (w *Worker) DrainOnce(ctx context.Context) (int, error) {
	tx, err := w.pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("worker: begin: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	rows, err := w.engine.queries.QueueClaim(ctx, tx, int32(w.cfg.BatchSize))
	if err != nil {
		return 0, fmt.Errorf("worker: claim queued rows: %w", err)
	}
	if len(rows) == 0 {
		return 0, nil
	}
	claimed := idSet{}
	var changes []Change
	for _, r := range rows {
		claimed.add(r.Entity, r.EntityID)
		changes = append(changes, Change{Entity: r.Entity, IDs: []uuid.UUID{r.EntityID}, Cascade: r.Cascade})
	}
	_, syncErr := w.engine.syncIsolated(ctx, tx, ModeDeferred, changes)
	var failed *FailedError
	if syncErr != nil && !errors.As(syncErr, &failed) {
		// The transaction is unusable (connection lost, cancelled, a bug):
		// record the failed attempt on every claimed row in a new one.
		_ = tx.Rollback(context.WithoutCancel(ctx))
		if ferr := w.fail(context.WithoutCancel(ctx), w.pool, claimed, syncErr); ferr != nil {
			return len(rows), errors.Join(syncErr, ferr)
		}
		return len(rows), syncErr
	}
	done := claimed
	if failed != nil {
		bad := idSet{}
		for name, ids := range failed.IDs {
			bad.add(name, ids...)
			for _, id := range ids {
				delete(done[name], id)
			}
		}
		// Failed dependents may not be queued yet: queue them, then fail them.
		var again []Change
		for name := range bad {
			again = append(again, Change{Entity: name, IDs: bad.sorted(name)})
		}
		if err := w.engine.Enqueue(ctx, tx, 0, false, again...); err != nil {
			return len(rows), err
		}
		if err := w.fail(ctx, tx, bad, failed.Cause); err != nil {
			return len(rows), err
		}
	}
	var del []db.QueueDeleteParams
	for _, name := range w.engine.order {
		if ids := done.sorted(name); len(ids) > 0 {
			del = append(del, db.QueueDeleteParams{Entity: name, Ids: ids})
		}
	}
	if len(del) > 0 {
		w.engine.queries.QueueDelete(ctx, tx, del).Exec(func(_ int, qerr error) {
			if err == nil && qerr != nil {
				err = fmt.Errorf("worker: remove synced rows: %w", qerr)
			}
		})
		if err != nil {
			return len(rows), err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return len(rows), fmt.Errorf("worker: commit: %w", err)
	}
	return len(rows), syncErr
}

// fail records a failed attempt on rows: a backoff, or dead after MaxAttempts.
func (w *Worker) fail(ctx context.Context, conn DB, rows idSet, cause error) error {
	var params []db.QueueFailParams
	for _, name := range w.engine.order {
		if ids := rows.sorted(name); len(ids) > 0 {
			params = append(params, db.QueueFailParams{
				Entity: name, Ids: ids, LastError: cause.Error(),
				MaxAttempts: int32(w.cfg.MaxAttempts), MaxBackoffSeconds: w.cfg.MaxBackoff.Seconds(),
			})
		}
	}
	var err error
	w.engine.queries.QueueFail(ctx, conn, params).Exec(func(_ int, qerr error) {
		if err == nil && qerr != nil {
			err = fmt.Errorf("worker: record failed attempt: %w", qerr)
		}
	})
	return err
}

// syncIsolated is SyncTx with failing ids isolated in savepoints of tx
// instead of aborting it; they are returned in a *FailedError.
func (e *Engine) syncIsolated(ctx context.Context, tx pgx.Tx, mode Mode, changes []Change) (Report, error) {
	return e.run(ctx, job{mode: mode, ops: opRefresh | opDelete, parent: tx, savepoint: true}, changes)
}
