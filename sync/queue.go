package sync

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tvsync/tvsync/db"
)

// QueueChannel is the LISTEN/NOTIFY channel on which deferred writes wake
// the workers.
const QueueChannel = "tvsync_sync_queue"

// Enqueue records changes in the durable tvsync.sync_queue on tx, normally the
// write transaction, coalesced to one row per (entity, id). A worker may take
// the rows once delay has passed (the after-commit sync gives itself a head
// start this way); notify wakes listening workers when tx commits. A row
// that is being synced by a worker right now makes Enqueue wait for that
// worker's transaction, then queues the change afresh: a change is never
// coalesced into a sync that could not see it. A row that failed and waits
// out its backoff keeps it (its retry reads the newest data): writes to a
// failing row do not hasten its retries, nor its parking as dead.
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
		var plain, casc []string
		for _, id := range all.sorted(name) {
			if _, ok := cascading[name][id]; ok {
				casc = append(casc, id.String())
			} else {
				plain = append(plain, id.String())
			}
		}
		for _, group := range []struct {
			ids     []string
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
				err = fmt.Errorf("queue changes in tvsync.sync_queue: %w", qerr)
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
		err = fmt.Errorf("queue changes in tvsync.sync_queue: %w", cerr)
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
	// Unregistered is how many rows, pending or dead, name an entity this
	// engine does not register: queued by a newer version during a rolling
	// deploy (its workers sync them), or left by a version rolled back.
	// Workers of this version keep them, each with an error naming the entity.
	Unregistered int64
}

// QueueStats reads the queue's depth, the age of its oldest row, its dead
// rows and the rows of entities the engine does not register.
func (e *Engine) QueueStats(ctx context.Context) (QueueStats, error) {
	row, err := e.queries.QueueStats(ctx, e.pool, e.order)
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

// DeadItems lists up to limit parked rows, oldest first.
func (e *Engine) DeadItems(ctx context.Context, limit int) ([]DeadItem, error) {
	rows, err := e.queries.QueueDeadList(ctx, e.pool, int32(limit))
	if err != nil {
		return nil, fmt.Errorf("list dead tvsync.sync_queue rows: %w", err)
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
		return 0, fmt.Errorf("retry dead tvsync.sync_queue rows: %w", err)
	}
	return n, nil
}
