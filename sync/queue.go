package sync

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tvsync/tvsync/sync/internal/dbsqlc"
)

// queueChannel is the LISTEN/NOTIFY channel on which deferred writes wake
// the workers.
const queueChannel = "tvsync_sync_queue"

// pendingRow is a change to queue: one id, whether its cascades are to be
// followed, and how long a Worker waits before it may take it.
type pendingRow struct {
	entity  string
	id      ID
	cascade bool
	delay   time.Duration
	// scheduled marks a re-sync asked for at a time (Schedule): ready only
	// then, and removed by no earlier sync of the id.
	scheduled bool
	// origin is the lineage of a dependent's row (see lineage.go).
	origin origin
}

// pendingRows lists the ids of b as rows to queue after delay.
func pendingRows(b batch, delay time.Duration) []pendingRow {
	var out []pendingRow
	for name, m := range b.ids {
		for id := range m {
			out = append(out, pendingRow{entity: name, id: id, cascade: b.seeds.has(name, id), delay: delay})
		}
	}
	return out
}

// changeRows validates changes and lists them as rows to queue after delay,
// one per (entity, id), Cascade merged.
func (e *Engine) changeRows(changes []Change, delay time.Duration) ([]pendingRow, error) {
	b, err := e.collect(ModeDeferred, changes)
	if err != nil {
		return nil, err
	}
	return pendingRows(b, delay), nil
}

// enqueue records changes in the durable tvsync.sync_queue on tx, normally
// the write transaction, in the engine's namespace: one row per (entity, id), which a Worker may take
// once delay has passed; notify wakes listening workers when tx commits.
// Queueing is a plain INSERT: it never waits for another transaction, so it
// cannot deadlock with a unit of work or a worker. A row of an id that is
// failing and waits out its backoff inherits that backoff and its
// attempts: writes to a failing row do not hasten its retries, nor its
// parking as dead.
//
// It returns the rows it queued, for syncQueued once tx has committed.
func (e *Engine) enqueue(ctx context.Context, tx DB, delay time.Duration, notify bool, changes ...Change) (queued, error) {
	rows, err := e.changeRows(changes, delay)
	if err != nil {
		return queued{}, err
	}
	q, err := e.enqueueRows(ctx, tx, rows, notify)
	return queued{rows: q}, err
}

// Schedule asks, on tx (normally the write transaction, so atomically with
// its writes), for changes to be synced again at a given time: for a
// document that depends on the clock (an order late to ship after its
// promised date, loans overdue), which goes stale with no write. The rows
// are scheduled: a Worker takes them only once at has come, and no earlier
// sync of the same ids removes them (a unit of work's own after-commit sync
// included), so nothing the same unit of work records cancels them. A time
// in the past schedules a sync as soon as a Worker runs.
func (e *Engine) Schedule(ctx context.Context, tx DB, at time.Time, changes ...Change) error {
	rows, err := e.changeRows(changes, time.Until(at))
	if err != nil {
		return err
	}
	for i := range rows {
		rows[i].scheduled = true
	}
	_, err = e.enqueueRows(ctx, tx, rows, false)
	return err
}

// enqueueAndCommit is enqueue followed by COMMIT of tx, sent together in one
// round trip, so queueing costs a write transaction no extra round trip.
// With notify, the workers are woken after the commit, not by a NOTIFY in
// tx (see wakeWorkers; Config.NotifyInTransaction for the old way). It
// returns the rows it queued, for syncQueued, or for Token. On success the transaction is
// committed and tx must not be used again (its connection is idle; release
// it rather than calling tx.Commit). On error the transaction did not
// commit; roll tx back.
func (e *Engine) enqueueAndCommit(ctx context.Context, tx pgx.Tx, delay time.Duration, notify bool, changes ...Change) (queued, error) {
	rows, err := e.changeRows(changes, delay)
	if err != nil {
		return queued{}, err
	}
	q, err := e.enqueueCommit(ctx, tx, rows, notify, true)
	return queued{rows: q}, err
}

// enqueueRows queues rows on tx, with NOTIFY when asked, in one round trip.
func (e *Engine) enqueueRows(ctx context.Context, tx DB, rows []pendingRow, notify bool) ([]queuedRow, error) {
	return e.enqueueCommit(ctx, tx, rows, notify, false)
}

// enqueueCommit queues rows on tx with NOTIFY when asked and, with commit
// set, COMMIT, in one round trip.
func (e *Engine) enqueueCommit(ctx context.Context, tx DB, rows []pendingRow, notify, commit bool) (out []queuedRow, err error) {
	p := &Pipeline{}
	read := e.queueEnqueue(ctx, p, rows)
	var ntf *dbsqlc.QueueNotifyBatchResults
	// wakeAfter: the commit is ours to see, so the workers are woken after
	// it, outside the transaction (see notifier), not by a NOTIFY in it.
	wakeAfter := len(rows) > 0 && notify && commit && !e.cfg.NotifyInTransaction
	if len(rows) > 0 && notify && !wakeAfter {
		ntf = e.queries.QueueNotify(ctx, p, []string{e.listenChannel()})
	}
	if commit {
		p.queueCommit()
	}
	if p.size() == 0 {
		return nil, nil
	}
	p.Send(ctx, tx)
	out, err = read()
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
		err = fmt.Errorf("queue changes in tvsync.sync_queue: %w", cerr)
	}
	if err != nil {
		return nil, err
	}
	if wakeAfter {
		e.notify.wake()
	}
	return out, nil
}

// queueEnqueue queues on p the statement that inserts rows, in one sorted
// statement, and returns the reader of the queued rows (nil rows: nothing
// queued, nothing read).
func (e *Engine) queueEnqueue(ctx context.Context, p *Pipeline, rows []pendingRow) func() ([]queuedRow, error) {
	if len(rows) == 0 {
		return func() ([]queuedRow, error) { return nil, nil }
	}
	slices.SortFunc(rows, func(a, b pendingRow) int {
		if c := strings.Compare(a.entity, b.entity); c != 0 {
			return c
		}
		return a.id.Compare(b.id)
	})
	params := dbsqlc.QueueEnqueueParams{Namespace: e.cfg.Namespace}
	for _, r := range rows {
		params.Entities = append(params.Entities, r.entity)
		params.EntityIds = append(params.EntityIds, r.id.String())
		params.Cascades = append(params.Cascades, r.cascade)
		params.DelaysSeconds = append(params.DelaysSeconds, r.delay.Seconds())
		params.Scheduled = append(params.Scheduled, r.scheduled)
		params.OriginLos = append(params.OriginLos, r.origin.lo)
		params.OriginHis = append(params.OriginHis, r.origin.hi)
	}
	e.indexPlans(ctx, p)
	res := e.queries.QueueEnqueue(ctx, p, []dbsqlc.QueueEnqueueParams{params})
	e.restorePlans(ctx, p)
	return func() (out []queuedRow, err error) {
		res.Query(func(_ int, got []dbsqlc.QueueEnqueueRow, qerr error) {
			if qerr != nil {
				err = fmt.Errorf("queue changes in tvsync.sync_queue: %w", qerr)
				return
			}
			out = make([]queuedRow, 0, len(got))
			for _, g := range got {
				ent := e.entities[g.Entity]
				id, perr := ParseID(ent.Key, g.EntityID)
				if perr != nil {
					err = fmt.Errorf("queue changes in tvsync.sync_queue: read back %s %q: %w", g.Entity, g.EntityID, perr)
					return
				}
				out = append(out, queuedRow{seq: g.Seq, entity: g.Entity, id: id, cascade: g.Cascade, origin: origin{g.OriginLo, g.OriginHi}})
			}
		})
		return out, err
	}
}

// QueueStats summarizes the durable queue.
type QueueStats struct {
	// Pending is how many (entity, id) rows wait for a sync.
	Pending int64
	// OldestAge is how long the oldest pending row has waited.
	OldestAge time.Duration
	// Dead is how many rows were parked after too many failed attempts.
	Dead int64
	// Unregistered is how many rows, pending or dead, name an entity this
	// engine does not register: queued by a newer version during a rolling
	// deploy (its workers sync them), or left by a version rolled back.
	// Workers of this version keep them, each with an error naming the entity.
	Unregistered int64
}

// QueueStats reads the queue's depth, the age of its oldest row, its dead
// rows and the rows of entities the engine does not register, counting only
// the rows of the engine's namespace (Config.Namespace).
func (e *Engine) QueueStats(ctx context.Context) (QueueStats, error) {
	row, err := e.queries.QueueStats(ctx, e.pool, dbsqlc.QueueStatsParams{Namespace: e.cfg.Namespace, Registered: e.order})
	if err != nil {
		return QueueStats{}, fmt.Errorf("read tvsync.sync_queue stats: %w", err)
	}
	return QueueStats{
		Pending:      row.Pending,
		OldestAge:    time.Duration(row.OldestAgeSeconds * float64(time.Second)),
		Dead:         row.Dead,
		Unregistered: row.Unregistered,
	}, nil
}

// DeadItem is a queued row parked after too many failed attempts.
type DeadItem struct {
	Entity string
	// ID is the id as sync_queue stores it: its canonical text (ID.String).
	ID         string
	Attempts   int
	LastError  string
	EnqueuedAt time.Time
}

// DeadItems lists up to limit parked rows of the engine's namespace, oldest
// first.
func (e *Engine) DeadItems(ctx context.Context, limit int) ([]DeadItem, error) {
	rows, err := e.queries.QueueDeadList(ctx, e.pool, dbsqlc.QueueDeadListParams{Namespace: e.cfg.Namespace, MaxRows: int32(limit)})
	if err != nil {
		return nil, fmt.Errorf("list dead tvsync.sync_queue rows: %w", err)
	}
	out := make([]DeadItem, len(rows))
	for i, r := range rows {
		out[i] = DeadItem{Entity: r.Entity, ID: r.EntityID, Attempts: int(r.Attempts), LastError: r.LastError, EnqueuedAt: r.EnqueuedAt}
	}
	return out, nil
}

// RetryDead revives every parked row of the engine's namespace for an
// immediate retry and reports how many.
func (e *Engine) RetryDead(ctx context.Context) (int64, error) {
	n, err := e.queries.QueueRetryDead(ctx, e.pool, e.cfg.Namespace)
	if err != nil {
		return 0, fmt.Errorf("retry dead tvsync.sync_queue rows: %w", err)
	}
	return n, nil
}
