package syncmigrate

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// AppGrants returns the GRANT statements that give role the least
// privileges an application needs on schema tvsync to write through a unit
// of work in every sync mode, run a Worker, and run engine.Verify, full
// syncs and repairs:
//
//   - USAGE on the schema, to name its objects;
//   - SELECT, INSERT, UPDATE, DELETE on tvsync.sync_queue: units of work
//     queue (INSERT … ON CONFLICT DO UPDATE), syncs acknowledge (DELETE),
//     workers claim (SELECT … FOR UPDATE needs UPDATE), fail and park
//     (UPDATE), and status reads it;
//   - INSERT on tvsync.sync_log: every committed batch writes one row;
//   - EXECUTE on tvsync.ts(timestamptz), which the document views and
//     refresh statements call (PostgreSQL grants it to PUBLIC by default;
//     the grant keeps it working where that default was revoked).
//
// The operator commands stats and sync-log prune also need SELECT and
// DELETE on tvsync.sync_log; migrations need the owner. Run the statements
// again after a migration that adds an object to schema tvsync. role is
// quoted as an identifier.
func AppGrants(role string) []string {
	r := pgx.Identifier{role}.Sanitize()
	return []string{
		"GRANT USAGE ON SCHEMA tvsync TO " + r,
		"GRANT SELECT, INSERT, UPDATE, DELETE ON tvsync.sync_queue TO " + r,
		"GRANT INSERT ON tvsync.sync_log TO " + r,
		"GRANT EXECUTE ON FUNCTION tvsync.ts(timestamptz) TO " + r,
	}
}

// GrantApp runs AppGrants(role) on pool in one transaction, as a role
// allowed to grant them (the owner of schema tvsync's objects). It grants
// nothing on the application's own tables.
func GrantApp(ctx context.Context, pool *pgxpool.Pool, role string) error {
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		for _, stmt := range AppGrants(role) {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("%s: %w", stmt, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("syncmigrate: grant role %q tvsync's privileges: %w", role, err)
	}
	return nil
}
