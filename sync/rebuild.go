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

// ShadowSchema is the schema where Rebuild builds its shadow tables.
const ShadowSchema = "tvsync_shadow"

// RebuildOptions tunes Rebuild. The zero value is usable.
type RebuildOptions struct {
	// ChunkSize is how many ids each build transaction syncs; zero means
	// the engine's BatchSize.
	ChunkSize int
	// LockTimeout bounds how long the swap waits for its lock on the live
	// table before it gives up and retries; zero means two seconds.
	LockTimeout time.Duration
	// SwapAttempts is how many times the swap is tried; zero means five.
	SwapAttempts int
	// Progress, if set, is called after each build chunk with the rows built so far.
	Progress func(done int)
}

// RebuildResult reports a rebuild.
type RebuildResult struct {
	Entity string
	// Rows is how many documents the shadow table was built with.
	Rows int
	// CaughtUp is how many rows changed while building were copied over
	// from the live table, and Removed how many deleted meanwhile were
	// dropped, during the swap.
	CaughtUp, Removed int
	// Build is the time spent building; LockHeld the time the swap held
	// the live table's exclusive lock (readers wait that long at most).
	Build, LockHeld time.Duration
	// SwapAttempts is how many tries the swap needed.
	SwapAttempts int
}

// Rebuild rebuilds tv_<entity> without downtime: it builds a shadow copy in
// schema ShadowSchema with the entity's own refresh statement (run with the
// shadow schema first in search_path, so it writes the shadow table while
// reading the live command tables), chunk by chunk under the same per-id
// advisory locks as every sync, while readers and writers keep using the
// live table. Then, in one short transaction holding the live table's
// exclusive lock (bounded by LockTimeout, retried), it catches up the rows
// that live syncs changed during the build, drops those deleted meanwhile,
// and swaps the shadow table in. Readers never see an empty or half-built
// table, and no write made during the rebuild is lost.
func (e *Engine) Rebuild(ctx context.Context, entity string, opts RebuildOptions) (RebuildResult, error) {
	res := RebuildResult{Entity: entity}
	ent, err := e.Entity(entity)
	if err != nil {
		return res, err
	}
	if opts.ChunkSize <= 0 {
		opts.ChunkSize = e.cfg.BatchSize
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = 2 * time.Second
	}
	if opts.SwapAttempts <= 0 {
		opts.SwapAttempts = 5
	}
	var liveSchema string
	if err := e.pool.QueryRow(ctx, `SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1::regclass`, ent.View).Scan(&liveSchema); err != nil {
		return res, fmt.Errorf("rebuild %s: find table %s: %w", entity, ent.View, err)
	}
	live := pgx.Identifier{liveSchema, ent.View}.Sanitize()
	shadow := pgx.Identifier{ShadowSchema, ent.View}.Sanitize()
	searchPath := pgx.Identifier{ShadowSchema}.Sanitize() + ", " + pgx.Identifier{liveSchema}.Sanitize()
	if _, err := e.pool.Exec(ctx, fmt.Sprintf(`CREATE SCHEMA IF NOT EXISTS %s; DROP TABLE IF EXISTS %s; CREATE TABLE %s (LIKE %s INCLUDING ALL)`,
		pgx.Identifier{ShadowSchema}.Sanitize(), shadow, shadow, live)); err != nil {
		return res, fmt.Errorf("rebuild %s: create shadow table: %w", entity, err)
	}
	dropShadow := func() {
		if _, err := e.pool.Exec(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+shadow); err != nil {
			e.log.ErrorContext(ctx, "tvsync: rebuild could not drop its shadow table", slog.String("table", shadow), slog.Any("error", err))
		}
	}
	var start time.Time
	if err := e.pool.QueryRow(ctx, "SELECT clock_timestamp()").Scan(&start); err != nil {
		return res, fmt.Errorf("rebuild %s: %w", entity, err)
	}

	// Build the shadow table, chunk by chunk.
	buildStart := time.Now()
	after := MinID(ent.Key)
	for {
		ids, err := ent.IDsAfter(ctx, e.pool, after, pageLimit(ent.Key, after, opts.ChunkSize))
		if err != nil {
			dropShadow()
			return res, fmt.Errorf("rebuild %s: list ids after %s: %w", entity, after, err)
		}
		if len(ids) == 0 {
			break
		}
		if err := e.inShadow(ctx, searchPath, func(tx pgx.Tx) error {
			_, err := e.attempt(ctx, job{mode: ModeFull, ops: opRefresh, parent: tx}, idSet{entity: toSet(ids)})
			return err
		}); err != nil {
			dropShadow()
			return res, fmt.Errorf("rebuild %s: build chunk after %s: %w", entity, after, err)
		}
		res.Rows += len(ids)
		after = ids[len(ids)-1]
		if opts.Progress != nil {
			opts.Progress(res.Rows)
		}
	}
	res.Build = time.Since(buildStart)

	// Swap it in, catching up what changed meanwhile.
	for res.SwapAttempts = 1; ; res.SwapAttempts++ {
		err = e.swap(ctx, ent, searchPath, liveSchema, live, shadow, start, opts.LockTimeout, &res)
		var pgErr *pgconn.PgError
		if err == nil || !errors.As(err, &pgErr) || pgErr.Code != "55P03" || res.SwapAttempts == opts.SwapAttempts {
			break
		}
		e.log.WarnContext(ctx, "tvsync: rebuild swap timed out waiting for its lock; retrying", slog.String("entity", entity), slog.Int("attempt", res.SwapAttempts))
	}
	if err != nil {
		dropShadow()
		return res, fmt.Errorf("rebuild %s: swap: %w", entity, err)
	}
	e.log.InfoContext(ctx, "tvsync: rebuilt", slog.String("entity", entity), slog.Int("rows", res.Rows), slog.Int("caught_up", res.CaughtUp),
		slog.Int("removed", res.Removed), slog.Duration("build", res.Build), slog.Duration("lock_held", res.LockHeld))
	return res, nil
}

// inShadow runs fn in a transaction whose unqualified tv_ names resolve to
// the shadow schema, and commits it.
func (e *Engine) inShadow(ctx context.Context, searchPath string, fn func(tx pgx.Tx) error) (err error) {
	tx, err := e.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	if _, err := tx.Exec(ctx, "SET LOCAL search_path TO "+searchPath); err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// swap catches the shadow table up with the live one and replaces it, in
// one transaction holding the live table's exclusive lock.
func (e *Engine) swap(ctx context.Context, ent Entity, searchPath, liveSchema, live, shadow string, start time.Time, lockTimeout time.Duration, res *RebuildResult) error {
	var locked time.Time
	err := e.inShadow(ctx, searchPath, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, fmt.Sprintf("SET LOCAL lock_timeout = %d", lockTimeout.Milliseconds())); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "LOCK TABLE "+live+" IN ACCESS EXCLUSIVE MODE"); err != nil {
			return err
		}
		locked = time.Now()
		// Rows that live syncs wrote since the build started are at least as new as the shadow's.
		tag, err := tx.Exec(ctx, fmt.Sprintf(`INSERT INTO %s SELECT * FROM %s WHERE updated_at >= $1
			ON CONFLICT (id) DO UPDATE SET data = EXCLUDED.data, updated_at = EXCLUDED.updated_at`, shadow, live), start)
		if err != nil {
			return fmt.Errorf("catch up changed rows: %w", err)
		}
		res.CaughtUp = int(tag.RowsAffected())
		// Rows only in the shadow: deleted meanwhile, or missing from the live
		// table (drift). The entity's delete statement tells them apart.
		rows, err := tx.Query(ctx, fmt.Sprintf(`SELECT s.id::text FROM %s s WHERE NOT EXISTS (SELECT 1 FROM %s l WHERE l.id = s.id)`, shadow, live))
		if err != nil {
			return err
		}
		texts, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("find rows deleted meanwhile: %w", err)
		}
		only := make([]ID, len(texts))
		for i, t := range texts {
			if only[i], err = ParseID(ent.Key, t); err != nil {
				return fmt.Errorf("find rows deleted meanwhile: %w", err)
			}
		}
		if len(only) > 0 {
			results, err := e.attempt(ctx, job{mode: ModeFull, ops: opDelete, parent: tx}, idSet{ent.Name: toSet(only)})
			if err != nil {
				return fmt.Errorf("drop rows deleted meanwhile: %w", err)
			}
			for _, r := range results {
				res.Removed += r.Deleted
			}
		}
		if _, err := tx.Exec(ctx, fmt.Sprintf("DROP TABLE %s; ALTER TABLE %s SET SCHEMA %s", live, shadow,
			pgx.Identifier{liveSchema}.Sanitize())); err != nil {
			return fmt.Errorf("swap tables: %w", err)
		}
		return nil
	})
	if !locked.IsZero() {
		res.LockHeld = time.Since(locked)
	}
	return err
}
