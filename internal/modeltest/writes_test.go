package modeltest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	gosync "sync"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/syncuow"
)

// An op is one typed write of a unit of work: it sends its statements
// through the Work's transaction and records what it changes, as a team's
// repository would.
type op struct {
	desc string
	run  func(ctx context.Context, w *syncuow.Work) error
}

// domainError is an error of a unit of work's own statements (a foreign key
// whose target another unit deleted, a deadlock between two units' row
// locks): the unit rolls back, as an application's would. It is never the
// engine's.
type domainError struct{ err error }

// domainCodes are the SQLSTATEs a unit of work's own statements may meet
// among concurrent units: a foreign key to a row another unit deleted, a
// key drawn twice, a deadlock or a serialization failure between row locks.
// Any other error of theirs is the harness's.
var domainCodes = []string{"23503", "23505", "40P01", "40001"}

func (e domainError) Error() string { return e.err.Error() }
func (e domainError) Unwrap() error { return e.err }

// ids keeps the ids the history writes to: every row at the last checkpoint
// and those inserted since (some may be gone: a write to a missing row
// changes nothing and is harmless). It is safe for concurrent use.
type ids struct {
	mu gosync.Mutex
	m  map[*Entity][]string
}

func (s *ids) reset(snap *Snapshot, g *Graph) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m = map[*Entity][]string{}
	for _, e := range g.Entities {
		s.m[e] = snap.IDs(e)
	}
}

func (s *ids) add(e *Entity, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[e] = append(s.m[e], id)
}

func (s *ids) remove(e *Entity, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i := slices.Index(s.m[e], id); i >= 0 {
		s.m[e] = slices.Delete(s.m[e], i, i+1)
	}
}

// pick returns a random id of e, or "" when it has none.
func (s *ids) pick(r *rand.Rand, e *Entity) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m[e]) == 0 {
		return ""
	}
	return s.m[e][r.IntN(len(s.m[e]))]
}

// newID returns a fresh key of kind drawn from r: a random uuid, or a
// bigint anywhere in its range, its extremes now and then.
func newID(r *rand.Rand, kind tvsync.KeyKind) string {
	if kind == tvsync.KeyUUID {
		var u uuid.UUID
		for i := range u {
			u[i] = byte(r.Uint32())
		}
		u[6], u[8] = u[6]&0x0f|0x40, u[8]&0x3f|0x80
		return u.String()
	}
	switch r.IntN(40) {
	case 0:
		return fmt.Sprint(int64(math.MinInt64) + int64(r.IntN(3)))
	case 1:
		return fmt.Sprint(int64(math.MaxInt64) - int64(r.IntN(3)))
	}
	return fmt.Sprint(int64(r.Uint64()))
}

// words make names; some need escaping in JSON, one is not ASCII.
var words = []string{"ash", "birch", "cedar", "dune", "elm", "fjord", "grove", "heath", "isle", "jade", "quote\"d", "back\\slash", "émile", "tab\tbed", "<tag>"}

func newName(r *rand.Rand) string {
	return words[r.IntN(len(words))] + " " + words[r.IntN(len(words))] + fmt.Sprint(r.IntN(100))
}

// change is a tvsync.Change of e's ids given as text.
func change(e *Entity, cascade bool, texts ...string) tvsync.Change {
	parsed, err := parseIDs(e.Key, texts)
	if err != nil {
		panic(err) // the history only makes canonical ids
	}
	return tvsync.Change{Entity: e.Name, IDs: parsed, Cascade: cascade}
}

// querier is a pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// query runs a statement returning one text column.
func query(ctx context.Context, q querier, sql string, args ...any) ([]string, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// insertOp inserts a row of e whose foreign keys point to random rows (or
// are null) and records it with cascade: its parents count or list it.
func (m *model) insertOp(r *rand.Rand, e *Entity, fixed map[*FK]string) op {
	id := newID(r, e.Key)
	cols, vals, args := []string{"id", "name", "num"}, []string{"$1::" + e.Key.String(), "$2", "$3"}, []any{id, newName(r), r.Int64N(1000)}
	for _, fk := range e.FKs {
		target, ok := fixed[fk]
		if !ok && r.IntN(4) > 0 {
			target = m.ids.pick(r, fk.To)
		}
		if target != "" {
			args = append(args, target)
			cols, vals = append(cols, fk.Column), append(vals, fmt.Sprintf("$%d::%s", len(args), fk.To.Key))
		}
	}
	sql := fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s)", m.g.Table(e), strings.Join(cols, ", "), strings.Join(vals, ", "))
	return op{desc: fmt.Sprintf("insert %s %s", e.Name, id), run: func(ctx context.Context, w *syncuow.Work) error {
		if _, err := w.Tx().Exec(ctx, sql, args...); err != nil {
			return err
		}
		w.Record(change(e, true, id))
		m.ids.add(e, id)
		return nil
	}}
}

// renameOp renames a row and records it with cascade: its children show
// its title, its parents list it. It counts the cascades larger than the
// engine's BatchSize.
func (m *model) renameOp(r *rand.Rand, e *Entity, id string) op {
	name := newName(r)
	return op{desc: fmt.Sprintf("rename %s %s", e.Name, id), run: func(ctx context.Context, w *syncuow.Work) error {
		tag, err := w.Tx().Exec(ctx, fmt.Sprintf("UPDATE %s SET name = $2 WHERE id = $1::%s", m.g.Table(e), e.Key), id, name)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		w.Record(change(e, true, id))
		var parts []string
		for _, fk := range e.Children {
			parts = append(parts, fmt.Sprintf("(SELECT count(*) FROM %s WHERE %s = $1::%s)", m.g.Table(fk.From), fk.Column, e.Key))
		}
		if len(parts) > 0 {
			var n int64
			if err := w.Tx().QueryRow(ctx, "SELECT "+strings.Join(parts, " + "), id).Scan(&n); err != nil {
				return err
			}
			if n > batchSize {
				m.fig.BigCascades.Add(1)
			}
		}
		return nil
	}}
}

// numOp changes a row's num, which only lists with num embed: it cascades
// only then, as a team that knows its documents would record it.
func (m *model) numOp(r *rand.Rand, e *Entity, id string) op {
	num := r.Int64N(1000)
	return op{desc: fmt.Sprintf("num %s %s", e.Name, id), run: func(ctx context.Context, w *syncuow.Work) error {
		tag, err := w.Tx().Exec(ctx, fmt.Sprintf("UPDATE %s SET num = $2 WHERE id = $1::%s", m.g.Table(e), e.Key), id, num)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		w.Record(change(e, e.NumEmbedded(), id))
		return nil
	}}
}

// reparentOp points a foreign key of a row elsewhere (or to null). It
// records the row with cascade (its document, its title and the parent
// that now holds it change) and the old parent, which it reads first.
func (m *model) reparentOp(r *rand.Rand, e *Entity, id string, fk *FK) op {
	target := ""
	if r.IntN(5) > 0 {
		target = m.ids.pick(r, fk.To)
	}
	return m.moveOp(e, id, fk, target)
}

// moveOp points fk of e's row id to target ("" for null); see reparentOp.
func (m *model) moveOp(e *Entity, id string, fk *FK, target string) op {
	return op{desc: fmt.Sprintf("reparent %s %s.%s", e.Name, id, fk.Column), run: func(ctx context.Context, w *syncuow.Work) error {
		old, err := query(ctx, w.Tx(), fmt.Sprintf("SELECT coalesce(%s::text, '') FROM %s WHERE id = $1::%s FOR UPDATE", fk.Column, m.g.Table(e), e.Key), id)
		if err != nil || len(old) == 0 {
			return err
		}
		var v any
		if target != "" {
			v = target
		}
		if _, err := w.Tx().Exec(ctx, fmt.Sprintf("UPDATE %s SET %s = $2::%s WHERE id = $1::%s", m.g.Table(e), fk.Column, fk.To.Key, e.Key), id, v); err != nil {
			return err
		}
		w.Record(change(e, true, id))
		if old[0] != "" {
			w.Record(change(fk.To, false, old[0]))
		}
		return nil
	}}
}

// deleteOp deletes a row, and with it the rows its ON DELETE CASCADE keys
// take along. Before deleting it locks those rows, level by level, and
// records what the delete changes: with viaExpand what the engine's Expand
// returns, otherwise what its own look-ups find (the rows deleted, the
// children whose key is set to null, with cascade, and the parents of the
// rows deleted).
func (m *model) deleteOp(e *Entity, id string, viaExpand bool) op {
	how := "look-ups"
	if viaExpand {
		how = "Expand"
	}
	return op{desc: fmt.Sprintf("delete %s %s (%s)", e.Name, id, how), run: func(ctx context.Context, w *syncuow.Work) error {
		tx := w.Tx()
		doomed := map[*Entity][]string{}
		seen := map[*Entity]map[string]bool{e: {id: true}}
		frontier := map[*Entity][]string{e: {id}}
		for len(frontier) > 0 {
			next := map[*Entity][]string{}
			for _, ent := range m.g.Entities {
				if len(frontier[ent]) == 0 {
					continue
				}
				locked, err := query(ctx, tx, fmt.Sprintf("SELECT id::text FROM %s WHERE id = ANY($1::text[]::%s[]) ORDER BY id FOR UPDATE", m.g.Table(ent), ent.Key), frontier[ent])
				if err != nil {
					return err
				}
				doomed[ent] = append(doomed[ent], locked...)
				for _, fk := range ent.Children {
					if fk.OnDelete != "CASCADE" || len(locked) == 0 {
						continue
					}
					kids, err := query(ctx, tx, fmt.Sprintf("SELECT id::text FROM %s WHERE %s = ANY($1::text[]::%s[]) ORDER BY id", m.g.Table(fk.From), fk.Column, ent.Key), locked)
					if err != nil {
						return err
					}
					for _, k := range kids {
						if seen[fk.From] == nil {
							seen[fk.From] = map[string]bool{}
						}
						if !seen[fk.From][k] {
							seen[fk.From][k] = true
							next[fk.From] = append(next[fk.From], k)
						}
					}
				}
			}
			frontier = next
		}
		if len(doomed[e]) == 0 {
			return nil // already gone
		}
		isDoomed := func(ent *Entity, k string) bool { return slices.Contains(doomed[ent], k) }
		if viaExpand {
			changes, err := m.engine.Expand(ctx, tx, change(e, true, id))
			if err != nil {
				return err
			}
			w.Record(changes...)
		} else {
			for _, ent := range m.g.Entities {
				if len(doomed[ent]) == 0 {
					continue
				}
				w.Record(change(ent, false, doomed[ent]...))
				for _, fk := range ent.Children {
					if fk.OnDelete != "SET NULL" {
						continue
					}
					kids, err := query(ctx, tx, fmt.Sprintf("SELECT id::text FROM %s WHERE %s = ANY($1::text[]::%s[])", m.g.Table(fk.From), fk.Column, ent.Key), doomed[ent])
					if err != nil {
						return err
					}
					kids = slices.DeleteFunc(kids, func(k string) bool { return isDoomed(fk.From, k) })
					if len(kids) > 0 {
						w.Record(change(fk.From, true, kids...))
					}
				}
				for _, fk := range ent.FKs {
					parents, err := query(ctx, tx, fmt.Sprintf("SELECT DISTINCT %s::text FROM %s WHERE id = ANY($1::text[]::%s[]) AND %s IS NOT NULL", fk.Column, m.g.Table(ent), ent.Key, fk.Column), doomed[ent])
					if err != nil {
						return err
					}
					parents = slices.DeleteFunc(parents, func(k string) bool { return isDoomed(fk.To, k) })
					if len(parents) > 0 {
						w.Record(change(fk.To, false, parents...))
					}
				}
			}
		}
		if _, err := tx.Exec(ctx, fmt.Sprintf("DELETE FROM %s WHERE id = $1::%s", m.g.Table(e), e.Key), id); err != nil {
			return err
		}
		for ent, ks := range doomed {
			for _, k := range ks {
				m.ids.remove(ent, k)
			}
		}
		return nil
	}}
}

// randomOp draws one write: inserts and renames most often, then moves,
// num changes and deletes.
func (m *model) randomOp(r *rand.Rand) op {
	e := m.g.Entities[r.IntN(len(m.g.Entities))]
	id := m.ids.pick(r, e)
	k := r.IntN(100)
	switch {
	case k < 30 || id == "":
		return m.insertOp(r, e, nil)
	case k < 60:
		return m.renameOp(r, e, id)
	case k < 70:
		return m.numOp(r, e, id)
	case k < 88 && len(e.FKs) > 0:
		return m.reparentOp(r, e, id, e.FKs[r.IntN(len(e.FKs))])
	default:
		return m.deleteOp(e, id, r.IntN(2) == 0)
	}
}

// randomOps draws 1 to 4 writes.
func (m *model) randomOps(r *rand.Rand) []op {
	ops := make([]op, 1+r.IntN(4))
	for i := range ops {
		ops[i] = m.randomOp(r)
	}
	return ops
}

// burstOps inserts 8 to 16 children of one parent through fk: a rename of
// the parent then cascades to more ids than the engine's BatchSize.
func (m *model) burstOps(r *rand.Rand, fk *FK, parent string) []op {
	ops := make([]op, batchSize+1+r.IntN(batchSize+2))
	for i := range ops {
		ops[i] = m.insertOp(r, fk.From, map[*FK]string{fk: parent})
	}
	return ops
}

// unit runs ops as one unit of work with runner and classifies its outcome
// into the figures; tr is the trip of ctx, if any. It returns an error only
// for an outcome no fault explains.
func (m *model) unit(ctx context.Context, runner *syncuow.Runner, ops []op, tr *trip) error {
	mode := runner.Timing()
	m.fig.Units[mode].Add(1)
	err := runner.Run(ctx, func(w *syncuow.Work) error {
		for _, o := range ops {
			if err := o.run(ctx, w); err != nil {
				return domainError{fmt.Errorf("%s: %w", o.desc, err)}
			}
		}
		if *expandFlag {
			// The harness's own check of item 1: record everything the
			// changes reach, so that the engine need not follow chains.
			expanded, err := m.engine.Expand(ctx, w.Tx(), w.Changes()...)
			if err != nil {
				return fmt.Errorf("expand the unit's changes: %w", err)
			}
			w.Record(expanded...)
		}
		return nil
	})
	var pgErr *pgconn.PgError
	switch {
	case err == nil:
		m.fig.Ok.Add(1)
	case tr != nil && tr.Fired():
		m.fig.Interrupted.Add(1)
	case errors.As(err, new(domainError)) && errors.As(err, &pgErr) && slices.Contains(domainCodes, pgErr.Code):
		m.fig.Domain.Add(1)
	case m.faulty() && errors.As(err, &pgErr) && pgErr.ConstraintName == faultConstraint:
		m.fig.Rejected.Add(1) // the injected failure of one dependent
	case errors.As(err, &pgErr) && pgErr.Code == "40P01" && !m.items[itemDeadlock]:
		m.fig.EnqueueDeadlocks.Add(1) // issue 18 item 5, not checked yet
	default:
		descs := make([]string, len(ops))
		for i, o := range ops {
			descs[i] = o.desc
		}
		return fmt.Errorf("unit of work (%v: %s): %w", mode, strings.Join(descs, "; "), err)
	}
	return nil
}
