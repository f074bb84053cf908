// Package engineapi is the engine's private API for the packages under
// sync/: what a sibling (the unit of work, the test kit, plancheck) needs
// from a tvsync.Engine that no application calls. Package sync fills it in
// its init, with its own types as the type arguments; a sibling reads it
// with the same arguments (Get), so every call stays typed while the
// methods stay off the engine's public face.
package engineapi

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Funcs holds the engine's private functions, each taking the engine first.
// The type parameters are package sync's types: Engine is *tvsync.Engine,
// Beginner tvsync.Beginner, Change tvsync.Change and Queued tvsync.Queued.
type Funcs[Engine, Beginner, Change, Queued any] struct {
	// Pool is the database the engine was built on.
	Pool func(e Engine) Beginner
	// EnqueueAndCommit queues changes on tx and commits it in one round
	// trip, returning the rows queued for Engine.SyncQueued (the unit of
	// work's after-commit protocol). On success tx is committed and must not
	// be used again; on error it did not commit.
	EnqueueAndCommit func(ctx context.Context, e Engine, tx pgx.Tx, delay time.Duration, notify bool, changes ...Change) (Queued, error)
	// CheckPlans checks that every refresh plan of the entity builds the
	// documents of its Source view and writes only its ids, all rolled
	// back.
	CheckPlans func(ctx context.Context, e Engine, entity string) (PlanCheck, error)
}

// PlanCheck is the outcome of Funcs.CheckPlans: whether every plan matched
// and, as its String, a report naming each plan and its first differing ids.
type PlanCheck interface {
	OK() bool
	fmt.Stringer
}

// funcs is the Funcs value package sync set, as any.
var funcs any

// Set records f; package sync calls it once, in its init.
func Set[Engine, Beginner, Change, Queued any](f Funcs[Engine, Beginner, Change, Queued]) {
	funcs = f
}

// Get returns the Funcs package sync set. It panics when package sync has
// not set them, or set them with other type arguments: a bug of the kit,
// not of its caller.
func Get[Engine, Beginner, Change, Queued any]() Funcs[Engine, Beginner, Change, Queued] {
	f, ok := funcs.(Funcs[Engine, Beginner, Change, Queued])
	if !ok {
		panic(fmt.Sprintf("engineapi: package sync set %T, not the Funcs asked for", funcs))
	}
	return f
}
