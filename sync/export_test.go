package sync

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// SetSkipLocksForTest turns the per-id advisory locks off, so that tests can
// show the race they prevent.
func SetSkipLocksForTest(e *Engine, skip bool) { e.skipLocks = skip }

// WorkerDrains reports how many drain transactions w has begun.
func WorkerDrains(w *Worker) int64 { return w.drains.Load() }

// LockKeysForTest returns the advisory lock keys, in acquisition order,
// that a sync of ids of entity takes on e.
func LockKeysForTest(e *Engine, entity string, ids []ID) []int64 {
	l := lockPlan{}
	l.addIDs(e.lockPrefix, entity, ids)
	keys, _ := l.sorted()
	return keys
}

// RebuildKeyForTest returns the key of the session lock of a rebuild of entity on e.
func RebuildKeyForTest(e *Engine, entity string) int64 { return rebuildKey(e.lockPrefix, entity) }

// The plan check's names (plans.go), for its tests: the check itself is
// reached by syncdbtest through package engineapi, not from the engine's
// public face.
const (
	PlanRefresh       = planRefresh
	PlanRefreshWide   = planRefreshWide
	PlanRefreshRange  = planRefreshRange
	PlanMissing       = planMissing
	PlanStale         = planStale
	PlanExtra         = planExtra
	PlanOutside       = planOutside
	PlanSubsetMissing = planSubsetMissing
	PlanSubsetStale   = planSubsetStale
)

// PlanCheck and PlanResult are the plan check's outcome types.
type (
	PlanCheck  = planCheck
	PlanResult = planResult
)

// CheckPlansForTest runs the plan check of entity on e.
func CheckPlansForTest(ctx context.Context, e *Engine, entity string) (PlanCheck, error) {
	return e.checkPlans(ctx, entity)
}

// SetWakeUpSendForTest makes e's coalesced wake-ups  call send
// instead of sending their NOTIFY: the crash test holds them there, so that
// its writer dies after its commits and before any wake-up is sent.
func SetWakeUpSendForTest(e *Engine, send func(ctx context.Context) error) { e.notify.sendFn = send }

// The queue protocol and key bounds, off the public face (package
// engineapi serves the siblings), under their former names for the tests.
type Queued = queued

// QueueChannel is the default namespace's LISTEN/NOTIFY channel.
const QueueChannel = queueChannel

var (
	MinID               = minID
	MaxID               = maxID
	NamespaceLockPrefix = namespaceLockPrefix
)

// Enqueue is enqueue.
func (e *Engine) Enqueue(ctx context.Context, tx DB, delay time.Duration, notify bool, changes ...Change) (Queued, error) {
	return e.enqueue(ctx, tx, delay, notify, changes...)
}

// SyncTx is syncTx.
func (e *Engine) SyncTx(ctx context.Context, tx pgx.Tx, mode Mode, changes ...Change) (Report, error) {
	return e.syncTx(ctx, tx, mode, changes...)
}

// SyncQueued is syncQueued.
func (e *Engine) SyncQueued(ctx context.Context, mode Mode, q Queued) (Report, error) {
	return e.syncQueued(ctx, mode, q)
}

// QueueChannel is listenChannel.
func (e *Engine) QueueChannel() string { return e.listenChannel() }

// DrainOnce is drainOnce.
func (w *Worker) DrainOnce(ctx context.Context) (DrainResult, error) { return w.drainOnce(ctx) }

// CheckSession is checkSession.
var CheckSession = checkSession
