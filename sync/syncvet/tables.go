package syncvet

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
)

// Querier runs a query: a *pgxpool.Pool, a *pgx.Conn or a pgx.Tx.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// Tables returns the tables of the database behind conn that the
// application's queries may read, sorted: those of every schema but
// PostgreSQL's own (pg_catalog, information_schema, pg_toast, temporary
// schemas), each named as SQL reads it (quoted where needed, with its
// schema where that is not public: tb_order, tvsync.sync_log), so that
// tvsync's own tables are among them.
//
// It leaves out goose's version tables, which the schema sqlc reads does
// not declare: every table whose columns are exactly goose's (id,
// version_id, is_applied, tstamp), whatever its name, tvsync's
// tvsync.tvsync_migrations and the application's alike; and the tables
// named in skip (as Tables names them), for other tables the schema does
// not declare.
func Tables(ctx context.Context, conn Querier, skip ...string) ([]string, error) {
	rows, err := conn.Query(ctx, `
		SELECT CASE n.nspname WHEN 'public' THEN quote_ident(c.relname) ELSE quote_ident(n.nspname) || '.' || quote_ident(c.relname) END
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind IN ('r', 'p')
		  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
		  AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp\_%'
		  AND (SELECT array_agg(a.attname::text ORDER BY a.attname) FROM pg_attribute a
		       WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped)
		      IS DISTINCT FROM ARRAY['id', 'is_applied', 'tstamp', 'version_id']
		ORDER BY 1`)
	if err != nil {
		return nil, fmt.Errorf("syncvet: list tables: %w", err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("syncvet: list tables: %w", err)
	}
	return slices.DeleteFunc(tables, func(t string) bool { return slices.Contains(skip, t) }), nil
}
