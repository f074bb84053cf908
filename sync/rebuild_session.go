package sync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tvsync/tvsync/sync/internal/engineapi"
)

// rebuildSession is the one database session a rebuild runs on: it holds
// the rebuild's session lock, its temporary tables and its search_path.
type rebuildSession struct {
	e    *Engine
	ent  *Entity
	conn Beginner
	// pooled is set when conn was acquired from the engine's pool.
	pooled *pgxpool.Conn
	// view is the shadow table's name, sanitized; live the live table's
	// qualified name, sanitized, and liveOID its oid.
	view, live string
	liveOID    uint32
	// qualified is set when the entity names its tv_ table with its schema
	// (Entity.View "shop.tv_order"): its statements then never resolve to
	// the shadow, which is built from the entity's Source view instead.
	qualified bool
	// source is the Source view's name, sanitized (qualified tables only).
	source string
	// restore is the session's search_path before the rebuild; pathSet is
	// set once the rebuild changed it (and may have created its tables).
	restore string
	pathSet bool
	// locked is set once the session lock is held.
	locked bool
}

// openRebuildSession takes a session for a rebuild of ent: it takes the
// entity's rebuild lock (or fails with ErrRebuildRunning), sets search_path
// to pg_catalog and the live table's schema, and creates the empty shadow
// table and the table of ids to apply, both temporary. On error the session
// is already closed.
func (e *Engine) openRebuildSession(ctx context.Context, ent Entity) (_ *rebuildSession, err error) {
	viewSchema, viewName, qualified := strings.Cut(ent.View, ".")
	if !qualified {
		viewSchema, viewName = "", ent.View
	}
	s := &rebuildSession{e: e, ent: &ent, view: pgx.Identifier{viewName}.Sanitize(), qualified: qualified}
	if qualified {
		// The entity's statements name the live table with its schema, so
		// no name resolution can point them at a shadow: the shadow is
		// built from the view that defines the documents, which every
		// plan of the entity must match (CheckPlans).
		switch {
		case ent.Source == "":
			return nil, fmt.Errorf("%w: %s is named with its schema, and its rebuild builds the shadow copy from the entity's Source view (set Entity.Source)", ErrNoSource, ent.View)
		case strings.ContainsAny(ent.Source, "()"):
			return nil, fmt.Errorf("%s is named with its schema, and its rebuild builds the shadow copy from the entity's Source, which must be a view name, not %q", ent.View, ent.Source)
		}
		s.source = pgx.Identifier(strings.Split(ent.Source, ".")).Sanitize()
	}
	switch p := e.pool.(type) {
	case engineapi.Acquirer:
		if s.pooled, err = p.Acquire(ctx); err != nil {
			return nil, fmt.Errorf("acquire a connection: %w", err)
		}
		s.conn = s.pooled
	case *pgx.Conn:
		s.conn = p
	default:
		return nil, fmt.Errorf("rebuild needs an engine over a *pgxpool.Pool or a *pgx.Conn (a session for its temporary tables), not %T", e.pool)
	}
	defer func() {
		if err != nil {
			s.close(ctx)
		}
	}()
	if pool, ok := e.pool.(*pgxpool.Pool); ok && s.pooled != nil {
		if err := checkRebuildSession(ctx, s.pooled, pool); err != nil {
			return nil, err
		}
	}

	if err := s.conn.QueryRow(ctx, "SELECT pg_catalog.pg_try_advisory_lock($1)", rebuildKey(e.lockPrefix, ent.Name)).Scan(&s.locked); err != nil {
		return nil, fmt.Errorf("take the rebuild lock: %w", err)
	}
	if !s.locked {
		return nil, ErrRebuildRunning
	}
	// The live table, as the engine's syncs resolve it.
	var schema, name string
	var persistence string
	find := `SELECT c.oid, n.nspname, c.relname, c.relpersistence::text
		FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		WHERE c.oid = pg_catalog.to_regclass(pg_catalog.quote_ident($1))`
	args := []any{ent.View}
	if qualified {
		find = strings.Replace(find, "pg_catalog.quote_ident($1)", "pg_catalog.quote_ident($1) || '.' || pg_catalog.quote_ident($2)", 1)
		args = []any{viewSchema, viewName}
	}
	err = s.conn.QueryRow(ctx, find, args...).Scan(&s.liveOID, &schema, &name, &persistence)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, fmt.Errorf("table %s does not exist", ent.View)
	case err != nil:
		return nil, fmt.Errorf("find table %s: %w", ent.View, err)
	case persistence == "t":
		return nil, fmt.Errorf("table %s resolves to a temporary table (%s.%s), not the live one", ent.View, schema, name)
	}
	s.live = pgx.Identifier{schema, name}.Sanitize()

	// Every statement of the rebuild resolves functions and operators in
	// pg_catalog first, then in the live table's schema only; tables
	// resolve to the session's own temporary tables first.
	if err := s.conn.QueryRow(ctx, "SELECT pg_catalog.current_setting('search_path')").Scan(&s.restore); err != nil {
		return nil, fmt.Errorf("read search_path: %w", err)
	}
	path := "pg_catalog, " + pgx.Identifier{schema}.Sanitize()
	s.pathSet = true
	if _, err := s.conn.Exec(ctx, "SELECT pg_catalog.set_config('search_path', $1, false)", path); err != nil {
		return nil, fmt.Errorf("set search_path to %s: %w", path, err)
	}
	for _, stmt := range []string{
		"DROP TABLE IF EXISTS pg_temp." + s.view + ", pg_temp." + rebuildIDs,
		"CREATE TEMPORARY TABLE " + s.view + " (LIKE " + s.live + " INCLUDING ALL)",
		"CREATE TEMPORARY TABLE " + rebuildIDs + " (id " + ent.Key.String() + keyCollate(ent.Key) + " PRIMARY KEY)",
		// Statements this session prepared earlier were planned against the
		// live table; an unqualified name that a new temporary table now
		// shadows does not invalidate them on its own.
		"DISCARD PLANS",
	} {
		if _, err := s.conn.Exec(ctx, stmt); err != nil {
			return nil, fmt.Errorf("create the shadow table: %s: %w", stmt, err)
		}
	}
	var shadowOID uint32
	if err := s.conn.QueryRow(ctx, "SELECT 'pg_temp."+s.view+"'::regclass::oid").Scan(&shadowOID); err != nil {
		return nil, fmt.Errorf("find the shadow table: %w", err)
	}
	if err := s.resolves(ctx, "the shadow table", shadowOID); err != nil {
		return nil, err
	}
	return s, nil
}

// resolves checks that the entity's table name resolves to the table oid;
// a schema-qualified name resolves to nothing but the live table, and
// needs no check.
func (s *rebuildSession) resolves(ctx context.Context, what string, oid uint32) error {
	if s.qualified {
		return nil
	}
	var ok bool
	if err := s.conn.QueryRow(ctx, "SELECT pg_catalog.to_regclass(pg_catalog.quote_ident($1))::oid IS NOT DISTINCT FROM $2::oid",
		s.ent.View, oid).Scan(&ok); err != nil {
		return fmt.Errorf("resolve %s: %w", s.ent.View, err)
	}
	if !ok {
		return fmt.Errorf("%s does not resolve to %s in the rebuild's session", s.ent.View, what)
	}
	return nil
}

// close drops the temporary tables, restores search_path and releases the
// rebuild lock. If any of that fails, a pooled connection is closed instead
// of going back to the pool (which ends the session and everything in it).
func (s *rebuildSession) close(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err := func() error {
		if s.pathSet {
			if _, err := s.conn.Exec(ctx, "DROP TABLE IF EXISTS pg_temp."+s.view+", pg_temp."+rebuildIDs); err != nil {
				return err
			}
			if _, err := s.conn.Exec(ctx, "SELECT pg_catalog.set_config('search_path', $1, false)", s.restore); err != nil {
				return err
			}
		}
		if s.locked {
			var released bool
			if err := s.conn.QueryRow(ctx, "SELECT pg_catalog.pg_advisory_unlock($1)", rebuildKey(s.e.lockPrefix, s.ent.Name)).Scan(&released); err != nil {
				return err
			}
			if !released {
				return errors.New("the rebuild lock was not held")
			}
		}
		return nil
	}()
	if err != nil {
		s.e.log.WarnContext(ctx, "tvsync: rebuild could not clean up its session; closing it", slog.String("entity", s.ent.Name), slog.Any("error", err))
		if s.pooled != nil {
			_ = s.pooled.Conn().Close(ctx)
		}
	}
	if s.pooled != nil {
		s.pooled.Release()
	}
}
