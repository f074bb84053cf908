package synccli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	tvsync "github.com/tvsync/tvsync/sync"
)

// defaultExplainIDs is the batch size explain plans for by default.
const defaultExplainIDs = 100

func (a *App) explainCommand() *cobra.Command {
	var (
		entity string
		n      int
	)
	cmd := &cobra.Command{
		Use:   "explain [--entity E] [--ids N]",
		Short: "print each sync statement and its EXPLAIN ANALYZE plan on current data, rolled back",
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if err := checkRange("ids", n, 1, maxChunk); err != nil {
				return err
			}
			s, err := a.open(ctx)
			if err != nil {
				return err
			}
			defer s.close()
			names, err := entities(s.engine, entity)
			if err != nil {
				return err
			}
			if err := s.ping(ctx); err != nil {
				return err
			}
			for _, name := range names {
				ent, err := s.engine.Entity(name)
				if err != nil {
					return err
				}
				if err := explainEntity(ctx, a.stdout, s.pool, ent, n); err != nil {
					return fmt.Errorf("explain %s: %w", name, err)
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&entity, "entity", "", "entity whose statements to explain (default: all)")
	f.IntVar(&n, "ids", defaultExplainIDs, "batch size: how many ids (the first ones in id order) each statement gets")
	return cmd
}

// syncStatement is one statement the engine sends for an entity, as queued
// by its sqlc method: the SQL text and the arguments it was called with.
type syncStatement struct {
	role string // refresh, delete-missing, verify, lookup → entity
	sql  string
	args []any
}

// name returns the sqlc query name from the statement's "-- name: X :cmd"
// header, or "" when the text has none.
func (s syncStatement) name() string {
	first, _, _ := strings.Cut(s.sql, "\n")
	fields := strings.Fields(strings.TrimPrefix(strings.TrimSpace(first), "-- name:"))
	if !strings.HasPrefix(strings.TrimSpace(first), "-- name:") || len(fields) == 0 {
		return ""
	}
	return fields[0]
}

// explainEntity prints, for a batch of up to n ids of ent (its first ids in
// id order), every statement an incremental sync and a verify chunk of that
// batch send, with its EXPLAIN (ANALYZE, BUFFERS) plan. Each statement runs
// in its own transaction, rolled back, so nothing changes.
func explainEntity(ctx context.Context, w io.Writer, pool *pgxpool.Pool, ent tvsync.Entity, n int) error {
	ids, err := ent.IDsAfter(ctx, pool, uuid.Nil, n)
	if err != nil {
		return fmt.Errorf("pick %d ids: %w", n, err)
	}
	stmts, err := captureSyncStatements(ctx, ent, ids)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "== %s (%s): %d statements for a batch of %d ids\n", ent.Name, ent.View, len(stmts), len(ids))
	if len(ids) < n {
		fmt.Fprintf(w, "   (the table holds only %d rows: the plans are for that batch)\n", len(ids))
	}
	for _, st := range stmts {
		fmt.Fprintf(w, "\n--- %s %s (%s)\n%s\n", ent.Name, st.name(), st.role, strings.TrimSpace(st.sql))
		plan, err := explainRolledBack(ctx, pool, st)
		if err != nil {
			return fmt.Errorf("%s (%s): %w", st.name(), st.role, err)
		}
		fmt.Fprintln(w, "plan (EXPLAIN ANALYZE, BUFFERS; rolled back):")
		for _, line := range plan {
			fmt.Fprintf(w, "    %s\n", abbreviateIDLists(line))
		}
	}
	fmt.Fprintln(w)
	return nil
}

// captureSyncStatements calls ent's registered statement builders with ids
// and records what they would send, without sending anything: the refresh
// (and its set-based plan, if any), the delete of missing rows, the
// full-sync range statements of the range covering exactly those ids, and
// each cascade lookup, then the verify chunk over the same range.
func captureSyncStatements(ctx context.Context, ent tvsync.Entity, ids []uuid.UUID) ([]syncStatement, error) {
	roles := []string{}
	var p tvsync.Pipeline
	if ent.Refresh != nil {
		ent.Refresh(&p, ids)
		roles = append(roles, "refresh")
	}
	if ent.RefreshWide != nil {
		ent.RefreshWide(&p, ids)
		roles = append(roles, "refresh, set-based plan for large batches")
	}
	if ent.DeleteMissing != nil {
		ent.DeleteMissing(&p, ids)
		roles = append(roles, "delete-missing")
	}
	if ent.RefreshRange != nil && len(ids) > 0 {
		// The full-sync chunk that covers exactly these ids.
		ent.RefreshRange(&p, uuid.Nil, ids[len(ids)-1])
		ent.DeleteMissingRange(&p, uuid.Nil, ids[len(ids)-1])
		roles = append(roles, "full-sync chunk refresh (keyset range)", "full-sync chunk delete-missing (keyset range)")
	}
	for _, c := range ent.Cascades {
		c.Lookup(&p, ids)
		roles = append(roles, "lookup of dependent "+c.Entity+" ids")
	}
	rec := &statementRecorder{}
	p.Send(ctx, rec)
	if len(rec.stmts) != len(roles) {
		return nil, fmt.Errorf("entity %q queued %d statements for %d builders: each must queue exactly one", ent.Name, len(rec.stmts), len(roles))
	}
	for i := range rec.stmts {
		rec.stmts[i].role = roles[i]
	}
	if ent.Verify != nil {
		upto := uuid.Nil
		if len(ids) > 0 {
			upto = ids[len(ids)-1]
		}
		before := len(rec.stmts)
		if _, err := ent.Verify(ctx, rec, uuid.Nil, upto); err != nil && !errors.Is(err, errRecorded) {
			return nil, fmt.Errorf("capture verify statement: %w", err)
		}
		if len(rec.stmts) != before+1 {
			return nil, fmt.Errorf("entity %q: verify sent %d statements, want 1", ent.Name, len(rec.stmts)-before)
		}
		rec.stmts[before].role = "verify chunk"
	}
	return rec.stmts, nil
}

// explainRolledBack runs EXPLAIN (ANALYZE, BUFFERS, FORMAT TEXT) of st with
// its arguments inside a transaction that it rolls back, and returns the
// plan's lines.
func explainRolledBack(ctx context.Context, pool *pgxpool.Pool, st syncStatement) ([]string, error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	rows, err := tx.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS, FORMAT TEXT)\n"+st.sql, st.args...)
	if err != nil {
		return nil, fmt.Errorf("explain: %w", err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("explain: %w", err)
	}
	return lines, nil
}

// idListLiteral matches an array literal of four or more UUIDs, as the
// planner prints a bound batch of ids.
var idListLiteral = regexp.MustCompile(`'\{([0-9a-f]{8}-[0-9a-f-]{27})(?:,[0-9a-f]{8}-[0-9a-f-]{27}){3,}\}'`)

// abbreviateIDLists shortens the id arrays in a plan line to their first id
// and their length, so that a batch of 100 ids does not print 100 UUIDs on
// every index condition.
func abbreviateIDLists(line string) string {
	return idListLiteral.ReplaceAllStringFunc(line, func(lit string) string {
		first := idListLiteral.FindStringSubmatch(lit)[1]
		return fmt.Sprintf("'{%s,… %d ids}'", first, strings.Count(lit, ",")+1)
	})
}

// errRecorded is what statementRecorder answers instead of running a query.
var errRecorded = errors.New("statement recorded, not run")

// statementRecorder is a tvsync.DB that records the statements sent to it
// and runs none of them.
type statementRecorder struct {
	stmts []syncStatement
}

func (r *statementRecorder) record(sql string, args []any) {
	r.stmts = append(r.stmts, syncStatement{sql: sql, args: args})
}

// SendBatch records every queued statement of b.
func (r *statementRecorder) SendBatch(_ context.Context, b *pgx.Batch) pgx.BatchResults {
	for _, q := range b.QueuedQueries {
		r.record(q.SQL, q.Arguments)
	}
	return recordedResults{}
}

// Exec records the statement and fails with errRecorded.
func (r *statementRecorder) Exec(_ context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	r.record(sql, args)
	return pgconn.CommandTag{}, errRecorded
}

// Query records the statement and fails with errRecorded.
func (r *statementRecorder) Query(_ context.Context, sql string, args ...any) (pgx.Rows, error) {
	r.record(sql, args)
	return nil, errRecorded
}

// QueryRow records the statement and returns a row whose Scan fails with
// errRecorded.
func (r *statementRecorder) QueryRow(_ context.Context, sql string, args ...any) pgx.Row {
	r.record(sql, args)
	return recordedRow{}
}

type recordedRow struct{}

func (recordedRow) Scan(...any) error { return errRecorded }

// recordedResults answers every read of a recorded batch with errRecorded.
type recordedResults struct{}

func (recordedResults) Exec() (pgconn.CommandTag, error) { return pgconn.CommandTag{}, errRecorded }
func (recordedResults) Query() (pgx.Rows, error)         { return nil, errRecorded }
func (recordedResults) QueryRow() pgx.Row                { return recordedRow{} }
func (recordedResults) Close() error                     { return nil }
func (recordedResults) Tx() pgx.Tx                       { return nil }
