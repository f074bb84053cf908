package sync

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// maxLevels bounds how many levels of cascades one call follows in
// process. Documents that keep changing each time they are synced (a
// document built from the clock) would otherwise cycle for ever; past the
// bound the dependents stay queued, for a Worker.
const maxLevels = 64

// Sync brings the tv_ rows of the changed ids up to date, and then those of
// every row that embeds what changed: a change recorded with Cascade syncs
// the rows its entity's cascades reach, and so does every document the sync
// inserts, deletes or changes (in a key of the cascade's On), level after
// level until nothing changes, so chains of cascades are followed to the
// end and cycles end. Each chunk of at most BatchSize ids per entity is
// synced in a transaction of its own on the engine's pool, which also
// queues, durably, the dependents it found (in tvsync.sync_queue, for
// Config.CascadeGrace) and removes those it synced: if the call ends early
// (a cancel, a crash), a Worker finishes the cascade.
//
// An empty change set is a no-op. Ids that do not exist are counted as
// Missing, not as errors. When some ids fail (a constraint or data error),
// the engine isolates them by splitting the batch, syncs the others, and
// returns the report with a *FailedError; failing dependents stay queued.
// A cancelled context or a broken connection stops the sync with the
// current transaction rolled back. Full and repair syncs rebuild the given
// rows only: they follow no cascades.
func (e *Engine) Sync(ctx context.Context, mode Mode, changes ...Change) (Report, error) {
	b, err := e.collect(mode, changes)
	if err != nil || b.size() == 0 {
		return Report{Mode: mode}, err
	}
	return e.run(ctx, e.ownJob(mode), b)
}

// syncQueued syncs the changes q names, as Sync does, and removes their
// rows from tvsync.sync_queue in the transactions that sync them (rows a
// Worker holds are left to it), so that they stay queued if the sync
// fails or stops; a unit of work calls it after its commit.
func (e *Engine) syncQueued(ctx context.Context, mode Mode, q queued) (Report, error) {
	if err := checkMode(mode); err != nil {
		return Report{Mode: mode}, err
	}
	if q.Len() == 0 {
		return Report{Mode: mode}, nil
	}
	b := newBatch()
	b.addRows(q.rows...)
	return e.run(ctx, e.ownJob(mode), b)
}

// ownJob is how Sync and syncQueued sync: in transactions of their own,
// removing the queued rows they cover, following cascades for writes.
func (e *Engine) ownJob(mode Mode) job {
	follow := mode == ModeIncremental || mode == ModeDeferred
	return job{mode: mode, ops: opRefresh | opDelete, ack: true, follow: follow, delay: e.cfg.CascadeGrace}
}

// syncTx is Sync inside the caller's transaction: the tv_ rows change, and
// the advisory locks are held, until tx commits or rolls back. It syncs
// there the changes (waiting for their locks in one sorted statement) and
// then, level after level, the rows their cascades reach, as far as they
// fit in Config.InlineLimit ids and no other transaction holds their locks
// (tried without waiting, so that two such syncs cannot deadlock); the
// cascades are looked up once the changes' locks are held, so a row a
// concurrent transaction attaches meanwhile is found. What did not fit, or
// was locked, is queued in tx, for after the commit, and returned in
// Report.queued: call syncQueued with it once tx has committed (a Worker
// takes it after Config.CascadeGrace otherwise). It does not isolate
// failing ids: any error aborts tx, so the writes and their sync commit or
// fail together.
func (e *Engine) syncTx(ctx context.Context, tx pgx.Tx, mode Mode, changes ...Change) (Report, error) {
	b, err := e.collect(mode, changes)
	if err != nil || b.size() == 0 {
		return Report{Mode: mode}, err
	}
	j := job{mode: mode, ops: opRefresh | opDelete, parent: tx, follow: mode == ModeIncremental || mode == ModeDeferred, delay: e.cfg.CascadeGrace}
	if b.size() > e.cfg.InlineLimit {
		// Too many to lock in one transaction: queue them all with it.
		rows, err := e.enqueueRows(ctx, tx, pendingRows(b, e.cfg.CascadeGrace), false)
		return Report{Mode: mode, queued: queued{rows: rows}}, err
	}
	return e.run(ctx, j, b)
}

// inlineNext decides, for a sync inside the caller's transaction, which of
// the dependents a level queued there are synced there too: those that fit
// in what is left of Config.InlineLimit and whose locks no other
// transaction holds (tried without waiting, so a sync that waits for a lock
// only ever waits in its first statement, and cannot deadlock). It returns
// them, with their queued rows to remove as they sync, and adds the others
// to report.queued, for after the commit.
func (e *Engine) inlineNext(ctx context.Context, tx pgx.Tx, next batch, synced int, report *Report) (batch, error) {
	if next.size() == 0 {
		return next, nil
	}
	if synced+next.size() > e.cfg.InlineLimit {
		report.queued.rows = append(report.queued.rows, next.rows()...)
		return newBatch(), nil
	}
	got, busy, err := e.tryLock(ctx, tx, next)
	if err != nil {
		return batch{}, err
	}
	report.queued.rows = append(report.queued.rows, busy.rows()...)
	return got, nil
}

// run syncs b level by level as j says: each level in chunks, each chunk's
// dependents forming the next level. In the caller's transaction (j.parent)
// it syncs one level, and the dependents stay queued there (Report.queued).
func (e *Engine) run(ctx context.Context, j job, b batch) (Report, error) {
	start := time.Now()
	report := Report{Mode: j.mode}
	failed := &FailedError{IDs: map[string][]ID{}}
	synced := 0 // ids synced in the caller's transaction so far
	for level := 0; b.size() > 0; level++ {
		if level == maxLevels {
			e.log.WarnContext(ctx, "tvsync: cascades still change documents after many levels; the rest stays queued for a worker",
				slog.Int("levels", level), slog.Int("queued", b.size()))
			break
		}
		next := newBatch()
		// skip: the dependents already queued by this level's earlier
		// chunks need not be queued again: they are synced at the next
		// level, after this one. The ids synced at this level are not
		// skipped: one synced before the change that made it stale was
		// committed (a concurrent write, seen by a later statement) would
		// stay stale, since the sync that saw the change is the one that
		// must pass it on.
		skip := idSet{}
		chunks := e.chunks(b)
		cj := j
		cj.sources = level == 0 && j.follow && len(e.sources) > 0
		cj.origin = b.lineage() // of every dependent this level queues (see lineage.go)
		if j.parent != nil && len(chunks) > 1 && !e.skipLocks {
			// The chunks share the caller's transaction, and with it their
			// locks: take them all at once, in one sorted statement, or two
			// such syncs could each hold a chunk the other waits for.
			if err := e.lock(ctx, j.parent, b.ids, cj.sources); err != nil {
				return report, err
			}
			cj.locked = true
		}
		for _, chunk := range chunks {
			deps, err := e.isolate(ctx, cj, chunk, skip, &report, failed)
			next.addRows(deps...)
			for _, d := range deps {
				skip.add(d.entity, d.id)
			}
			if err != nil {
				report.Duration = time.Since(start)
				return report, err
			}
		}
		if j.parent != nil && j.savepoint {
			// A worker's batch: the dependents are queued for its next ones.
			report.queued = queued{rows: next.rows()}
			break
		}
		if j.parent != nil {
			// Inside the caller's transaction: the next level there too, as
			// far as it fits and its locks are free; its rows, queued by this
			// transaction, are removed as it syncs them.
			synced += b.size()
			var err error
			if next, err = e.inlineNext(ctx, j.parent, next, synced, &report); err != nil {
				report.Duration = time.Since(start)
				return report, err
			}
			j.ack = true
		}
		b = next
	}
	report.Duration = time.Since(start)
	if len(failed.IDs) > 0 {
		return report, failed
	}
	return report, nil
}

// chunks splits a batch into pieces of at most BatchSize ids per entity.
func (e *Engine) chunks(b batch) []batch {
	var sets []idSet
	for _, name := range e.order {
		ids := b.ids.sorted(name)
		for i := 0; i*e.cfg.BatchSize < len(ids); i++ {
			if i == len(sets) {
				sets = append(sets, idSet{})
			}
			sets[i].add(name, ids[i*e.cfg.BatchSize:min(len(ids), (i+1)*e.cfg.BatchSize)]...)
		}
	}
	out := make([]batch, len(sets))
	for i, s := range sets {
		out[i] = b.sub(s)
	}
	return out
}

type ops uint8

const (
	opRefresh ops = 1 << iota
	opDelete
)

// job says how chunks are synced.
type job struct {
	mode Mode
	ops  ops
	// parent is the caller's transaction; nil means a transaction of our own.
	parent pgx.Tx
	// savepoint runs each attempt in a savepoint of parent, so a failing
	// attempt can be rolled back and split without aborting parent.
	savepoint bool
	// ack removes the queued rows of the chunk's ids (batch.seqs) from
	// tvsync.sync_queue in the same transaction.
	ack bool
	// follow looks up the dependents of the chunk's seeds and of the
	// documents it changed, and queues them in the same transaction.
	follow bool
	// delay is how long the queued dependents wait before a Worker may
	// take them.
	delay time.Duration
	// locked says that parent already holds the locks of every id synced.
	locked bool
	// sources takes, with the exclusive locks, shared locks on the rows
	// the synced rows reference (Cascade.Referenced): at the first level
	// of a sync that follows cascades, whose ids are the written rows.
	sources bool
	// origin is the lineage of the dependents queued (see lineage.go).
	origin origin
	// span, for a full-sync chunk of spanEntity (which registers range
	// statements), is the keyset range (after, upto] whose listed ids the
	// chunk syncs with the range statements.
	span       *[2]ID
	spanEntity string
}

// isolate syncs chunk, retrying transient conflicts, and on a data error
// splits the chunk in halves until the failing ids are alone; they are
// recorded in failed and the rest is synced. It returns the dependents the
// synced parts queued; queued holds those already queued at this level,
// which need not be queued again.
func (e *Engine) isolate(ctx context.Context, j job, chunk batch, queued idSet, report *Report, failed *FailedError) ([]queuedRow, error) {
	if j.parent != nil && !j.savepoint {
		// Inside the caller's transaction: an error has aborted it, so
		// there is nothing to retry or split.
		results, deps, err := e.attempt(ctx, j, chunk, queued)
		if err != nil {
			e.logFailure(ctx, j.mode, chunk.ids, err)
			return nil, err
		}
		for _, r := range results {
			report.merge(r)
		}
		return deps, nil
	}
	results, deps, err := e.attemptWithRetry(ctx, j, chunk, queued)
	if err == nil {
		for _, r := range results {
			report.merge(r)
		}
		return deps, nil
	}
	if !isolatable(err) || chunk.size() == 0 {
		e.logFailure(ctx, j.mode, chunk.ids, err)
		return nil, err
	}
	if chunk.size() == 1 {
		for name, m := range chunk.ids {
			for id := range m {
				failed.record(name, id, err)
				res := EntityResult{Entity: name, Mode: j.mode, Requested: 1, Failed: 1, FailedIDs: []ID{id}, Err: err.Error(), StartedAt: time.Now()}
				report.merge(res)
				e.recordFailure(ctx, j, res)
			}
		}
		return nil, nil
	}
	left, right := split(e.order, chunk.ids)
	j.span = nil // the halves are synced by id
	if j.savepoint && !j.locked && !e.skipLocks {
		// The failed attempt's savepoint released its locks; the halves
		// run one after the other in the same transaction: take the locks
		// of both at once, in one sorted statement, so that the halves
		// cannot deadlock with another transaction.
		if err := e.lock(ctx, j.parent, chunk.ids, j.sources); err != nil {
			return nil, err
		}
		j.locked = true
	}
	deps, err = e.isolate(ctx, j, chunk.sub(left), queued, report, failed)
	if err != nil {
		return deps, err
	}
	more, err := e.isolate(ctx, j, chunk.sub(right), queued, report, failed)
	return append(deps, more...), err
}

// split divides a set into two halves of (nearly) equal size.
func split(order []string, s idSet) (idSet, idSet) {
	left, right := idSet{}, idSet{}
	half, i := s.size()/2, 0
	for _, name := range order {
		for _, id := range s.sorted(name) {
			if i < half {
				left.add(name, id)
			} else {
				right.add(name, id)
			}
			i++
		}
	}
	return left, right
}

// isolatable reports whether err is caused by the data of some ids (so that
// splitting the batch can isolate them) rather than by the connection, the
// context or the statements themselves.
func isolatable(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	switch pgErr.Code[:2] {
	case "22", "23", "P0", "54", "53": // data exception, integrity constraint violation, raised by PL/pgSQL,
		// program limit exceeded (a document over jsonb's 256 MB, too many columns or arguments),
		// insufficient resources (out of memory or of lock table space: a smaller batch may fit)
		return true
	}
	return false
}

// retryable reports whether err is a transient conflict worth retrying as is.
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40001" || pgErr.Code == "40P01")
}

func (e *Engine) attemptWithRetry(ctx context.Context, j job, chunk batch, queued idSet) ([]EntityResult, []queuedRow, error) {
	const tries = 5
	for i := 1; ; i++ {
		results, deps, err := e.attempt(ctx, j, chunk, queued)
		if err == nil || !retryable(err) || i == tries || ctx.Err() != nil {
			return results, deps, err
		}
		e.log.DebugContext(ctx, "tvsync: retrying sync after a transient conflict", slog.Int("attempt", i), slog.Any("error", err))
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(time.Duration(i*i) * 5 * time.Millisecond):
		}
	}
}
