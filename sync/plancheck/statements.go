// Package plancheck measures what each sync statement of a registered entity
// costs on real data, and checks that the cost follows the batch, not the
// table.
//
// [Statements] captures every statement the engine sends for an entity (the
// refresh, its set-based plan for large batches, the delete of missing rows,
// the full-sync range refresh and range delete, each cascade look-up and the
// verify chunk) with real parameters: a batch of the entity's first ids, and
// the keyset range those ids span. [Explain] runs one of them under EXPLAIN
// (ANALYZE, BUFFERS, FORMAT JSON) in a transaction it rolls back and reports
// the shared buffers it touched. [Measure] does both for every entity of an
// engine, and [Compare] (or [Check], which does all of it) takes two such
// measurements of the same schema at data scales at least ten times apart
// and reports every statement that reads some table in proportion to the
// table rather than to its batch: a plan bounded by its batch examines about
// as many rows, and touches about as many buffers, of each table at either
// scale; a plan that reads a table whole does ten times more of both. The
// judgement is per table, not over the whole statement: at the small scale
// a batch that is a tenth of a table is rightly served by reading it whole,
// which makes the statement's buffers at the large scale, bounded but
// reached through an index, look several times costlier; and a table read
// whole can hide behind the batch's own pages.
//
// Nothing in the package knows the blog: it works on any entity registered
// with a [sync.Engine], so a team checks its own statements with it.
package plancheck

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	tvsync "github.com/tvsync/tvsync/sync"
)

// Role says what the engine sends a statement for.
type Role string

// The roles of an entity's sync statements, in the order [Statements]
// returns them.
const (
	// RoleRefresh is Entity.Refresh: the upsert of a batch of ids.
	RoleRefresh Role = "refresh"
	// RoleWideRefresh is Entity.RefreshWide: the refresh planned for
	// large batches.
	RoleWideRefresh Role = "wide refresh"
	// RoleDeleteMissing is Entity.DeleteMissing: the delete of the tv_
	// rows of a batch whose command row is gone.
	RoleDeleteMissing Role = "delete-missing"
	// RoleRangeRefresh is Entity.RefreshRange: the refresh of a full-sync
	// chunk, a keyset range of ids.
	RoleRangeRefresh Role = "range refresh"
	// RoleRangeDeleteMissing is Entity.DeleteMissingRange: the delete of
	// the orphans of a full-sync chunk.
	RoleRangeDeleteMissing Role = "range delete-missing"
	// RoleLookup is a Cascade's Lookup: the ids of a dependent entity that
	// embed a batch of ids.
	RoleLookup Role = "cascade lookup"
	// RoleVerify is Entity.Verify: the comparison of a keyset range of tv_
	// rows with their definition.
	RoleVerify Role = "verify"
)

// Statement is one statement the engine sends for an entity, as the
// entity's registered builder queues it: the SQL text and the arguments it
// was called with.
type Statement struct {
	// Entity is the name of the entity the statement belongs to.
	Entity string
	// Role says what the engine sends the statement for.
	Role Role
	// Dependent is, for a RoleLookup statement, the entity whose ids the
	// lookup lists; it is empty for other roles.
	Dependent string
	// Seq is the statement's position among the entity's statements. The
	// same registration always yields the same sequence, so Entity and Seq
	// identify a statement across databases.
	Seq int
	// Batch is how many ids the statement covers: the batch of ids it is
	// called with, or the ids of the command table in its keyset range.
	Batch int
	// SQL is the statement's text, as sent.
	SQL string
	// Args are the statement's arguments, as sent.
	Args []any
}

// Name returns the sqlc query name from the statement's "-- name: X :cmd"
// header, or "" when the text has none.
func (s Statement) Name() string {
	first, _, _ := strings.Cut(strings.TrimSpace(s.SQL), "\n")
	rest, ok := strings.CutPrefix(strings.TrimSpace(first), "-- name:")
	if !ok {
		return ""
	}
	fields := strings.Fields(rest)
	if len(fields) == 0 {
		return ""
	}
	return fields[0]
}

// Label names the statement for people: its entity, its query name (or its
// position when it has none) and its role.
func (s Statement) Label() string {
	name := s.Name()
	if name == "" {
		name = fmt.Sprintf("#%d", s.Seq)
	}
	role := string(s.Role)
	if s.Dependent != "" {
		role += " of " + s.Dependent
	}
	return fmt.Sprintf("%s %s (%s)", s.Entity, name, role)
}

// Statements returns every sync statement of ent for a batch of up to n ids:
// the entity's first n command-side ids in id order (listed with
// ent.IDsAfter on conn), and the keyset range of a full-sync chunk that
// holds exactly those ids. Nothing is sent but the listing of ids; see
// [Capture]. When the table holds fewer than n rows, the batch is all of
// them.
func Statements(ctx context.Context, conn tvsync.DB, ent tvsync.Entity, n int) ([]Statement, error) {
	if n < 1 {
		return nil, fmt.Errorf("plancheck: batch of %d ids for entity %q: want at least 1", n, ent.Name)
	}
	if ent.IDsAfter == nil {
		return nil, fmt.Errorf("plancheck: entity %q registers no IDsAfter", ent.Name)
	}
	ids, err := ent.IDsAfter(ctx, conn, minID(ent.Key), n)
	if err != nil {
		return nil, fmt.Errorf("plancheck: list the first %d ids of entity %q: %w", n, ent.Name, err)
	}
	return Capture(ctx, ent, ids)
}

// Capture calls ent's registered statement builders with ids and records
// what each would send, without sending anything: the refresh (and its
// set-based plan for large batches, if registered), the delete of missing
// rows, the full-sync range refresh and range delete of the keyset range
// (minID, last id] (restricted to ids), each cascade lookup, then the verify
// chunk of the same range. ids must be sorted, as the engine sends them. ctx
// only reaches the recording, never a connection.
func Capture(ctx context.Context, ent tvsync.Entity, ids []tvsync.ID) ([]Statement, error) {
	first := minID(ent.Key)
	upto := first
	if len(ids) > 0 {
		upto = ids[len(ids)-1]
	}
	type queued struct {
		role      Role
		dependent string
	}
	var roles []queued
	var p tvsync.Pipeline
	if ent.Refresh != nil {
		ent.Refresh(&p, ids)
		roles = append(roles, queued{role: RoleRefresh})
	}
	if ent.RefreshWide != nil {
		ent.RefreshWide(&p, ids)
		roles = append(roles, queued{role: RoleWideRefresh})
	}
	if ent.DeleteMissing != nil {
		ent.DeleteMissing(&p, ids)
		roles = append(roles, queued{role: RoleDeleteMissing})
	}
	if ent.RefreshRange != nil && ent.DeleteMissingRange != nil && len(ids) > 0 {
		ent.RefreshRange(&p, first, upto, ids)
		ent.DeleteMissingRange(&p, first, upto, ids)
		roles = append(roles, queued{role: RoleRangeRefresh}, queued{role: RoleRangeDeleteMissing})
	}
	for _, c := range ent.Cascades {
		if c.Lookup == nil {
			continue
		}
		c.Lookup(&p, ids)
		roles = append(roles, queued{role: RoleLookup, dependent: c.Entity})
	}
	rec := &recorder{}
	p.Send(ctx, rec)
	if len(rec.stmts) != len(roles) {
		return nil, fmt.Errorf("plancheck: entity %q queued %d statements for %d builders: each must queue exactly one", ent.Name, len(rec.stmts), len(roles))
	}
	for i := range rec.stmts {
		rec.stmts[i].Role, rec.stmts[i].Dependent = roles[i].role, roles[i].dependent
	}
	if ent.Verify != nil && len(ids) > 0 {
		before := len(rec.stmts)
		if _, err := ent.Verify(ctx, rec, first, upto); err != nil && !errors.Is(err, errRecorded) {
			return nil, fmt.Errorf("plancheck: capture the verify statement of entity %q: %w", ent.Name, err)
		}
		if len(rec.stmts) != before+1 {
			return nil, fmt.Errorf("plancheck: entity %q: verify sent %d statements, want 1", ent.Name, len(rec.stmts)-before)
		}
		rec.stmts[before].Role = RoleVerify
	}
	for i := range rec.stmts {
		rec.stmts[i].Entity, rec.stmts[i].Seq, rec.stmts[i].Batch = ent.Name, i, len(ids)
	}
	return rec.stmts, nil
}

// errRecorded is what recorder answers instead of running a query.
var errRecorded = errors.New("plancheck: statement recorded, not run")

// recorder is a sync.DB that records the statements sent to it and runs
// none of them.
type recorder struct {
	stmts []Statement
}

func (r *recorder) record(sql string, args []any) {
	r.stmts = append(r.stmts, Statement{SQL: sql, Args: args})
}

// SendBatch records every queued statement of b.
func (r *recorder) SendBatch(_ context.Context, b *pgx.Batch) pgx.BatchResults {
	for _, q := range b.QueuedQueries {
		r.record(q.SQL, q.Arguments)
	}
	return recordedResults{}
}

// Exec records the statement and fails with errRecorded.
func (r *recorder) Exec(_ context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	r.record(sql, args)
	return pgconn.CommandTag{}, errRecorded
}

// Query records the statement and fails with errRecorded.
func (r *recorder) Query(_ context.Context, sql string, args ...any) (pgx.Rows, error) {
	r.record(sql, args)
	return nil, errRecorded
}

// QueryRow records the statement and returns a row whose Scan fails with
// errRecorded.
func (r *recorder) QueryRow(_ context.Context, sql string, args ...any) pgx.Row {
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
