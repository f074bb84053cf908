package sync

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	gosync "sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tvsync/tvsync/db"
)

// EntityResult is the outcome of syncing a batch of one entity's ids.
type EntityResult struct {
	Entity string
	Mode   Mode
	// Requested is how many distinct ids were synced, cascades included.
	Requested int
	// Upserted is how many tv_ rows were inserted or changed.
	Upserted int
	// Unchanged is how many ids exist but whose tv_ row already matched.
	Unchanged int
	// Deleted is how many tv_ rows were removed because their tb_ row is gone.
	Deleted int
	// Missing is how many requested ids have no tb_ row (deleted ones included).
	Missing int
	// Failed is how many ids could not be synced; FailedIDs lists them.
	Failed    int
	FailedIDs []ID
	// Err is the error of the failed ids, empty when none failed.
	Err string
	// StartedAt is when the batch started; Duration is the time the
	// database spent on the entity's statements.
	StartedAt time.Time
	Duration  time.Duration
}

func (r *EntityResult) add(o EntityResult) {
	r.Requested += o.Requested
	r.Upserted += o.Upserted
	r.Unchanged += o.Unchanged
	r.Deleted += o.Deleted
	r.Missing += o.Missing
	r.Failed += o.Failed
	r.FailedIDs = append(r.FailedIDs, o.FailedIDs...)
	if r.Err == "" {
		r.Err = o.Err
	}
	if r.StartedAt.IsZero() || (!o.StartedAt.IsZero() && o.StartedAt.Before(r.StartedAt)) {
		r.StartedAt = o.StartedAt
	}
	r.Duration += o.Duration
}

// Report is the outcome of one Sync call: a result per entity touched.
type Report struct {
	Mode Mode
	// Results holds one entry per entity synced, sorted by entity name.
	Results []EntityResult
	// Duration is the wall time of the whole call.
	Duration time.Duration
}

// For returns the result of the named entity (zero when it was not synced).
func (r Report) For(entity string) EntityResult {
	for _, res := range r.Results {
		if res.Entity == entity {
			return res
		}
	}
	return EntityResult{Entity: entity, Mode: r.Mode}
}

// Failed is the total number of ids that failed across entities.
func (r Report) Failed() int {
	n := 0
	for _, res := range r.Results {
		n += res.Failed
	}
	return n
}

func (r *Report) merge(res EntityResult) {
	for i := range r.Results {
		if r.Results[i].Entity == res.Entity {
			r.Results[i].add(res)
			return
		}
	}
	r.Results = append(r.Results, res)
	slices.SortFunc(r.Results, func(a, b EntityResult) int { return cmp.Compare(a.Entity, b.Entity) })
}

// FailedError reports ids that could not be synced while the rest of the
// batch was. It unwraps to ErrSyncFailed and to the first database error.
type FailedError struct {
	// IDs lists the failed ids per entity.
	IDs map[string][]ID
	// Cause is the first error met.
	Cause error

	mu gosync.Mutex
}

// record adds a failed id; it is safe for concurrent use.
func (e *FailedError) record(entity string, id ID, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.IDs[entity] = append(e.IDs[entity], id)
	if e.Cause == nil {
		e.Cause = err
	}
}

// Error names the failed ids (the first few of each entity) and the cause.
func (e *FailedError) Error() string {
	var b strings.Builder
	n := 0
	for _, ids := range e.IDs {
		n += len(ids)
	}
	fmt.Fprintf(&b, "tvsync: %d id(s) failed to sync", n)
	names := make([]string, 0, len(e.IDs))
	for name := range e.IDs {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		ids := e.IDs[name]
		shown := ids[:min(len(ids), 5)]
		strs := make([]string, len(shown))
		for i, id := range shown {
			strs[i] = id.String()
		}
		more := ""
		if len(ids) > len(shown) {
			more = fmt.Sprintf(" and %d more", len(ids)-len(shown))
		}
		fmt.Fprintf(&b, "; %s: %s%s", name, strings.Join(strs, ", "), more)
	}
	if e.Cause != nil {
		fmt.Fprintf(&b, ": %v", e.Cause)
	}
	return b.String()
}

// Unwrap returns ErrSyncFailed and the cause.
func (e *FailedError) Unwrap() []error { return []error{ErrSyncFailed, e.Cause} }

// idSet is a de-duplicated set of ids per entity.
type idSet map[string]map[ID]struct{}

// add inserts ids and reports how many were new.
func (s idSet) add(entity string, ids ...ID) int {
	m := s[entity]
	if m == nil {
		m = make(map[ID]struct{}, len(ids))
		s[entity] = m
	}
	n := len(m)
	for _, id := range ids {
		m[id] = struct{}{}
	}
	return len(m) - n
}

func (s idSet) size() int {
	n := 0
	for _, m := range s {
		n += len(m)
	}
	return n
}

func (s idSet) sorted(entity string) []ID {
	m := s[entity]
	ids := make([]ID, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, ID.Compare)
	return ids
}

// collect validates changes and gathers their ids and their cascade seeds.
func (e *Engine) collect(mode Mode, changes []Change) (all, seeds idSet, err error) {
	if !mode.Valid() {
		return nil, nil, fmt.Errorf("%w %q (want incremental, full, deferred or repair)", ErrInvalidMode, mode)
	}
	all, seeds = idSet{}, idSet{}
	for _, c := range changes {
		ent, err := e.entity(c.Entity)
		if err != nil {
			return nil, nil, err
		}
		if err := e.checkKinds(ent, c.IDs); err != nil {
			return nil, nil, err
		}
		if len(c.IDs) == 0 {
			continue
		}
		all.add(c.Entity, c.IDs...)
		if c.Cascade {
			seeds.add(c.Entity, c.IDs...)
		}
	}
	return all, seeds, nil
}

// expand adds to all the ids of the entities that embed the seeds. With
// transitive set, it follows cascades of cascades until nothing new appears.
// Each level of cascades costs one round trip on conn.
func (e *Engine) expand(ctx context.Context, conn DB, all, seeds idSet, transitive bool) error {
	frontier := seeds
	for frontier.size() > 0 {
		type lookup struct {
			entity string
			read   func() ([]ID, error)
		}
		p := &Pipeline{}
		var reads []lookup
		for _, name := range e.order {
			ids := frontier.sorted(name)
			if len(ids) == 0 {
				continue
			}
			for _, c := range e.entities[name].Cascades {
				reads = append(reads, lookup{c.Entity, c.Lookup(p, ids)})
			}
		}
		if p.Len() == 0 {
			return nil
		}
		p.Send(ctx, conn)
		next := idSet{}
		for _, r := range reads {
			ids, err := r.read()
			if err != nil {
				_ = p.Close()
				return fmt.Errorf("look up %s rows to cascade to: %w", r.entity, err)
			}
			if err := e.checkKinds(e.entities[r.entity], ids); err != nil {
				_ = p.Close()
				return fmt.Errorf("look up %s rows to cascade to: %w", r.entity, err)
			}
			for _, id := range ids {
				if all.add(r.entity, id) > 0 && transitive {
					next.add(r.entity, id)
				}
			}
		}
		if err := p.Close(); err != nil {
			return fmt.Errorf("look up cascades: %w", err)
		}
		frontier = next
	}
	return nil
}

// Expand returns the changes together with every row that embeds them,
// following cascades transitively, as de-duplicated changes without Cascade.
// Run it before deleting command rows (the unit of work does), since a
// cascade cannot be looked up once its rows are gone.
func (e *Engine) Expand(ctx context.Context, conn DB, changes ...Change) ([]Change, error) {
	all, _, err := e.collect(ModeIncremental, changes)
	if err != nil {
		return nil, err
	}
	seeds := idSet{}
	for _, c := range changes {
		seeds.add(c.Entity, c.IDs...)
	}
	if err := e.expand(ctx, conn, all, seeds, true); err != nil {
		return nil, err
	}
	out := make([]Change, 0, len(all))
	for _, name := range e.order {
		if ids := all.sorted(name); len(ids) > 0 {
			out = append(out, Change{Entity: name, IDs: ids})
		}
	}
	return out, nil
}

// chunks splits a set into pieces of at most BatchSize ids per entity.
func (e *Engine) chunks(all idSet) []idSet {
	var out []idSet
	for _, name := range e.order {
		ids := all.sorted(name)
		for i := 0; i*e.cfg.BatchSize < len(ids); i++ {
			if i == len(out) {
				out = append(out, idSet{})
			}
			out[i].add(name, ids[i*e.cfg.BatchSize:min(len(ids), (i+1)*e.cfg.BatchSize)]...)
		}
	}
	return out
}

// Sync brings the tv_ rows of the changed ids, and of the rows that embed
// them where a change asks for cascades, up to date, each chunk of at most
// BatchSize ids per entity in a transaction of its own on the engine's pool.
//
// An empty change set is a no-op. Ids that do not exist are counted as
// Missing, not as errors. When some ids fail (a constraint or data error),
// the engine isolates them by splitting the batch, syncs the others, and
// returns the report with a *FailedError. A cancelled context or a broken
// connection stops the sync with the current transaction rolled back.
func (e *Engine) Sync(ctx context.Context, mode Mode, changes ...Change) (Report, error) {
	return e.syncOwn(ctx, mode, false, changes)
}

// SyncAndAck is Sync for changes that a unit of work also queued in
// tvsync.sync_queue: each chunk's transaction removes the queued rows it covers
// (those no worker holds), so they stay queued if the sync fails.
func (e *Engine) SyncAndAck(ctx context.Context, mode Mode, changes ...Change) (Report, error) {
	return e.syncOwn(ctx, mode, true, changes)
}

func (e *Engine) syncOwn(ctx context.Context, mode Mode, ack bool, changes []Change) (Report, error) {
	return e.run(ctx, job{mode: mode, ops: opRefresh | opDelete, ack: ack}, changes)
}

// SyncTx is Sync inside the caller's transaction: the tv_ rows change, and
// the advisory locks are held, until tx commits or rolls back. It does not
// isolate failing ids: any error aborts tx, so the writes and their sync
// commit or fail together.
func (e *Engine) SyncTx(ctx context.Context, tx pgx.Tx, mode Mode, changes ...Change) (Report, error) {
	return e.run(ctx, job{mode: mode, ops: opRefresh | opDelete, parent: tx}, changes)
}

// run validates and expands changes, then syncs them chunk by chunk as j says.
func (e *Engine) run(ctx context.Context, j job, changes []Change) (Report, error) {
	start := time.Now()
	report := Report{Mode: j.mode}
	all, seeds, err := e.collect(j.mode, changes)
	if err != nil || all.size() == 0 {
		return report, err
	}
	conn := DB(e.pool)
	if j.parent != nil {
		conn = j.parent
	}
	if err := e.expand(ctx, conn, all, seeds, false); err != nil {
		return report, err
	}
	j.seeds = seeds
	failed := &FailedError{IDs: map[string][]ID{}}
	chunks := e.chunks(all)
	if j.parent != nil && len(chunks) > 1 && !e.skipLocks {
		// The chunks share the caller's transaction, and with it their
		// locks: take them all at once, in one sorted statement, or two
		// such syncs could each hold a chunk the other waits for.
		if err := e.lock(ctx, j.parent, all); err != nil {
			return report, err
		}
		j.locked = true
	}
	for _, chunk := range chunks {
		if err := e.isolate(ctx, j, chunk, &report, failed); err != nil {
			report.Duration = time.Since(start)
			return report, err
		}
	}
	report.Duration = time.Since(start)
	if len(failed.IDs) > 0 {
		return report, failed
	}
	return report, nil
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
	// ack removes the chunk's ids from tvsync.sync_queue in the same transaction.
	ack bool
	// seeds are the ids whose cascades this sync expanded.
	seeds idSet
	// locked says that parent already holds the locks of every id synced.
	locked bool
	// span, for a full-sync chunk of spanEntity (which registers range
	// statements), is the keyset range (after, upto] whose listed ids the
	// chunk syncs with the range statements.
	span       *[2]ID
	spanEntity string
}

// isolate syncs chunk, retrying transient conflicts, and on a data error
// splits the chunk in halves until the failing ids are alone; they are
// recorded in failed and the rest is synced.
func (e *Engine) isolate(ctx context.Context, j job, chunk idSet, report *Report, failed *FailedError) error {
	if j.parent != nil && !j.savepoint {
		// Inside the caller's transaction: an error has aborted it, so
		// there is nothing to retry or split.
		results, err := e.attempt(ctx, j, chunk)
		if err != nil {
			e.logFailure(ctx, j.mode, chunk, err)
			return err
		}
		for _, r := range results {
			report.merge(r)
		}
		return nil
	}
	results, err := e.attemptWithRetry(ctx, j, chunk)
	if err == nil {
		for _, r := range results {
			report.merge(r)
		}
		return nil
	}
	if !isolatable(err) {
		e.logFailure(ctx, j.mode, chunk, err)
		return err
	}
	if chunk.size() == 0 {
		// Nothing to split.
		e.logFailure(ctx, j.mode, chunk, err)
		return err
	}
	if chunk.size() == 1 {
		for name, m := range chunk {
			for id := range m {
				failed.record(name, id, err)
				res := EntityResult{Entity: name, Mode: j.mode, Requested: 1, Failed: 1, FailedIDs: []ID{id}, Err: err.Error(), StartedAt: time.Now()}
				report.merge(res)
				e.recordFailure(ctx, j, res)
			}
		}
		return nil
	}
	left, right := split(e.order, chunk)
	j.span = nil // the halves are synced by id
	if j.savepoint && !j.locked && !e.skipLocks {
		// The failed attempt's savepoint released its locks; the halves
		// run one after the other in the same transaction: take the locks
		// of both at once, in one sorted statement, so that the halves
		// cannot deadlock with another transaction.
		if err := e.lock(ctx, j.parent, chunk); err != nil {
			return err
		}
		j.locked = true
	}
	if err := e.isolate(ctx, j, left, report, failed); err != nil {
		return err
	}
	return e.isolate(ctx, j, right, report, failed)
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

// acquirer is a pool that hands out connections, such as *pgxpool.Pool: the
// engine then commits on its own connection in the same round trip as the
// tvsync.sync_log rows.
type acquirer interface {
	Acquire(ctx context.Context) (*pgxpool.Conn, error)
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
	case "22", "23", "P0", "54": // data exception, integrity constraint violation, raised by PL/pgSQL,
		// program limit exceeded (a document over jsonb's 256 MB, too many columns or arguments)
		return true
	}
	return false
}

// retryable reports whether err is a transient conflict worth retrying as is.
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40001" || pgErr.Code == "40P01")
}

func (e *Engine) attemptWithRetry(ctx context.Context, j job, chunk idSet) ([]EntityResult, error) {
	const tries = 5
	for i := 1; ; i++ {
		results, err := e.attempt(ctx, j, chunk)
		if err == nil || !retryable(err) || i == tries || ctx.Err() != nil {
			return results, err
		}
		e.log.DebugContext(ctx, "tvsync: retrying sync after a transient conflict", slog.Int("attempt", i), slog.Any("error", err))
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Duration(i*i) * 5 * time.Millisecond):
		}
	}
}

// attempt runs one chunk as one pipeline: the queue acks (when asked), the
// advisory locks, then per entity the refresh and the delete. Without a
// parent it runs in a transaction of its own, begun in the same round trip;
// with savepoint set, in a savepoint of the parent.
func (e *Engine) attempt(ctx context.Context, j job, chunk idSet) (results []EntityResult, err error) {
	started := time.Now()
	type pending struct {
		name    string
		ids     []ID
		refresh func() (RefreshResult, error)
		del     func() (DeleteResult, error)
	}
	p := &Pipeline{}
	locks := lockPlan{}
	nIDs := 0
	var work []pending
	var acks []*db.QueueAckBatchResults
	for _, name := range e.order {
		ids := chunk.sorted(name)
		if len(ids) == 0 {
			continue
		}
		nIDs += len(ids)
		if !j.locked && !e.skipLocks {
			locks.addIDs(e.lockPrefix, name, ids)
		}
		work = append(work, pending{name: name, ids: ids})
		if j.ack {
			var cascaded []string
			for _, id := range ids {
				if _, ok := j.seeds[name][id]; ok {
					cascaded = append(cascaded, id.String())
				}
			}
			acks = append(acks, e.queries.QueueAck(ctx, p, []db.QueueAckParams{{Entity: name, Ids: idStrings(ids), CascadedIds: cascaded}}))
		}
	}
	// The lock statement runs (and reads the clock the durations start
	// from) even with no keys to take.
	keys := locks.sorted()
	lock := e.queries.SyncLock(ctx, p, [][]int64{keys})
	if j.span != nil {
		// A keyset range of one entity: refresh and delete by range, but
		// only the ids listed (and locked) for the chunk: an id created in
		// the range since is left to its own sync.
		ent := e.entities[j.spanEntity]
		w := pending{name: ent.Name, ids: chunk.sorted(ent.Name)}
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
	e.log.DebugContext(ctx, "tvsync: sync batch sending", slog.String("mode", string(j.mode)), slog.Int("ids", nIDs), slog.Int("locks", len(keys)), slog.Int("statements", p.Len()))

	var tx pgx.Tx
	var release func() // set when the transaction runs on a connection we acquired
	commit := true
	switch {
	case j.parent == nil:
		conn := DB(e.pool)
		if acq, ok := e.pool.(acquirer); ok {
			c, err := acq.Acquire(ctx)
			if err != nil {
				return nil, fmt.Errorf("acquire a connection: %w", err)
			}
			release = c.Release // after the deferred rollback below, if any
			defer release()
			conn = c
		}
		if tx, err = p.SendInTx(ctx, conn); err != nil {
			return nil, err
		}
	case j.savepoint:
		if tx, err = j.parent.Begin(ctx); err != nil {
			return nil, fmt.Errorf("begin sync savepoint: %w", err)
		}
		p.Send(ctx, tx)
	default:
		tx, commit = j.parent, false
		p.Send(ctx, tx)
	}
	defer func() {
		if cerr := p.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("sync batch: %w", cerr)
		}
		if err != nil && commit {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()

	for _, a := range acks {
		a.QueryRow(func(_ int, _ int32, qerr error) {
			if err == nil && qerr != nil {
				err = fmt.Errorf("remove synced rows from tvsync.sync_queue: %w", qerr)
			}
		})
	}
	if err != nil {
		return nil, err
	}
	var prev time.Time
	lock.QueryRow(func(_ int, r db.SyncLockRow, qerr error) { prev, err = r.FinishedAt, qerr })
	if err != nil {
		return nil, fmt.Errorf("take sync locks: %w", err)
	}
	var missing []int // work items whose refresh found fewer rows than ids
	for i, w := range work {
		res := EntityResult{Entity: w.name, Mode: j.mode, StartedAt: started}
		if w.refresh != nil {
			r, err := w.refresh()
			if err != nil {
				return nil, fmt.Errorf("refresh %s: %w", e.entities[w.name].View, err)
			}
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
				return nil, fmt.Errorf("delete orphaned %s rows: %w", e.entities[w.name].View, err)
			}
			res.Deleted = d.Deleted
			res.Duration += d.FinishedAt.Sub(prev)
			prev = d.FinishedAt
		}
		results = append(results, res)
	}
	if err := p.Close(); err != nil {
		return nil, fmt.Errorf("sync batch: %w", err)
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
				return nil, fmt.Errorf("delete orphaned %s rows: %w", e.entities[work[i].name].View, err)
			}
			results[i].Deleted = d.Deleted
			results[i].Duration += d.FinishedAt.Sub(prev) // includes the round trip before it
			prev = d.FinishedAt
		}
		if err := p2.Close(); err != nil {
			return nil, fmt.Errorf("sync batch: %w", err)
		}
	}
	switch {
	case commit && release != nil:
		// Our own connection: the tvsync.sync_log rows and COMMIT go in one round trip.
		if err := e.writeLogAndCommit(ctx, tx, results, true); err != nil {
			return nil, err
		}
	case commit:
		if err := e.writeLog(ctx, tx, results); err != nil {
			return nil, err
		}
		if err := tx.Commit(ctx); err != nil {
			return nil, fmt.Errorf("commit sync: %w", err)
		}
	default:
		if err := e.writeLog(ctx, tx, results); err != nil {
			return nil, err
		}
	}
	e.observe(ctx, results)
	return results, nil
}

// writeLog writes one tvsync.sync_log row per entity batch, all in one round trip.
func (e *Engine) writeLog(ctx context.Context, conn DB, results []EntityResult) error {
	return e.writeLogAndCommit(ctx, conn, results, false)
}

// writeLogAndCommit writes the tvsync.sync_log rows and, with commit set, sends
// COMMIT in the same round trip. On a commit error the transaction is over
// (rolled back by the server).
func (e *Engine) writeLogAndCommit(ctx context.Context, conn DB, results []EntityResult, commit bool) (err error) {
	p := &Pipeline{}
	var logs *db.SyncLogInsertBatchResults
	if !e.cfg.DisableSyncLog && !syncLogDisabled(ctx) && len(results) > 0 {
		params := make([]db.SyncLogInsertParams, len(results))
		for i, r := range results {
			params[i] = db.SyncLogInsertParams{
				Entity: r.Entity, Mode: string(r.Mode), Requested: int32(r.Requested), Upserted: int32(r.Upserted),
				Unchanged: int32(r.Unchanged), Deleted: int32(r.Deleted), Failed: int32(r.Failed),
				DurationUs: r.Duration.Microseconds(), Error: r.Err, StartedAt: r.StartedAt,
			}
		}
		logs = e.queries.SyncLogInsert(ctx, p, params)
	}
	if commit {
		p.queueCommit()
	}
	if p.Len() == 0 {
		return nil
	}
	p.Send(ctx, conn)
	defer func() {
		if cerr := p.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("write tvsync.sync_log: %w", cerr)
		}
	}()
	if logs != nil {
		logs.Exec(func(_ int, qerr error) {
			if err == nil && qerr != nil {
				err = fmt.Errorf("write tvsync.sync_log: %w", qerr)
			}
		})
	}
	if commit && err == nil {
		if err = p.readCommit(); err != nil {
			return fmt.Errorf("commit sync: %w", err)
		}
	}
	return err
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

func toSet(ids []ID) map[ID]struct{} {
	m := make(map[ID]struct{}, len(ids))
	for _, id := range ids {
		m[id] = struct{}{}
	}
	return m
}
