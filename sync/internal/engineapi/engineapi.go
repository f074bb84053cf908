// Package engineapi is the engine's private API for the packages under
// sync/: what a sibling (the unit of work, the operator CLI, the test kit,
// plancheck) needs from package sync that no application calls: the unit
// of work's queue protocol, the first key of a kind, the namespace check.
// Package sync fills it in its init, with its own types as the type
// arguments; a sibling reads it with the same arguments (Get), so every
// call stays typed while the names stay off the kit's public face.
package engineapi

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Engine holds the engine's private functions, each taking the engine
// first. The type parameters are package sync's types: E is
// *tvsync.Engine, Beginner tvsync.Beginner, DB tvsync.DB, Change
// tvsync.Change and Token tvsync.Token.
type Engine[E, Beginner, DB, Change, Token any] struct {
	// Pool is the database the engine was built on.
	Pool func(e E) Beginner
	// EnqueueAndCommit queues changes on tx and commits it in one round
	// trip, returning the rows queued, for SyncQueued (the unit of work's
	// after-commit protocol). On success tx is committed and must not be
	// used again; on error it did not commit.
	EnqueueAndCommit func(ctx context.Context, e E, tx pgx.Tx, delay time.Duration, notify bool, changes ...Change) (Queued, error)
	// Enqueue queues changes on tx, ready once delay has passed, with a
	// NOTIFY in tx when notify is set, and returns the rows queued.
	Enqueue func(ctx context.Context, e E, tx DB, delay time.Duration, notify bool, changes ...Change) (Queued, error)
	// SyncTx syncs changes (incrementally) inside tx, which the caller
	// commits, and returns the dependents it queued there, for SyncQueued
	// once tx has committed.
	SyncTx func(ctx context.Context, e E, tx pgx.Tx, changes ...Change) (Queued, error)
	// SyncQueued syncs (incrementally) the changes q names and removes
	// their rows in the transactions that sync them.
	SyncQueued func(ctx context.Context, e E, q Queued) error
	// Changes returns the changes q's rows queued, one per row.
	Changes func(q Queued) []Change
	// Token returns the read-your-writes token of the rows q names.
	Token func(e E, q Queued) Token
	// ReachedToken returns a token naming nothing to wait for.
	ReachedToken func(e E) Token
	// NotifiesInTransaction reports Config.NotifyInTransaction.
	NotifiesInTransaction func(e E) bool
	// WakeWorkers wakes the engine's workers after a commit (coalesced).
	WakeWorkers func(e E)
	// QueueChannel is the LISTEN/NOTIFY channel of the engine's namespace.
	QueueChannel func(e E) string
	// CheckNamespace reports whether ns is a valid Config.Namespace; its
	// error wraps tvsync.ErrInvalidNamespace.
	CheckNamespace func(ns string) error
	// CheckPlans checks that every refresh plan of the entity builds the
	// documents of its Source view and writes only its ids, all rolled
	// back.
	CheckPlans func(ctx context.Context, e E, entity string) (PlanCheck, error)
}

// Keys holds package sync's key functions; KeyKind is tvsync.KeyKind and ID
// tvsync.ID.
type Keys[KeyKind, ID any] struct {
	// MinID returns the smallest id of kind, which a keyset bound
	// (IDsAfter's after) includes: where a listing starts.
	MinID func(kind KeyKind) ID
}

// Workers holds the worker's private functions; Worker is *tvsync.Worker
// and DrainResult tvsync.DrainResult.
type Workers[Worker, DrainResult any] struct {
	// DrainOnce takes one batch of ready rows, syncs it and removes the
	// synced rows.
	DrainOnce func(ctx context.Context, w Worker) (DrainResult, error)
}

// Queued names rows of tvsync.sync_queue a unit of work queued, or the
// dependents a sync inside a transaction queued there for after its
// commit: package sync's own type, opaque to its siblings.
type Queued interface {
	// Len is how many queued rows it names.
	Len() int
}

// Acquirer is a pool that hands out connections, such as *pgxpool.Pool.
type Acquirer interface {
	Acquire(ctx context.Context) (*pgxpool.Conn, error)
}

// PlanCheck is the outcome of Engine.CheckPlans: whether every plan matched
// and, as its String, a report naming each plan and its first differing ids.
type PlanCheck interface {
	OK() bool
	fmt.Stringer
}

// registered holds what package sync set (an Engine, a Keys, a Workers), as
// any.
var registered []any

// Set records f, one of Engine, Keys or Workers; package sync calls it in
// its init.
func Set[F any](f F) {
	registered = append(registered, f)
}

// Get returns what package sync set of type F (Engine, Keys or Workers with
// package sync's types as arguments). It panics when package sync has not
// set it, or set it with other type arguments: a bug of the kit, not of its
// caller.
func Get[F any]() F {
	for _, f := range registered {
		if v, ok := f.(F); ok {
			return v
		}
	}
	var zero F
	panic(fmt.Sprintf("engineapi: package sync set no %T", zero))
}
