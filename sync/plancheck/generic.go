package plancheck

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	tvsync "github.com/tvsync/tvsync/sync"
)

// genericName is the name of the prepared statement ExplainGeneric explains.
const genericName = "tvsync_plancheck_generic"

// simple runs a statement through the simple protocol: never cached as a
// prepared statement by pgx, and with its arguments (none) inline.
const simple = pgx.QueryExecModeSimpleProtocol

// ExplainGeneric is Explain of st's generic plan: the plan PostgreSQL builds
// for a prepared statement without looking at its arguments, and switches
// to once it judges it no costlier than the custom plans (pgx prepares every
// statement it runs, so from the sixth execution of a statement on a
// connection on, the plan may be this one). In a transaction on conn that
// it always rolls back, it prepares st, forces the generic plan (SET LOCAL
// plan_cache_mode = force_generic_plan) and runs EXPLAIN (ANALYZE, BUFFERS,
// FORMAT JSON) EXECUTE with st's arguments, rendered as literals of the
// parameter types PostgreSQL inferred. The statement really runs, nothing
// changes, and the prepared statement is deallocated. A plan that reads a
// whole table only without its arguments (an optional filter such as
// "id = ANY($1) OR $2", folded away in a custom plan) shows here.
func ExplainGeneric(ctx context.Context, conn tvsync.Beginner, st Statement) (Plan, error) {
	var raw []byte
	err := rolledBack(ctx, conn, func(tx pgx.Tx) error {
		return executeGeneric(ctx, tx, st, func(sp pgx.Tx, execute string) error {
			return sp.QueryRow(ctx, "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) "+execute, simple).Scan(&raw)
		})
	})
	if err != nil {
		return Plan{}, fmt.Errorf("plancheck: explain the generic plan of %s: %w", st.Label(), err)
	}
	plan, err := parsePlan(raw)
	if err != nil {
		return Plan{}, fmt.Errorf("plancheck: explain the generic plan of %s: %w", st.Label(), err)
	}
	plan.Statement, plan.Generic = st, true
	return plan, nil
}

// ExplainGenericText is ExplainText of st's generic plan (see
// ExplainGeneric), for people to read.
func ExplainGenericText(ctx context.Context, conn tvsync.Beginner, st Statement) ([]string, error) {
	var lines []string
	err := rolledBack(ctx, conn, func(tx pgx.Tx) error {
		return executeGeneric(ctx, tx, st, func(sp pgx.Tx, execute string) error {
			rows, err := sp.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS, FORMAT TEXT) "+execute, simple)
			if err != nil {
				return err
			}
			lines, err = pgx.CollectRows(rows, pgx.RowTo[string])
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("plancheck: explain the generic plan of %s: %w", st.Label(), err)
	}
	return lines, nil
}

// executeGeneric prepares st on tx's connection under genericName, forces
// generic plans for the rest of tx, and calls explain with a savepoint of
// tx and the EXECUTE statement of st's arguments. The prepared statement,
// which a rollback does not remove, is deallocated before it returns.
func executeGeneric(ctx context.Context, tx pgx.Tx, st Statement, explain func(sp pgx.Tx, execute string) error) (err error) {
	if _, err := tx.Exec(ctx, "SET LOCAL plan_cache_mode = force_generic_plan", simple); err != nil {
		return fmt.Errorf("force generic plans: %w", err)
	}
	var leftover bool
	if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_prepared_statements WHERE name = $1)", genericName).Scan(&leftover); err != nil {
		return fmt.Errorf("list prepared statements: %w", err)
	}
	if leftover {
		if _, err := tx.Exec(ctx, "DEALLOCATE "+genericName, simple); err != nil {
			return fmt.Errorf("deallocate a leftover %s: %w", genericName, err)
		}
	}
	if _, err := tx.Exec(ctx, "PREPARE "+genericName+" AS "+st.SQL, simple); err != nil {
		return fmt.Errorf("prepare: %w", err)
	}
	defer func() {
		// The savepoint below keeps tx usable whatever explain did.
		if _, derr := tx.Exec(context.WithoutCancel(ctx), "DEALLOCATE "+genericName, simple); derr != nil && err == nil {
			err = fmt.Errorf("deallocate: %w", derr)
		}
	}()
	var types []string
	if err := tx.QueryRow(ctx, "SELECT parameter_types::text[] FROM pg_prepared_statements WHERE name = $1", genericName).Scan(&types); err != nil {
		return fmt.Errorf("read the parameter types: %w", err)
	}
	if len(types) != len(st.Args) {
		return fmt.Errorf("the statement has %d parameters and %d arguments", len(types), len(st.Args))
	}
	execute := "EXECUTE " + genericName
	for i, typ := range types {
		// The server renders each argument as a literal of its parameter's
		// type: the same encoding as when pgx sends it.
		var lit *string
		if err := tx.QueryRow(ctx, "SELECT quote_literal($1::"+typ+")", st.Args[i]).Scan(&lit); err != nil {
			return fmt.Errorf("render argument %d as %s: %w", i+1, typ, err)
		}
		sep := ", "
		if i == 0 {
			sep = "("
		}
		if lit == nil {
			execute += sep + "NULL::" + typ
		} else {
			execute += sep + *lit + "::" + typ
		}
	}
	if len(types) > 0 {
		execute += ")"
	}
	sp, err := tx.Begin(ctx)
	if err != nil {
		return fmt.Errorf("savepoint: %w", err)
	}
	defer func() { _ = sp.Rollback(context.WithoutCancel(ctx)) }()
	return explain(sp, execute)
}
