package sync

import (
	"context"
	"fmt"
	"log/slog"
	gosync "sync"
	"time"

	"github.com/tvsync/tvsync/sync/internal/dbsqlc"
)

// Defaults of the Config fields of read-your-writes waits.
const (
	// DefaultWaitInterval is Config.WaitInterval's default.
	DefaultWaitInterval = 5 * time.Millisecond
	// DefaultStallAfter is Config.StallAfter's default.
	DefaultStallAfter = 30 * time.Second
	// waitNamed is how many of its rows a stalled wait names.
	waitNamed = 10
)

// WaitStatus is how a wait on a Token ended.
type WaitStatus int

const (
	// WaitReached: every row the token names is synced, with the
	// dependents their syncs queued; every document the unit of work made
	// stale is current.
	WaitReached WaitStatus = iota
	// WaitTimedOut: the context ended first.
	WaitTimedOut
	// WaitStalled: some rows are parked dead (they will not be synced
	// until RetryDead), or none of the rows made progress for
	// Config.StallAfter (no worker runs, or every try fails).
	WaitStalled
)

// String returns "reached", "timed out" or "stalled".
func (s WaitStatus) String() string {
	switch s {
	case WaitReached:
		return "reached"
	case WaitTimedOut:
		return "timed out"
	case WaitStalled:
		return "stalled"
	}
	return fmt.Sprintf("WaitStatus(%d)", int(s))
}

// WaitResult is how a wait ended and, unless reached, what it still waited
// for when it ended.
type WaitResult struct {
	Status WaitStatus
	// Pending is how many queued rows the wait still waited for (the
	// token's, and their dependents'), as last seen; Dead how many of them
	// are parked dead.
	Pending, Dead int
	// Rows names some of them (dead ones first; at most 10), as last seen:
	// for a stalled wait, what to look at.
	Rows []PendingRow
}

// PendingRow is a queued row a wait waits for.
type PendingRow struct {
	Seq    int64
	Entity string
	// ID is the id as tvsync.sync_queue stores it (ID.String).
	ID        string
	Dead      bool
	LastError string
}

// WaitFor waits until every document the unit of work that issued t made
// stale is current: until the rows t names are synced, and so are the
// dependents their syncs queued, level after level (see lineage.go). It
// returns WaitReached then; WaitTimedOut when ctx ends first (the error is
// nil: the caller asked for that bound); WaitStalled when some of the rows
// are parked dead, or none made progress for Config.StallAfter, naming
// some of them. A token whose Reached is true returns WaitReached at once,
// without a database round trip.
//
// A zero token, or one ParseToken would reject (another namespace, another
// key), is an error wrapping ErrInvalidToken, returned at once. An error
// is also returned when the database could not be read for
// Config.StallAfter.
//
// A wait holds no connection: the engine checks the tokens of all its
// waiters in one statement every Config.WaitInterval, on a connection of
// its pool held for that statement only, so any number of waiters costs one
// statement per interval.
func (e *Engine) WaitFor(ctx context.Context, t Token) (WaitResult, error) {
	if t.IsZero() {
		return WaitResult{}, fmt.Errorf("%w: the zero Token", ErrInvalidToken)
	}
	// Re-read: a token of another engine's namespace or key is rejected.
	t, err := e.ParseToken(t.text)
	if err != nil {
		return WaitResult{}, err
	}
	if t.reached {
		return WaitResult{Status: WaitReached}, nil
	}
	w := &waiter{ranges: t.ranges, done: make(chan waitOutcome, 1), since: time.Now(), maxSeq: -1, pending: -1}
	e.waits.add(w)
	select {
	case o := <-w.done:
		return o.res, o.err
	case <-ctx.Done():
		e.waits.remove(w)
		select {
		case o := <-w.done: // ended meanwhile
			return o.res, o.err
		default:
		}
		res := w.last()
		res.Status = WaitTimedOut
		return res, nil
	}
}

// waitOutcome ends a wait.
type waitOutcome struct {
	res WaitResult
	err error
}

// waiter is one WaitFor call.
type waiter struct {
	id     int32
	ranges []seqRange
	done   chan waitOutcome // receives once

	// Owned by the loop, read under waitLoop.mu by a timed-out WaitFor.
	since   time.Time // of the last progress
	pending int64     // -1: not seen yet
	maxSeq  int64
	seen    WaitResult
	mu      gosync.Mutex
}

// last returns what the loop last saw of w's rows.
func (w *waiter) last() WaitResult {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.seen
}

// waitLoop checks the tokens of an engine's waiters: one goroutine that
// runs while there are waiters, and one statement per interval for them all.
type waitLoop struct {
	e       *Engine
	mu      gosync.Mutex
	next    int32
	waiters map[int32]*waiter
	running bool
}

// initWait sets up the engine's notifier, wait loop and token key; cfg's
// defaults are set.
func (e *Engine) initWait() {
	e.notify = &notifier{e: e, interval: e.cfg.NotifyInterval}
	e.waits = &waitLoop{e: e, waiters: map[int32]*waiter{}}
	e.tokenKey = e.cfg.TokenKey
}

// setWaitDefaults fills in the defaults of the wake-up and wait fields of cfg
// and checks its TokenKey (a random one when nil).
func setWaitDefaults(cfg *Config) error {
	if cfg.NotifyInterval <= 0 {
		cfg.NotifyInterval = DefaultNotifyInterval
	}
	if cfg.WaitInterval <= 0 {
		cfg.WaitInterval = DefaultWaitInterval
	}
	if cfg.StallAfter <= 0 {
		cfg.StallAfter = DefaultStallAfter
	}
	key, err := setTokenKey(cfg)
	if err != nil {
		return err
	}
	cfg.TokenKey = key
	return nil
}

// add registers w and starts the loop if it is not running.
func (l *waitLoop) add(w *waiter) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.next++
	w.id = l.next
	l.waiters[w.id] = w
	if !l.running {
		l.running = true
		go l.run()
	}
}

// remove forgets w (its WaitFor has returned).
func (l *waitLoop) remove(w *waiter) {
	l.mu.Lock()
	delete(l.waiters, w.id)
	l.mu.Unlock()
}

// end forgets w and hands it its outcome.
func (l *waitLoop) end(w *waiter, o waitOutcome) {
	l.remove(w)
	w.done <- o
}

// run checks the waiters' tokens, at once and then every interval, until
// there are none; then it stops (add starts it again).
func (l *waitLoop) run() {
	e := l.e
	var failingSince time.Time
	for first := true; ; first = false {
		if !first {
			time.Sleep(e.cfg.WaitInterval)
		}
		l.mu.Lock()
		if len(l.waiters) == 0 {
			l.running = false
			l.mu.Unlock()
			return
		}
		batch := make([]*waiter, 0, len(l.waiters))
		params := dbsqlc.WaitPendingParams{Namespace: e.cfg.Namespace, MaxNamed: waitNamed}
		for _, w := range l.waiters {
			batch = append(batch, w)
			for _, r := range w.ranges {
				params.Waiters = append(params.Waiters, w.id)
				params.Los = append(params.Los, r.lo)
				params.His = append(params.His, r.hi)
			}
		}
		l.mu.Unlock()

		ctx, cancel := context.WithTimeout(context.Background(), max(e.cfg.StallAfter, time.Second))
		rows, err := e.waitPending(ctx, params)
		cancel()
		now := time.Now()
		if err != nil {
			if failingSince.IsZero() {
				failingSince = now
				e.log.Warn("tvsync: cannot read the queue for read-your-writes waits; retrying", slog.Any("error", err))
			}
			if now.Sub(failingSince) >= e.cfg.StallAfter {
				for _, w := range batch {
					l.end(w, waitOutcome{err: fmt.Errorf("tvsync: wait for token: read tvsync.sync_queue: %w", err)})
				}
			}
			continue
		}
		failingSince = time.Time{}
		got := make(map[int32]dbsqlc.WaitPendingRow, len(rows))
		for _, r := range rows {
			got[r.Waiter] = r
		}
		for _, w := range batch {
			r, ok := got[w.id]
			if !ok {
				l.end(w, waitOutcome{res: WaitResult{Status: WaitReached}})
				continue
			}
			res := WaitResult{Pending: int(r.Pending), Dead: int(r.Dead)}
			for i := range r.Seqs {
				res.Rows = append(res.Rows, PendingRow{Seq: r.Seqs[i], Entity: r.Entities[i], ID: r.EntityIds[i], Dead: r.Deads[i], LastError: r.LastErrors[i]})
			}
			w.mu.Lock()
			if r.Pending != w.pending || r.MaxSeq != w.maxSeq {
				// Rows synced (fewer), or dependents queued (a new seq).
				w.pending, w.maxSeq, w.since = r.Pending, r.MaxSeq, now
			}
			w.seen = res
			stalled := r.Dead > 0 || now.Sub(w.since) >= e.cfg.StallAfter
			w.mu.Unlock()
			if stalled {
				res.Status = WaitStalled
				l.end(w, waitOutcome{res: res})
			}
		}
	}
}

// waitPending runs WaitPending for params on a connection of the pool,
// planned afresh (see indexPlans): one round trip.
func (e *Engine) waitPending(ctx context.Context, params dbsqlc.WaitPendingParams) (rows []dbsqlc.WaitPendingRow, err error) {
	p := &Pipeline{}
	e.indexPlans(ctx, p)
	pending := e.queries.WaitPending(ctx, p, []dbsqlc.WaitPendingParams{params})
	p.Send(ctx, e.pool)
	pending.Query(func(_ int, r []dbsqlc.WaitPendingRow, qerr error) { rows, err = r, qerr })
	if cerr := p.Close(); err == nil && cerr != nil {
		err = cerr
	}
	return rows, err
}
