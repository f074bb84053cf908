// Package syncuow is the unit-of-work core a domain repository wraps: a
// Runner begins a transaction, hands a fresh Work to the domain's function,
// whose typed writes send their statements through Work.Tx and Record the
// entities they affect, then commits and syncs what was recorded, as its
// Timing says:
//
//   - AfterCommit commits, queueing the changes durably in the same round
//     trip as the COMMIT, then syncs them on a connection of its own and
//     removes them from the queue; a Worker takes them only if that sync
//     fails or the process dies first.
//   - Inline syncs inside the transaction: the writes and their tv_ rows
//     commit or roll back together.
//   - Deferred queues the changes durably in the transaction and commits; a
//     Worker syncs them. RunToken returns a token to wait on until they,
//     and the dependents their syncs queue, are synced (Engine.WaitFor).
//
// A unit of work holds at most one pooled connection at a time (the sync
// after the commit takes its own only once the write transaction's
// connection is back in the pool), so a pool of one connection is enough.
//
// Units of work nest: a Runner begins on a tvsync.Beginner, and when that
// is a pgx.Tx it runs as a savepoint of it. See Runner.Run for what a nested
// unit of work syncs.
package syncuow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/internal/engineapi"
)

// queue is the engine's queue protocol, the unit of work's private API
// (package engineapi): queueing with the commit, syncing in the
// transaction or after it, the token of what was queued.
var queue = engineapi.Get[engineapi.Engine[*tvsync.Engine, tvsync.Beginner, tvsync.DB, tvsync.Change, tvsync.Token]]()

// Errors returned by Run and by a Work. Test for them with errors.Is.
var (
	// ErrCommittedNotSynced is returned by Run in AfterCommit mode when the
	// writes committed but the sync after the commit failed. Nothing is
	// lost: the changes stay in the durable queue and a Worker syncs them.
	ErrCommittedNotSynced = errors.New("syncuow: writes committed but their sync failed; the changes remain queued")
	// ErrDone is returned by a Work's transaction, and by every savepoint
	// begun on it, once the Run call that made the Work has returned (from
	// the moment its fn returned): the transaction is over and its
	// connection back where it came from.
	ErrDone = errors.New("syncuow: unit of work used after its Run returned")
	// ErrTxOwnedByUnitOfWork is returned by Commit and Rollback on a Work's
	// Tx: the unit of work commits when fn returns nil and rolls back when
	// it returns an error. The transaction is left as it was. Savepoints
	// begun on the Tx commit (release) and roll back as usual.
	ErrTxOwnedByUnitOfWork = errors.New("syncuow: the unit of work owns its transaction: it commits when fn returns nil; return an error from fn to roll back")
	// ErrStatementInFlight is returned by Run when a statement sent through
	// the Work (by a goroutine fn started, or Rows fn left unread) was still
	// running when fn returned: the unit of work is rolled back, since
	// that statement's changes could not have been recorded.
	ErrStatementInFlight = errors.New("syncuow: a statement sent through the unit of work was still running when fn returned; rolled back")
	// ErrTxEndedBehindUnitOfWork is returned by Run when fn ended the
	// transaction itself (COMMIT or ROLLBACK sent as SQL, out of pgx's
	// sight): what it wrote before may be committed without its changes
	// synced. Run queues the recorded changes for a Worker and names them.
	ErrTxEndedBehindUnitOfWork = errors.New("syncuow: the unit of work's transaction was ended behind its back (COMMIT or ROLLBACK sent as SQL)")
	// ErrTxAborted is returned by Run when fn returned nil from a failed
	// transaction (a statement failed and fn went on): it is rolled back
	// and nothing is synced or queued.
	ErrTxAborted = errors.New("syncuow: fn returned nil but a statement of the unit of work failed, aborting its transaction; rolled back")
)

// Timing says when a unit of work syncs the changes it recorded (why a
// sync ran is tvsync.Mode, which the sync log records).
type Timing int

const (
	// AfterCommit (the zero Timing) commits, then syncs on a connection of
	// its own. The changes are also queued durably with the commit, and
	// removed by the sync once it succeeds, so a crash or a failure between
	// commit and sync is repaired by a Worker.
	AfterCommit Timing = iota
	// Inline syncs inside the transaction: the writes and the tv_ rows
	// commit or roll back together.
	Inline
	// Deferred queues the changes durably in the transaction and commits
	// without syncing; a Worker (woken by a NOTIFY the engine sends after
	// the commit, or by its poll) syncs them.
	Deferred
)

// String returns the timing's name: "after-commit", "inline" or "deferred".
func (m Timing) String() string {
	switch m {
	case AfterCommit:
		return "after-commit"
	case Inline:
		return "inline"
	case Deferred:
		return "deferred"
	}
	return fmt.Sprintf("Timing(%d)", int(m))
}

// Options configures a Runner. The zero value syncs after commit.
type Options struct {
	// Timing is when units of work sync.
	Timing Timing
	// Logger receives the Runner's logs; nil discards them.
	Logger *slog.Logger
	// AfterCommitGrace is how long, in AfterCommit mode, a queued change is
	// left to the sync that follows the commit before a Worker may take it;
	// zero means DefaultAfterCommitGrace, a negative value is an error of New.
	AfterCommitGrace time.Duration
}

// DefaultAfterCommitGrace is Options.AfterCommitGrace's default.
const DefaultAfterCommitGrace = 10 * time.Second

// validate checks the fields of o that can be wrong: each error names the
// field, its value and what it may be.
func (o Options) validate() error {
	var errs []error
	if o.Timing < AfterCommit || o.Timing > Deferred {
		errs = append(errs, fmt.Errorf("syncuow: Options.Timing: %v: want AfterCommit, Inline or Deferred", o.Timing))
	}
	if o.AfterCommitGrace < 0 {
		errs = append(errs, fmt.Errorf("syncuow: Options.AfterCommitGrace: %v: want > 0 (or 0 for DefaultAfterCommitGrace, %v)", o.AfterCommitGrace, DefaultAfterCommitGrace))
	}
	return errors.Join(errs...)
}

// Runner runs units of work on a tvsync.Beginner and syncs what they record
// with an engine. It is safe for concurrent use.
type Runner struct {
	db     tvsync.Beginner
	engine *tvsync.Engine
	opts   Options
	log    *slog.Logger
}

// New returns a Runner that begins its units of work on db and syncs them
// with engine, as opts says. It fails when db or engine is nil, or a field
// of opts is invalid (the error names it).
//
// db is a *pgxpool.Pool, a *pgx.Conn, or a pgx.Tx (the unit of work then
// runs as a savepoint of it). On a pool or a connection the queued changes
// and the COMMIT go in one round trip; any other database's transaction is
// committed through its Tx, which may be what gives its connection back.
func New(db tvsync.Beginner, engine *tvsync.Engine, opts Options) (*Runner, error) {
	if db == nil || engine == nil {
		return nil, errors.New("syncuow: New needs a database and an engine")
	}
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.AfterCommitGrace == 0 {
		opts.AfterCommitGrace = DefaultAfterCommitGrace
	}
	return &Runner{db: db, engine: engine, opts: opts, log: opts.Logger}, nil
}

// WithTiming returns a Runner sharing r's database, engine and options that
// syncs at timing m.
func (r *Runner) WithTiming(m Timing) *Runner {
	c := *r
	c.opts.Timing = m
	return &c
}

// Timing returns when the Runner's units of work sync.
func (r *Runner) Timing() Timing { return r.opts.Timing }

// Run runs fn in a transaction begun on the Runner's database with a fresh
// Work, commits and syncs what fn recorded as the Runner's Timing says. If fn
// returns an error or panics, the transaction rolls back (even when ctx is
// cancelled) and nothing is synced or queued; fn's error is returned as is
// and a panic goes on up. The Work is closed as soon as fn returns: using it,
// or its Tx, afterwards fails with ErrDone. If a statement sent through the
// Work is still in flight then (a goroutine fn did not wait for, Rows fn did
// not close), Run cancels it, waits for it to end and rolls back with
// ErrStatementInFlight, even when fn returned nil. If fn ended the
// transaction with SQL pgx did not see, Run returns
// ErrTxEndedBehindUnitOfWork (having queued the recorded changes for a
// Worker); if fn returned nil from an aborted transaction, ErrTxAborted.
//
// On a pool, Run holds one connection while fn runs and releases it as soon
// as the transaction ends, before the sync that follows the commit in
// AfterCommit mode takes one of its own: a unit of work never holds two
// connections. When that sync fails, the writes are committed, their changes
// stay queued for a Worker, and Run returns an error wrapping
// ErrCommittedNotSynced.
//
// When the database is a pgx.Tx, the unit of work runs as a savepoint of it:
// an error or panic in fn rolls back to the savepoint only, and success
// releases it. What is synced then depends on whose transaction it is:
//
//   - The Tx of an outer Work (or a savepoint of it): the nested Work's
//     changes are merged into the outer Work when the savepoint is released
//     (and dropped with it when it rolls back), and the outer unit of work
//     syncs them once, as its own Runner's Timing says, when it commits. The
//     nested Runner's Timing does not matter.
//   - Any other transaction (the application's own): Inline syncs inside
//     the savepoint, so the tv_ rows commit with the application's
//     transaction (what its cascades leave for after the commit, beyond
//     Config.InlineLimit or locked by another transaction, is queued ready
//     for a Worker, woken when the application commits); Deferred queues durably with NOTIFY. AfterCommit cannot
//     sync after a commit it does not see, so it behaves as Deferred: the
//     changes are queued durably (a Worker may take them at once, woken when
//     the application's transaction commits) and nothing is lost.
//
// A nil fn returns an error and begins nothing.
func (r *Runner) Run(ctx context.Context, fn func(w *Work) error) error {
	_, err := r.RunToken(ctx, fn)
	return err
}

// RunToken is Run that also returns the unit of work's read-your-writes
// token (see tvsync.Token and Engine.WaitFor), to wait on, in this process
// or, through its String, in another one sharing Config.TokenKey:
//
//   - Inline, and AfterCommit when its sync succeeded: a token whose
//     Reached is true (WaitFor returns at once, without a round trip).
//   - Deferred: a token naming the rows queued with the commit (Reached
//     when nothing was recorded); WaitFor returns once the workers have
//     synced them and the dependents their syncs queued.
//   - AfterCommit whose sync failed (ErrCommittedNotSynced), and Inline
//     whose sync after the commit of what did not fit in the transaction
//     failed: a token naming the rows left queued, with that error.
//   - A unit of work nested in another Work: the zero Token (its changes
//     are the enclosing unit of work's; wait on that one's token).
//   - A unit of work nested in the application's own transaction: a token
//     naming the rows it queued there (Deferred, AfterCommit, and what an
//     Inline one could not sync), valid once that transaction commits.
//
// On any other error, the zero Token.
func (r *Runner) RunToken(ctx context.Context, fn func(w *Work) error) (tvsync.Token, error) {
	if fn == nil {
		return tvsync.Token{}, errors.New("syncuow: Run needs a function to run, got nil")
	}
	if r == nil || r.db == nil || r.engine == nil {
		return tvsync.Token{}, errors.New("syncuow: Run on a Runner without a database or an engine; make it with New")
	}
	switch r.opts.Timing {
	case AfterCommit, Inline, Deferred:
	default:
		return tvsync.Token{}, fmt.Errorf("syncuow: unknown timing %v", r.opts.Timing)
	}
	if parent, ok := r.db.(pgx.Tx); ok {
		return r.runSavepoint(ctx, parent, fn)
	}
	queued, err := r.commitUnit(ctx, fn)
	if err != nil {
		return tvsync.Token{}, err
	}
	if r.opts.Timing == Deferred {
		return queue.Token(r.engine, queued), nil
	}
	if queued == nil || queued.Len() == 0 {
		return queue.ReachedToken(r.engine), nil
	}
	// AfterCommit: the changes queued with the commit; Inline: the rows
	// further along chains of cascades that the sync inside the
	// transaction queued with it. Each sync transaction removes the rows
	// it covers and queues the dependents it finds, so whatever is not
	// synced when this returns stays queued for a Worker.
	if err := queue.SyncQueued(ctx, r.engine, queued); err != nil {
		r.log.ErrorContext(ctx, "tvsync: sync after commit failed; the changes stay queued for the worker", slog.Any("error", err))
		return queue.Token(r.engine, queued), fmt.Errorf("%w: %w", ErrCommittedNotSynced, err)
	}
	return queue.ReachedToken(r.engine), nil
}

// commitUnit runs fn in a transaction of its own, commits it (syncing inside
// it in Inline mode, queueing in the others), closes the Work and releases
// the connection. It returns the rows it queued with the commit: the
// recorded changes (AfterCommit, Deferred), or what the sync inside the
// transaction left for after it (Inline).
func (r *Runner) commitUnit(ctx context.Context, fn func(w *Work) error) (queued engineapi.Queued, err error) {
	var tx pgx.Tx
	// oneTrip: the transaction runs on a connection we see, so the queue
	// rows and COMMIT may go in one round trip that pgx's Tx does not know
	// about; the connection is then idle and released (or reused) as is.
	oneTrip := false
	switch db := r.db.(type) {
	case engineapi.Acquirer:
		conn, err := db.Acquire(ctx)
		if err != nil {
			return nil, fmt.Errorf("syncuow: begin unit of work: %w", err)
		}
		defer conn.Release() // after the rollback below; a connection left in a transaction is closed, not reused
		if tx, err = conn.Begin(ctx); err != nil {
			return nil, fmt.Errorf("syncuow: begin unit of work: %w", err)
		}
		oneTrip = true
	case *pgx.Conn:
		if tx, err = db.Begin(ctx); err != nil {
			return nil, fmt.Errorf("syncuow: begin unit of work: %w", err)
		}
		oneTrip = true
	default:
		// A Beginner we do not know may release a connection only when
		// its Tx's Commit or Rollback is called: commit through the Tx.
		if tx, err = db.Begin(ctx); err != nil {
			return nil, fmt.Errorf("syncuow: begin unit of work: %w", err)
		}
	}
	w := &Work{tx: tx, engine: r.engine}
	interrupt := interrupter(ctx, tx)
	committed := false
	defer func() {
		w.guard.close(interrupt) // after a panic: wait for what is in flight before rolling back
		if !committed {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	err = fn(w)
	// The unit of work ends with fn: nothing sent through it from now on
	// (a goroutine fn left behind) can slip into the commit unrecorded, and
	// a statement still in flight makes it roll back.
	if w.guard.close(interrupt) {
		return nil, inFlightError(err)
	}
	changes := w.Changes()
	if err := r.checkEnded(ctx, tx, changes, err); err != nil {
		return nil, err
	}
	if queued, err = r.commit(ctx, tx, oneTrip, changes); err != nil {
		return nil, err
	}
	committed = true
	return queued, nil
}

// commit syncs or queues changes in tx as the mode says and commits tx. It
// returns the rows it queued for after the commit.
func (r *Runner) commit(ctx context.Context, tx pgx.Tx, oneTrip bool, changes []tvsync.Change) (engineapi.Queued, error) {
	var delay time.Duration
	notify := false
	switch r.opts.Timing {
	case Inline:
		queued, err := queue.SyncTx(ctx, r.engine, tx, changes...)
		if err != nil {
			return nil, fmt.Errorf("syncuow: sync inside unit of work: %w", err)
		}
		if err := tx.Commit(ctx); err != nil {
			return nil, fmt.Errorf("syncuow: commit unit of work: %w", err)
		}
		return queued, nil
	case AfterCommit:
		// The safety net: a worker takes these rows only if the sync after
		// the commit has not removed them within the grace period.
		delay = r.opts.AfterCommitGrace
	case Deferred:
		notify = true
	}
	if oneTrip {
		queued, err := queue.EnqueueAndCommit(ctx, r.engine, tx, delay, notify, changes...)
		if err != nil {
			return nil, fmt.Errorf("syncuow: commit unit of work: %w", err)
		}
		return queued, nil
	}
	// A Beginner we do not know commits through its Tx: queue, commit,
	// then wake the workers (a NOTIFY in the transaction would take the
	// database-wide notify lock at its commit).
	inTx := notify && queue.NotifiesInTransaction(r.engine)
	queued, err := queue.Enqueue(ctx, r.engine, tx, delay, inTx, changes...)
	if err != nil {
		return nil, fmt.Errorf("syncuow: commit unit of work: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("syncuow: commit unit of work: %w", err)
	}
	if notify && !inTx && queued.Len() > 0 {
		queue.WakeWorkers(r.engine)
	}
	return queued, nil
}

// runSavepoint runs fn in a savepoint of parent; see Run and RunToken.
func (r *Runner) runSavepoint(ctx context.Context, parent pgx.Tx, fn func(w *Work) error) (tok tvsync.Token, err error) {
	outer := workOf(parent)
	sp, err := parent.Begin(ctx)
	if err != nil {
		return tvsync.Token{}, fmt.Errorf("syncuow: begin nested unit of work (savepoint): %w", err)
	}
	w := &Work{tx: sp, engine: r.engine}
	interrupt := interrupter(ctx, sp)
	released := false
	defer func() {
		w.guard.close(interrupt)
		if !released {
			_ = sp.Rollback(context.WithoutCancel(ctx))
		}
	}()
	err = fn(w)
	if w.guard.close(interrupt) {
		return tvsync.Token{}, inFlightError(err)
	}
	changes := w.Changes()
	if outer != nil && txStatus(sp) == 'I' {
		// fn ended the enclosing transaction: hand the changes to the
		// outer Work, which finds it ended too and queues them all.
		_ = outer.guard.do("record", func() error { outer.record(changes); return nil })
		return tvsync.Token{}, fmt.Errorf("syncuow: nested unit of work: %w; its changes are left to the enclosing unit of work: %s",
			ErrTxEndedBehindUnitOfWork, describe(changes))
	}
	if err := r.checkEnded(ctx, sp, changes, err); err != nil {
		return tvsync.Token{}, fmt.Errorf("syncuow: nested unit of work: %w", err)
	}
	if outer != nil {
		// Release and merge under the outer Work's guard, so the outer unit
		// of work cannot end between the two: its commit either sees both
		// the savepoint's writes and their changes, or neither.
		if err := outer.guard.do("release nested unit of work", func() error {
			// sp is guarded by outer too: release through what it wraps,
			// not through outer's guard again.
			if err := sp.(guardedTx).Tx.Commit(ctx); err != nil {
				return err
			}
			outer.record(changes)
			return nil
		}); err != nil {
			return tvsync.Token{}, fmt.Errorf("syncuow: release nested unit of work: %w", err)
		}
		released = true
		return tvsync.Token{}, nil
	}
	var queued engineapi.Queued
	switch r.opts.Timing {
	case Inline:
		rest, err := queue.SyncTx(ctx, r.engine, sp, changes...)
		if err != nil {
			return tvsync.Token{}, fmt.Errorf("syncuow: sync inside nested unit of work: %w", err)
		}
		queued = rest
		// What the sync left for after the commit (cascades beyond the
		// InlineLimit, rows another transaction held) waits for a sync that
		// will not come here: nothing sees the application's commit. Queue
		// it again, ready at once, and wake the workers when it commits.
		if rest.Len() > 0 {
			if queued, err = queue.Enqueue(ctx, r.engine, sp, 0, true, queue.Changes(rest)...); err != nil {
				return tvsync.Token{}, fmt.Errorf("syncuow: queue the rest of nested unit of work's cascades: %w", err)
			}
		}
	default:
		// Deferred, and AfterCommit, which cannot see the application's
		// commit: queue durably and wake the workers when it commits (a
		// NOTIFY in its transaction: the one commit tvsync does not see).
		if queued, err = queue.Enqueue(ctx, r.engine, sp, 0, true, changes...); err != nil {
			return tvsync.Token{}, fmt.Errorf("syncuow: queue changes of nested unit of work: %w", err)
		}
	}
	if err := sp.Commit(ctx); err != nil {
		return tvsync.Token{}, fmt.Errorf("syncuow: release nested unit of work: %w", err)
	}
	released = true
	return queue.Token(r.engine, queued), nil
}
