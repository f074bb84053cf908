package syncuow

import (
	"slices"
	"strings"
	gosync "sync"

	"github.com/jackc/pgx/v5"

	tvsync "github.com/tvsync/tvsync/sync"
)

// Work is one unit of work: its transaction and the changes recorded so far.
// A domain wraps it with typed writes that send their statements through Tx
// and Record what they affect. A Work is only valid inside the Run call that
// made it: once Run's fn returns, its Tx (and every savepoint begun on it)
// fails with ErrDone, and Record ignores what it is given.
type Work struct {
	tx     pgx.Tx         // the real transaction (or savepoint); Tx guards it
	engine *tvsync.Engine // the Runner's, for Schedule and the look-ups
	guard  guard

	mu      gosync.Mutex
	changes map[changeKey]struct{}
}

type changeKey struct {
	entity  string
	id      tvsync.ID
	cascade bool
}

// Tx returns the unit of work's transaction, for the domain's writes; record
// what they affect with Record. Its Commit and Rollback fail with
// ErrTxOwnedByUnitOfWork and change nothing: the unit of work commits when
// fn returns nil and rolls back when it returns an error. It fails with
// ErrDone once Run's fn has returned, statements from goroutines fn left
// behind included; a statement still in flight when fn returns (Rows not
// yet closed included) makes Run roll back with ErrStatementInFlight. Its
// LargeObjects and Conn are not guarded: do not keep them, and do not end
// the transaction through them (Run reports ErrTxEndedBehindUnitOfWork).
// Begin on it starts a savepoint whose Commit and Rollback work as usual; a
// Runner given it as its Beginner runs a nested unit of work whose changes
// merge into this one.
func (w *Work) Tx() pgx.Tx { return guardedTx{Tx: w.tx, w: w, owned: true} }

// Record adds changes to sync when the unit of work commits, deduplicated by
// (entity, id, cascade). Changes recorded after Run's fn returned are
// ignored: the unit of work is over. Record is safe for concurrent use, but
// fn must wait for the goroutines it starts: a statement of theirs still in
// flight when fn returns rolls the unit of work back, while one that ended
// before but whose Record comes after commits unrecorded (the unit of work
// cannot tell that goroutine from fn).
func (w *Work) Record(changes ...tvsync.Change) {
	_ = w.guard.do("record", func() error {
		w.record(changes)
		return nil
	})
}

// record adds changes without looking at the guard.
func (w *Work) record(changes []tvsync.Change) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.changes == nil {
		w.changes = map[changeKey]struct{}{}
	}
	for _, c := range changes {
		for _, id := range c.IDs {
			w.changes[changeKey{c.Entity, id, c.Cascade}] = struct{}{}
		}
	}
}

// Changes returns what the unit of work has recorded so far: one change per
// (entity, cascade), entities in name order, plain changes before cascading
// ones, ids sorted.
func (w *Work) Changes() []tvsync.Change {
	type group struct {
		entity  string
		cascade bool
	}
	w.mu.Lock()
	byGroup := map[group][]tvsync.ID{}
	for k := range w.changes {
		g := group{k.entity, k.cascade}
		byGroup[g] = append(byGroup[g], k.id)
	}
	w.mu.Unlock()
	out := make([]tvsync.Change, 0, len(byGroup))
	for g, ids := range byGroup {
		slices.SortFunc(ids, tvsync.ID.Compare)
		out = append(out, tvsync.Change{Entity: g.entity, IDs: ids, Cascade: g.cascade})
	}
	slices.SortFunc(out, func(a, b tvsync.Change) int {
		if c := strings.Compare(a.Entity, b.Entity); c != 0 {
			return c
		}
		switch {
		case a.Cascade == b.Cascade:
			return 0
		case b.Cascade: // plain changes first
			return -1
		}
		return 1
	})
	return out
}

// workOf returns the Work whose Tx (or a savepoint begun on it) db is, or nil.
func workOf(db tvsync.Beginner) *Work {
	if g, ok := db.(guardedTx); ok {
		return g.w
	}
	return nil
}
