package sync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ErrRebuildRunning is returned by Rebuild when another rebuild of the same
// entity is running, in this process or any other.
var ErrRebuildRunning = errors.New("tvsync: another rebuild of this entity is running")

// RebuildOptions tunes Rebuild. The zero value is usable.
type RebuildOptions struct {
	// ChunkSize is how many ids each build statement and comparison
	// covers; zero means the engine's BatchSize (negative is an error of
	// Rebuild). An apply transaction covers
	// at most BatchSize of them, locked id by id as every sync locks them:
	// live syncs of other ids never wait for a rebuild.
	ChunkSize int
	// LockTimeout bounds how long an apply transaction waits for the
	// advisory locks of its ids (held by live syncs) before it gives up and
	// is retried; zero means two seconds, negative is an error of Rebuild.
	LockTimeout time.Duration
	// Attempts is how many times an apply transaction is tried when it
	// times out on its locks or is chosen as a deadlock victim; zero means
	// five, negative is an error of Rebuild.
	Attempts int
	// Progress, if set, is called after each build chunk with the rows built so far.
	Progress func(done int)
}

// RebuildResult reports a rebuild.
type RebuildResult struct {
	Entity string
	// Rows is how many documents the shadow table was built with.
	Rows int
	// Differing is how many ids the live table held differently from the
	// shadow (another document, or a row on one side only).
	Differing int
	// CaughtUp is how many live rows the apply inserted or rewrote, and
	// Removed how many it deleted.
	CaughtUp, Removed int
	// Build is the time spent building the shadow table; Apply the time
	// spent comparing it with the live table and applying the difference.
	Build, Apply time.Duration
	// LockHeld is the longest time one apply transaction held the advisory
	// locks of its ids: live syncs of those ids waited at most that long.
	// Readers never wait for a rebuild.
	LockHeld time.Duration
	// Attempts is the most tries one apply transaction needed.
	Attempts int
}

// rebuildIDs is the temporary table that holds the ids a rebuild must apply.
const rebuildIDs = "tvsync_rebuild_ids"

// Rebuild recomputes every row of tv_<entity> from the command tables
// without downtime, and leaves the table itself (its oid, owner, grants,
// row-level security policies, triggers, publications, dependent views)
// untouched:
//
//  1. It builds a shadow copy of the table with the entity's own refresh
//     statement, chunk by chunk, into a temporary table of its own session
//     named like the live one (PostgreSQL resolves unqualified table names to
//     the session's temporary tables first, and never looks there for
//     functions, so no schema anyone else can write to is involved). The
//     build takes no lock that live syncs or readers wait for. A chunk whose
//     rows did not land in the shadow (a refresh that names the live table
//     with its schema) stops the rebuild before anything changed. A tv_
//     table the entity names with its schema (Entity.View "shop.tv_order")
//     is never resolved by name: its shadow, a temporary table too, is
//     built from the entity's Source view (id, data and Columns), which
//     every plan of the entity must match (CheckPlans), chunk by chunk in
//     the same way.
//  2. It compares the shadow with the live table, range by range, and
//     notes every id whose document differs or that exists on one side
//     only: drift, and rows that live syncs changed while the build ran.
//  3. It syncs exactly those ids into the live table in place, a chunk per
//     transaction, with the engine's own statements under the same advisory
//     locks as every sync (taken in the same order, bounded by LockTimeout,
//     retried on a lock timeout or a deadlock). Each is recomputed under its
//     lock, so a change made, or made and undone, during the build is read
//     from the command tables, never taken from the older shadow.
//
// Readers never see an empty or half-built table and never wait, and no
// write made during the rebuild is lost. Only one rebuild of an entity runs
// at a time (a session advisory lock): another returns ErrRebuildRunning.
//
// Rebuild runs on one connection of the engine's pool (or on the engine's
// *pgx.Conn), which must be a real session (not behind a transaction-mode
// pooler), with search_path set to pg_catalog and the live table's schema.
// The role needs TEMPORARY on the database (PostgreSQL grants it to PUBLIC
// by default) and the privileges of a sync (SELECT on the Source view too,
// for a schema-qualified tv_ table); it needs no CREATE on any schema, and
// nothing of a rebuild outlives its session. Ids that fail to sync are
// isolated as in Sync and reported in a *FailedError after the rest is applied.
func (e *Engine) Rebuild(ctx context.Context, entity string, opts RebuildOptions) (res RebuildResult, err error) {
	res = RebuildResult{Entity: entity}
	ent, err := e.Entity(entity)
	if err != nil {
		return res, err
	}
	if err := opts.validate(); err != nil {
		return res, err
	}
	if opts.ChunkSize <= 0 {
		opts.ChunkSize = e.cfg.BatchSize
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = 2 * time.Second
	}
	if opts.Attempts <= 0 {
		opts.Attempts = 5
	}
	s, err := e.openRebuildSession(ctx, ent)
	if err != nil {
		return res, fmt.Errorf("rebuild %s: %w", entity, err)
	}
	defer s.close(ctx)

	buildStart := time.Now()
	if err := s.build(ctx, &res, opts); err != nil {
		return res, fmt.Errorf("rebuild %s: %w", entity, err)
	}
	res.Build = time.Since(buildStart)

	applyStart := time.Now()
	if err := s.compare(ctx, &res, opts); err != nil {
		return res, fmt.Errorf("rebuild %s: %w", entity, err)
	}
	failed := &FailedError{IDs: map[string][]ID{}}
	if err := s.apply(ctx, &res, opts, failed); err != nil {
		return res, fmt.Errorf("rebuild %s: %w", entity, err)
	}
	res.Apply = time.Since(applyStart)
	e.log.InfoContext(ctx, "tvsync: rebuilt", slog.String("entity", entity), slog.Int("rows", res.Rows), slog.Int("differing", res.Differing),
		slog.Int("caught_up", res.CaughtUp), slog.Int("removed", res.Removed), slog.Duration("build", res.Build),
		slog.Duration("apply", res.Apply), slog.Duration("lock_held", res.LockHeld))
	if len(failed.IDs) > 0 {
		return res, fmt.Errorf("rebuild %s: %w", entity, failed)
	}
	return res, nil
}

// build fills the shadow table chunk by chunk from the command table's ids,
// minID included, and checks that each chunk's rows landed there.
func (s *rebuildSession) build(ctx context.Context, res *RebuildResult, opts RebuildOptions) error {
	e, ent := s.e, s.ent
	count := "SELECT count(*) FROM pg_temp." + s.view + " WHERE id = ANY($1)"
	// A schema-qualified tv_ table: the shadow's rows come from the view.
	fromSource := "INSERT INTO pg_temp." + s.view + " (id, data" + columnList("", ent.Columns) + ") SELECT s.id, s.data" +
		columnList("s.", ent.Columns) + " FROM " + s.source + " s WHERE s.id = ANY($1)"
	after, first := minID(ent.Key), true
	for {
		// From minID the listing is inclusive: a page of one holding just
		// minID would make it the cursor again, forever (see pageLimit).
		limit := pageLimit(ent.Key, after, opts.ChunkSize)
		ids, err := ent.IDsAfter(ctx, s.conn, after, limit)
		if err != nil {
			return fmt.Errorf("list ids after %s: %w", after, err)
		}
		if err := e.checkKinds(ent, ids); err != nil {
			return fmt.Errorf("list ids after %s: %w", after, err)
		}
		more := len(ids) == limit
		if len(ids) > 0 {
			after = ids[len(ids)-1]
		}
		if first && (len(ids) == 0 || ids[0] != minID(ent.Key)) {
			// Ask for minID too, whether or not the listing from it
			// included it (it is not counted when it does not exist).
			ids = append([]ID{minID(ent.Key)}, ids...)
		}
		first = false
		if len(ids) == 0 {
			break
		}
		if s.qualified {
			tag, err := s.conn.Exec(ctx, fromSource, keyArgs(ent.Key, ids))
			if err != nil {
				return fmt.Errorf("build chunk ending at %s from %s: %w", after, ent.Source, err)
			}
			res.Rows += int(tag.RowsAffected())
			if opts.Progress != nil {
				opts.Progress(res.Rows)
			}
			if !more {
				break
			}
			continue
		}
		p := &Pipeline{}
		refresh := e.refresh(ent, p, ids)
		b := &pgx.Batch{}
		b.Queue(count, keyArgs(ent.Key, ids))
		counted := p.SendBatch(ctx, b)
		p.Send(ctx, s.conn)
		r, err := refresh()
		var n int
		if err == nil {
			err = counted.QueryRow().Scan(&n)
		}
		if cerr := p.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("build chunk ending at %s: %w", after, err)
		}
		if n != r.Found {
			return fmt.Errorf("build chunk ending at %s: the refresh statement found %d rows but wrote %d into the rebuild's shadow table; "+
				"it must name %s without a schema (so that it writes the table its session resolves), or it writes the live table: nothing was applied",
				after, r.Found, n, ent.View)
		}
		res.Rows += r.Found
		if opts.Progress != nil {
			opts.Progress(res.Rows)
		}
		if !more {
			break
		}
	}
	var n int
	if err := s.conn.QueryRow(ctx, "SELECT count(*) FROM pg_temp."+s.view).Scan(&n); err != nil {
		return fmt.Errorf("count the shadow table: %w", err)
	}
	if n != res.Rows {
		return fmt.Errorf("the shadow table holds %d rows, but the build wrote %d: nothing was applied", n, res.Rows)
	}
	if _, err := s.conn.Exec(ctx, "ANALYZE pg_temp."+s.view); err != nil {
		return fmt.Errorf("analyze the shadow table: %w", err)
	}
	return nil
}

// compare notes, range by range, the ids whose live row differs from the
// shadow's or exists on one side only, then drops the shadow table so that
// the entity's statements resolve to the live table again.
func (s *rebuildSession) compare(ctx context.Context, res *RebuildResult, opts RebuildOptions) error {
	kind := s.ent.Key
	// A text key compares and sorts COLLATE "C" (nextID's order); the last
	// range of a text key has no upper bound ($2 is NULL).
	c := keyCollate(kind)
	bound := "SELECT id::text AS key FROM pg_temp." + s.view + " WHERE id" + c + " >= $1 ORDER BY id" + c + " OFFSET $2 LIMIT 1"
	inRange := fmt.Sprintf("id%[1]s >= $1 AND ($2::%[2]s IS NULL OR id%[1]s <= $2)", c, kind)
	// The extra columns (Entity.Columns) are compared with data.
	diff := fmt.Sprintf(`INSERT INTO pg_temp.%[1]s (id)
		SELECT coalesce(s.id, l.id)
		FROM (SELECT id, data%[8]s FROM pg_temp.%[2]s WHERE %[3]s) s
		FULL JOIN (SELECT id, data%[8]s FROM %[4]s WHERE %[5]s) l ON l.id = s.id
		WHERE (s.data%[6]s) IS DISTINCT FROM (l.data%[7]s)`, rebuildIDs, s.view, inRange, s.live, inRange,
		columnList("s.", s.ent.Columns), columnList("l.", s.ent.Columns), columnList("", s.ent.Columns))
	for lo := minID(kind); ; {
		hi := maxID(kind)
		var text string
		switch err := s.conn.QueryRow(ctx, bound, keyArg(lo), opts.ChunkSize-1).Scan(&text); {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return fmt.Errorf("compare ids from %s: %w", lo, err)
		default:
			if hi, err = ParseID(kind, text); err != nil {
				return fmt.Errorf("compare ids from %s: %w", lo, err)
			}
		}
		tag, err := s.conn.Exec(ctx, diff, keyArg(lo), keyArg(hi))
		if err != nil {
			return fmt.Errorf("compare ids from %s to %s: %w", lo, hi, err)
		}
		res.Differing += int(tag.RowsAffected())
		if hi == maxID(kind) {
			break
		}
		lo = nextID(hi)
	}
	if _, err := s.conn.Exec(ctx, "DROP TABLE pg_temp."+s.view); err != nil {
		return fmt.Errorf("drop the shadow table: %w", err)
	}
	return s.resolves(ctx, "the live table", s.liveOID)
}

// apply syncs the noted ids into the live table, a chunk per transaction
// of at most BatchSize ids, each locked on its own as every sync locks it.
func (s *rebuildSession) apply(ctx context.Context, res *RebuildResult, opts RebuildOptions, failed *FailedError) error {
	list := "SELECT id::text AS key FROM pg_temp." + rebuildIDs + " WHERE id >= $1 ORDER BY id LIMIT $2"
	size := min(opts.ChunkSize, s.e.cfg.BatchSize)
	kind := s.ent.Key
	for lo := minID(kind); ; {
		rows, err := s.conn.Query(ctx, list, keyArg(lo), size)
		if err != nil {
			return fmt.Errorf("list ids to apply from %s: %w", lo, err)
		}
		texts, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("list ids to apply from %s: %w", lo, err)
		}
		if len(texts) == 0 {
			return nil
		}
		ids := make([]ID, len(texts))
		for i, t := range texts {
			if ids[i], err = ParseID(kind, t); err != nil {
				return fmt.Errorf("list ids to apply from %s: %w", lo, err)
			}
		}
		if err := s.applyChunk(ctx, ids, res, opts, failed); err != nil {
			return err
		}
		last := ids[len(ids)-1]
		if len(ids) < size || last == maxID(kind) {
			return nil
		}
		lo = nextID(last)
	}
}

// applyChunk syncs ids in one transaction, retried when it times out on its
// locks or is chosen as a deadlock victim.
func (s *rebuildSession) applyChunk(ctx context.Context, ids []ID, res *RebuildResult, opts RebuildOptions, failed *FailedError) error {
	for attempt := 1; ; attempt++ {
		report, held, err := s.applyOnce(ctx, ids, opts.LockTimeout, failed)
		if err == nil {
			res.Attempts = max(res.Attempts, attempt)
			res.LockHeld = max(res.LockHeld, held)
			r := report.For(s.ent.Name)
			res.CaughtUp += r.Upserted
			res.Removed += r.Deleted
			return nil
		}
		if !lockConflict(err) || attempt == opts.Attempts || ctx.Err() != nil {
			return fmt.Errorf("apply %d ids from %s (attempt %d): %w", len(ids), ids[0], attempt, err)
		}
		s.e.log.WarnContext(ctx, "tvsync: rebuild could not take its locks; retrying", slog.String("entity", s.ent.Name),
			slog.Int("attempt", attempt), slog.Any("error", err))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(attempt*attempt) * 10 * time.Millisecond):
		}
	}
}

// applyOnce takes the advisory locks of ids, as a sync of them does, then
// syncs them in savepoints (failing ids isolated) and commits. It reports
// how long the locks were held.
func (s *rebuildSession) applyOnce(ctx context.Context, ids []ID, lockTimeout time.Duration, failed *FailedError) (report Report, held time.Duration, err error) {
	e := s.e
	tx, err := s.conn.Begin(ctx)
	if err != nil {
		return report, 0, fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	if _, err := tx.Exec(ctx, "SELECT pg_catalog.set_config('lock_timeout', $1, true)", fmt.Sprintf("%dms", max(lockTimeout.Milliseconds(), 1))); err != nil {
		return report, 0, fmt.Errorf("set lock_timeout: %w", err)
	}
	chunk := idSet{}
	chunk.add(s.ent.Name, ids...)
	if !e.skipLocks {
		if err := e.lock(ctx, tx, chunk, false); err != nil {
			return report, 0, err
		}
	}
	locked := time.Now()
	report.Mode = ModeFull
	// The locks are the transaction's: the savepoints of isolate need not
	// take them again.
	if _, err := e.isolate(ctx, job{mode: ModeFull, ops: opRefresh | opDelete, parent: tx, savepoint: true, locked: true}, newBatch().sub(chunk), nil, &report, failed); err != nil {
		return report, 0, err
	}
	if err := tx.Commit(ctx); err != nil {
		return report, 0, fmt.Errorf("commit: %w", err)
	}
	return report, time.Since(locked), nil
}

// lockConflict reports whether err is a lock timeout (55P03) or a deadlock
// (40P01): worth retrying the transaction as is.
func lockConflict(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "55P03" || pgErr.Code == "40P01")
}

// nextID returns the key that follows id in its kind's order; id must not
// be maxID.
func nextID(id ID) ID {
	switch id.kind {
	case KeyBigint:
		return IntKey(id.Int64() + 1)
	case KeyInteger:
		return Int32Key(id.Int32() + 1)
	case KeyText:
		// The first text after s under COLLATE "C": s and the smallest
		// character a text can hold (never NUL).
		return TextKey(id.s + "\x01")
	}
	for i := len(id.b) - 1; i >= 0; i-- {
		id.b[i]++
		if id.b[i] != 0 {
			break
		}
	}
	return id
}
