package sync

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tvsync/tvsync/sync/internal/dbsqlc"
	"github.com/tvsync/tvsync/sync/internal/engineapi"
)

// pending is one entity's part of an attempt: its ids and the readers of
// its statements.
type pending struct {
	name    string
	ids     []ID
	refresh func() (RefreshResult, error)
	del     func() (DeleteResult, error)
	// changed and deleted are what the statements wrote, for cascades.
	changed RefreshResult
	deleted DeleteResult
	didDel  bool
}

// attempt runs one chunk in one transaction (with savepoint set, a
// savepoint of the parent; with a parent alone, the parent itself):
//
//  1. the queue acks (when asked), the advisory locks, then per entity the
//     refresh, in one round trip that also begins the transaction;
//  2. the deletes of the ids the refresh found missing, only when some are;
//  3. when following cascades, the look-ups of the dependents of the
//     chunk's seeds and of the documents it changed;
//  4. the queueing of those dependents, the tvsync.sync_log rows and
//     COMMIT, in one round trip.
//
// It returns the entity results and the dependents it queued.
func (e *Engine) attempt(ctx context.Context, j job, chunk batch, skip idSet) (results []EntityResult, deps []queuedRow, err error) {
	started := time.Now()
	p := &Pipeline{}
	locks := lockPlan{}
	nIDs := 0
	var work []pending
	var ack *dbsqlc.QueueAckBatchResults
	for _, name := range e.order {
		ids := chunk.ids.sorted(name)
		if len(ids) == 0 {
			continue
		}
		nIDs += len(ids)
		if !j.locked && !e.skipLocks {
			locks.addIDs(e.lockPrefix, name, ids)
		}
		work = append(work, pending{name: name, ids: ids})
	}
	// The rows the chunk's documents reference are locked shared: their
	// look-ups go first, in the transaction, in a round trip of their own.
	var tx pgx.Tx
	var release func()
	var commit bool
	if j.sources && !j.locked && !e.skipLocks && j.span == nil {
		pre := &Pipeline{}
		reads := e.sourceReads(pre, chunk.ids)
		if pre.size() > 0 {
			if tx, release, commit, err = e.begin(ctx, j, pre); err != nil {
				return nil, nil, err
			}
			if err = e.readSources(ctx, nil, pre, reads, locks); err != nil {
				if commit {
					_ = tx.Rollback(context.WithoutCancel(ctx))
				}
				if release != nil {
					release()
				}
				return nil, nil, err
			}
		}
	}
	if seqs := chunk.seqList(); j.ack && len(seqs) > 0 {
		e.indexPlans(ctx, p)
		ack = e.queries.QueueAck(ctx, p, []dbsqlc.QueueAckParams{{Namespace: e.cfg.Namespace, Seqs: seqs}})
		e.restorePlans(ctx, p)
	}
	// The lock statement runs (and reads the clock the durations start
	// from) even with no keys to take.
	keys, shared := locks.sorted()
	lock := e.queries.SyncLock(ctx, p, []dbsqlc.SyncLockParams{{Keys: keys, Shared: shared}})
	if j.span != nil {
		// A keyset range of one entity: refresh and delete by range, but
		// only the ids listed (and locked) for the chunk: an id created in
		// the range since is left to its own sync.
		ent := e.entities[j.spanEntity]
		w := pending{name: ent.Name, ids: chunk.ids.sorted(ent.Name)}
		if j.ops&opRefresh != 0 {
			w.refresh = ent.RefreshRange(p, j.span[0], j.span[1], w.ids)
		}
		w.del = ent.DeleteMissingRange(p, j.span[0], j.span[1], w.ids)
		work = []pending{w}
	}
	for i := range work {
		ent := e.entities[work[i].name]
		switch {
		case j.span != nil: // queued above
		case j.ops&opRefresh != 0:
			// Deletes, if any, follow once the refresh shows ids missing.
			work[i].refresh = e.refresh(ent, p, work[i].ids)
		case j.ops&opDelete != 0:
			work[i].del = ent.DeleteMissing(p, work[i].ids)
		}
	}
	e.log.DebugContext(ctx, "tvsync: sync batch sending", slog.String("mode", string(j.mode)), slog.Int("ids", nIDs), slog.Int("locks", len(keys)), slog.Int("statements", p.size()))

	if tx == nil {
		if tx, release, commit, err = e.begin(ctx, j, p); err != nil {
			return nil, nil, err
		}
	} else {
		p.Send(ctx, tx)
	}
	if release != nil {
		defer release()
	}
	defer func() {
		if cerr := p.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("sync batch: %w", cerr)
		}
		if err != nil && commit {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()

	if ack != nil {
		ack.QueryRow(func(_ int, _ int32, qerr error) {
			if err == nil && qerr != nil {
				err = fmt.Errorf("remove synced rows from tvsync.sync_queue: %w", qerr)
			}
		})
		if err != nil {
			return nil, nil, err
		}
	}
	var prev time.Time
	lock.QueryRow(func(_ int, r dbsqlc.SyncLockRow, qerr error) { prev, err = r.FinishedAt, qerr })
	if err != nil {
		return nil, nil, fmt.Errorf("take sync locks: %w", err)
	}
	var missing []int // work items whose refresh found fewer rows than ids
	for i := range work {
		w := &work[i]
		res := EntityResult{Entity: w.name, Mode: j.mode, StartedAt: started}
		if w.refresh != nil {
			r, err := w.refresh()
			if err != nil {
				return nil, nil, fmt.Errorf("refresh %s: %w", e.entities[w.name].View, err)
			}
			w.changed = r
			res.Requested, res.Upserted, res.Unchanged, res.Missing = len(w.ids), r.Upserted, r.Found-r.Upserted, len(w.ids)-r.Found
			if j.span != nil { // by range: what was found is what was asked for
				res.Requested, res.Missing = r.Found, 0
			}
			res.Duration += r.FinishedAt.Sub(prev)
			prev = r.FinishedAt
			if j.span == nil && j.ops&opDelete != 0 && r.Found < len(w.ids) {
				missing = append(missing, i)
			}
		}
		if w.del != nil {
			d, err := w.del()
			if err != nil {
				return nil, nil, fmt.Errorf("delete orphaned %s rows: %w", e.entities[w.name].View, err)
			}
			w.deleted, w.didDel = d, true
			res.Deleted = d.Deleted
			res.Duration += d.FinishedAt.Sub(prev)
			prev = d.FinishedAt
		}
		results = append(results, res)
	}
	if err := p.Close(); err != nil {
		return nil, nil, fmt.Errorf("sync batch: %w", err)
	}
	// Only ids that no longer exist can have tv_ rows to delete: when every
	// id was found, which is the common case, this round trip is skipped.
	if len(missing) > 0 {
		p2 := &Pipeline{}
		dels := make([]func() (DeleteResult, error), len(missing))
		for k, i := range missing {
			dels[k] = e.entities[work[i].name].DeleteMissing(p2, work[i].ids)
		}
		p2.Send(ctx, tx)
		for k, i := range missing {
			d, err := dels[k]()
			if err != nil {
				_ = p2.Close()
				return nil, nil, fmt.Errorf("delete orphaned %s rows: %w", e.entities[work[i].name].View, err)
			}
			work[i].deleted, work[i].didDel = d, true
			results[i].Deleted = d.Deleted
			results[i].Duration += d.FinishedAt.Sub(prev) // includes the round trip before it
			prev = d.FinishedAt
		}
		if err := p2.Close(); err != nil {
			return nil, nil, fmt.Errorf("sync batch: %w", err)
		}
	}
	var found idSet
	if j.follow {
		if found, err = e.dependents(ctx, tx, j, chunk, work, skip); err != nil {
			return nil, nil, err
		}
	}
	var enq []pendingRow
	for _, name := range e.order {
		for _, id := range found.sorted(name) {
			enq = append(enq, pendingRow{entity: name, id: id, delay: j.delay, origin: j.origin})
		}
	}
	if deps, err = e.finish(ctx, tx, j, commit, release != nil, enq, results); err != nil {
		return nil, nil, err
	}
	e.observe(ctx, results)
	return results, deps, nil
}

// begin sends the first pipeline of an attempt as j says: in a transaction
// of its own on a connection it acquires (release gives it back), in a
// savepoint of the parent, or in the parent itself. commit says whether the
// attempt ends the transaction it runs in.
func (e *Engine) begin(ctx context.Context, j job, p *Pipeline) (tx pgx.Tx, release func(), commit bool, err error) {
	switch {
	case j.parent == nil:
		conn := DB(e.pool)
		if acq, ok := e.pool.(engineapi.Acquirer); ok {
			c, err := acq.Acquire(ctx)
			if err != nil {
				return nil, nil, false, fmt.Errorf("acquire a connection: %w", err)
			}
			release, conn = c.Release, c
		}
		if tx, err = p.sendInTx(ctx, conn); err != nil {
			if release != nil {
				release()
			}
			return nil, nil, false, err
		}
		return tx, release, true, nil
	case j.savepoint:
		sp, err := p.sendInSavepoint(ctx, j.parent)
		if err != nil {
			return nil, nil, false, err
		}
		return sp, nil, true, nil
	default:
		p.Send(ctx, j.parent)
		return j.parent, nil, false, nil
	}
}

// dependents looks up, in one round trip, the rows that embed the chunk's
// seeds and the documents it inserted,
// deleted or changed in a key a cascade is on, but those of skip (queued at
// this level already).
func (e *Engine) dependents(ctx context.Context, tx DB, j job, chunk batch, work []pending, skip idSet) (idSet, error) {
	p := &Pipeline{}
	var reads []lookup
	for _, w := range work {
		ent := e.entities[w.name]
		if len(ent.Cascades) == 0 {
			continue
		}
		changed, err := changedDocs(ent, w)
		if err != nil {
			return nil, err
		}
		for _, c := range ent.Cascades {
			var ids []ID
			for _, id := range w.ids {
				if chunk.seeds.has(w.name, id) {
					ids = append(ids, id)
					continue
				}
				keys, ok := changed[id]
				if ok && (keys == nil || len(c.On) == 0 || slices.ContainsFunc(keys, func(k string) bool { return slices.Contains(c.On, k) })) {
					ids = append(ids, id)
				}
			}
			if len(ids) > 0 {
				reads = append(reads, lookup{entity: c.Entity, read: c.Lookup(p, ids)})
			}
		}
	}
	found := idSet{}
	err := e.lookUp(ctx, tx, p, reads, func(r lookup, id ID) {
		if !skip.has(r.entity, id) {
			found.add(r.entity, id)
		}
	})
	return found, err
}

// changedDocs maps the ids of w whose documents its statements wrote to the
// keys that changed (nil: all of them, for new and deleted documents, and
// for statements that do not say).
func changedDocs(ent *Entity, w pending) (map[ID][]string, error) {
	out := map[ID][]string{}
	if w.refresh != nil {
		r := w.changed
		changes := r.Changed
		if changes == nil && r.changedJSON != nil {
			var raw [][]json.RawMessage // [[id, keys or null], ...]
			if err := json.Unmarshal(r.changedJSON, &raw); err != nil {
				return nil, fmt.Errorf("refresh %s: read the changed column: %w", ent.View, err)
			}
			changes = make([]DocChange, len(raw))
			for i, c := range raw {
				var text string
				var keys []string
				if len(c) != 2 || json.Unmarshal(c[0], &text) != nil || json.Unmarshal(c[1], &keys) != nil {
					return nil, fmt.Errorf("refresh %s: changed element %d: want [id, keys or null]", ent.View, i)
				}
				id, err := ParseID(ent.Key, text)
				if err != nil {
					return nil, fmt.Errorf("refresh %s: changed id %q: %w", ent.View, text, err)
				}
				changes[i] = DocChange{ID: id, Keys: keys}
			}
		}
		switch {
		case changes != nil:
			for _, c := range changes {
				out[c.ID] = c.Keys
			}
		case r.Upserted > 0:
			for _, id := range w.ids {
				out[id] = nil
			}
		}
	}
	if w.didDel {
		switch {
		case w.deleted.DeletedIDs != nil:
			for _, id := range w.deleted.DeletedIDs {
				out[id] = nil
			}
		case w.deleted.Deleted > 0:
			for _, id := range w.ids {
				out[id] = nil
			}
		}
	}
	return out, nil
}

// finish queues the dependents enq, writes the tvsync.sync_log rows and,
// when the attempt owns its transaction, commits it, all in one round trip
// (on a connection of the engine's own, or in a savepoint, which the same
// round trip releases; otherwise COMMIT goes on its own).
func (e *Engine) finish(ctx context.Context, tx pgx.Tx, j job, commit, ownConn bool, enq []pendingRow, results []EntityResult) ([]queuedRow, error) {
	sp, inSavepoint := tx.(*savepoint)
	end := ""
	switch {
	case commit && ownConn:
		end = "COMMIT"
	case commit && inSavepoint:
		end = sp.releaseSQL()
	}
	deps, err := e.writeQueueAndLog(ctx, tx, enq, results, end)
	if err != nil {
		return nil, err
	}
	if inSavepoint && commit {
		sp.released()
	}
	if commit && !ownConn && !inSavepoint {
		if err := tx.Commit(ctx); err != nil {
			return nil, fmt.Errorf("commit sync: %w", err)
		}
	}
	return deps, nil
}
