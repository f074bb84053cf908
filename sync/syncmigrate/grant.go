package syncmigrate

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// namespaceRE is what sync.Config.Namespace accepts (the engine's namespace check);
// tvsync.namespace_role checks the same.
var namespaceRE = regexp.MustCompile(`^([a-z][a-z0-9_]{0,31})?$`)

// AppGrants returns the statements that give role the least privileges an
// application of namespace needs on schema tvsync (sync.Config.Namespace,
// "" for the default one) to write through a unit of work in every sync
// mode, run a Worker, and run engine.Verify, full syncs and repairs:
//
//   - USAGE on the schema, to name its objects;
//   - SELECT, INSERT, UPDATE, DELETE on tvsync.sync_queue: units of work
//     queue (INSERT), syncs acknowledge (DELETE), workers claim (SELECT …
//     FOR UPDATE needs UPDATE), fail and park (UPDATE), and status reads
//     it;
//   - INSERT on tvsync.sync_log: every committed batch writes one row;
//   - SELECT on tvsync.namespace_role, which the row-level security
//     policies of sync_queue and sync_log read as the role;
//   - EXECUTE on tvsync.ts(timestamptz), which the document views and
//     refresh statements call (PostgreSQL grants it to PUBLIC by default;
//     the grant keeps it working where that default was revoked);
//   - a row of tvsync.namespace_role giving role namespace: row-level
//     security lets the role (and its members) see, change, delete and
//     insert only the sync_queue and sync_log rows of the namespaces it is
//     given, so that applications sharing a database cannot touch each
//     other's.
//
// The operator commands stats and sync-log prune also need SELECT and
// DELETE on tvsync.sync_log; migrations need the owner (who is not bound by
// row-level security). Run the statements again after a migration that
// adds an object to schema tvsync. role is quoted as an identifier in the
// grants and as a literal in the row. It panics on a namespace
// the engine's namespace check rejects; GrantApp returns an error instead.
func AppGrants(role, namespace string) []string {
	if err := checkNamespace(namespace); err != nil {
		panic(err.Error())
	}
	r := pgx.Identifier{role}.Sanitize()
	return []string{
		"GRANT USAGE ON SCHEMA tvsync TO " + r,
		"GRANT SELECT, INSERT, UPDATE, DELETE ON tvsync.sync_queue TO " + r,
		"GRANT INSERT ON tvsync.sync_log TO " + r,
		"GRANT SELECT ON tvsync.namespace_role TO " + r,
		"GRANT EXECUTE ON FUNCTION tvsync.ts(timestamptz) TO " + r,
		"INSERT INTO tvsync.namespace_role (namespace, role) VALUES (" + literal(namespace) + ", " + literal(role) + ") ON CONFLICT DO NOTHING",
	}
}

// GrantApp runs AppGrants(role, namespace) on pool in one transaction, as
// a role allowed to grant them (the owner of schema tvsync's objects). It
// grants nothing on the application's own tables. Granting one role
// several namespaces lets it touch the rows of each; take one away with
// DELETE FROM tvsync.namespace_role.
func GrantApp(ctx context.Context, pool *pgxpool.Pool, role, namespace string) error {
	if err := checkNamespace(namespace); err != nil {
		return err
	}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		for _, stmt := range AppGrants(role, namespace) {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("%s: %w", stmt, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("syncmigrate: grant role %q tvsync's privileges in namespace %q: %w", role, namespace, err)
	}
	return nil
}

// checkNamespace rejects a namespace sync.Config.Namespace would reject,
// naming it.
func checkNamespace(ns string) error {
	if !namespaceRE.MatchString(ns) {
		return fmt.Errorf("syncmigrate: invalid namespace %q: want empty, or a lowercase letter then up to 31 lowercase letters, digits or underscores", ns)
	}
	return nil
}

// literal quotes s as a SQL string literal (standard_conforming_strings).
func literal(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
