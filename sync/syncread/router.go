// Package syncread routes reads of tv_ documents over a primary and any
// number of streaming replicas, with read-your-writes: a read that carries
// a token (an LSN of the primary taken after a unit of work, see Position
// and WithToken) is served by a replica that has replayed past it, waits a
// bounded time for one, then falls back to the primary (or fails, as
// configured); a read without a token goes to any healthy replica, and may
// show a document older than the last write (a replica replays some
// milliseconds behind, or much more when it lags or its replay is paused).
//
// A replica that fails (it cannot be reached, it shuts down, it is not a
// replica) is skipped for Config.RetryAfter, then tried again; one that
// Refresh finds paused is skipped until a Refresh finds it replaying. Run
// refreshes every replica's state and lag periodically; the Router is a
// prometheus.Collector of its counts and of each replica's lag in bytes and
// seconds.
//
// With no replicas a Router reads from the primary alone: behaviour as
// without it.
package syncread

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrNoReplica is returned by Read, with Config.Fallback set to
// FallbackError, when no replica replayed the read's token within
// Config.Wait.
var ErrNoReplica = errors.New("syncread: no replica has replayed the read's token in time")

// Fallback is what a token read does when no replica reaches its token in
// time.
type Fallback int

const (
	// FallbackPrimary (the default) serves the read from the primary.
	FallbackPrimary Fallback = iota
	// FallbackError fails the read with ErrNoReplica.
	FallbackError
)

// Replica is a streaming replica the Router reads from.
type Replica struct {
	// Name labels the replica in metrics and logs; empty means "replicaN",
	// N its index.
	Name string
	// Pool is a pool on the replica (set a connect_timeout on it: a replica
	// that cannot be reached costs a read that long before it is skipped).
	Pool *pgxpool.Pool
}

// Config tunes a Router. The zero value is usable.
type Config struct {
	// Wait bounds how long a token read waits for a replica to replay its
	// token before Fallback; zero means one second.
	Wait time.Duration
	// Poll is how often a waiting token read asks the replicas again; zero
	// means 5 milliseconds.
	Poll time.Duration
	// Fallback is what a token read does when no replica reached its token
	// within Wait.
	Fallback Fallback
	// RetryAfter is how long a replica that failed is skipped before it is
	// tried again; zero means five seconds.
	RetryAfter time.Duration
	// Namespace prefixes the metric names; empty means "tvsync".
	Namespace string
	// Logger receives the replicas' state changes; nil discards them.
	Logger *slog.Logger
}

// Conn is what a read runs on: a connection of the primary or of a replica
// (sqlc's DBTX).
type Conn interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// Router routes reads over a primary and its replicas. It is safe for
// concurrent use.
type Router struct {
	primary  *pgxpool.Pool
	replicas []*replica
	cfg      Config
	log      *slog.Logger
	next     atomic.Uint64 // round-robin start of token-less reads

	primaryReads atomic.Int64
	fallbacks    atomic.Int64
	waited       atomic.Int64
}

// replica is a Replica with its state.
type replica struct {
	name string
	pool *pgxpool.Pool

	served atomic.Int64
	failed atomic.Int64

	mu         sync.Mutex
	downUntil  time.Time // skipped until then after a failure
	paused     bool      // Refresh found its replay paused
	replayed   LSN       // the highest replay position seen
	lagBytes   float64
	lagSeconds float64
}

// New returns a router reading from replicas (none: the primary alone) and
// falling back to primary.
func New(primary *pgxpool.Pool, replicas []Replica, cfg Config) *Router {
	if cfg.Wait <= 0 {
		cfg.Wait = time.Second
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 5 * time.Millisecond
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = 5 * time.Second
	}
	if cfg.Namespace == "" {
		cfg.Namespace = "tvsync"
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Router{primary: primary, cfg: cfg, log: log}
	for i, rep := range replicas {
		name := rep.Name
		if name == "" {
			name = fmt.Sprintf("replica%d", i)
		}
		r.replicas = append(r.replicas, &replica{name: name, pool: rep.Pool})
	}
	return r
}

// Read runs fn on a connection chosen for ctx's token (WithToken): with a
// token, on a replica that has replayed it, checked on that very connection
// just before fn runs, waiting up to Config.Wait for one, else as
// Config.Fallback says; without one, on the next healthy replica in turn;
// on the primary when there is no replica to read from. A replica that
// fails before or during fn (it cannot be reached, shuts down, cancels the
// read for a recovery conflict, lacks the database yet) is skipped and fn
// runs again on the next candidate, so fn may run more than once: it must
// not keep what an earlier run collected. Errors of fn itself (no rows, a
// bad query) are returned as they are.
func (r *Router) Read(ctx context.Context, fn func(ctx context.Context, c Conn) error) error {
	token, hasToken := Token(ctx)
	if len(r.replicas) > 0 {
		if !hasToken {
			start := int(r.next.Add(1))
			for i := range r.replicas {
				rep := r.replicas[(start+i)%len(r.replicas)]
				if !rep.usable(time.Now()) {
					continue
				}
				if done, err := r.tryReplica(ctx, rep, 0, fn); done {
					return err
				}
			}
		} else {
			done, err := r.readAt(ctx, token, fn)
			if done {
				return err
			}
		}
	}
	r.primaryReads.Add(1)
	conn, err := r.primary.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("syncread: acquire a connection of the primary: %w", err)
	}
	defer conn.Release()
	return fn(ctx, conn)
}

// readAt serves a token read from a replica that has replayed token,
// waiting up to Config.Wait; done is false when the primary must serve it.
func (r *Router) readAt(ctx context.Context, token LSN, fn func(context.Context, Conn) error) (done bool, err error) {
	deadline := time.Now().Add(r.cfg.Wait)
	waited := false
	for {
		live := 0
		now := time.Now()
		start := int(r.next.Add(1))
		for i := range r.replicas {
			rep := r.replicas[(start+i)%len(r.replicas)]
			if !rep.usable(now) {
				continue
			}
			live++
			if done, err := r.tryReplica(ctx, rep, token, fn); done {
				return true, err
			}
		}
		if live == 0 {
			return false, nil // no replica to wait for: the primary at once
		}
		if !time.Now().Before(deadline) {
			break
		}
		if !waited {
			waited = true
			r.waited.Add(1)
		}
		select {
		case <-ctx.Done():
			return true, fmt.Errorf("syncread: wait for a replica to replay %s: %w", token, ctx.Err())
		case <-time.After(r.cfg.Poll):
		}
	}
	r.fallbacks.Add(1)
	if r.cfg.Fallback == FallbackError {
		return true, fmt.Errorf("%w: %s within %s", ErrNoReplica, token, r.cfg.Wait)
	}
	return false, nil
}

// tryReplica runs fn on rep when rep has replayed token (zero: any
// position). done is false when rep could not serve the read: it is behind
// token, or it failed (and is then skipped for RetryAfter).
func (r *Router) tryReplica(ctx context.Context, rep *replica, token LSN, fn func(context.Context, Conn) error) (done bool, err error) {
	conn, err := rep.pool.Acquire(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return true, fmt.Errorf("syncread: acquire a connection of %s: %w", rep.name, err)
		}
		r.markDown(rep, err)
		return false, nil
	}
	defer conn.Release()
	if token != 0 {
		// On this very connection: a replica that restarted may show an
		// older state than the position an earlier connection saw.
		var s *string
		if err := conn.QueryRow(ctx, "SELECT pg_catalog.pg_last_wal_replay_lsn()::text").Scan(&s); err != nil {
			if ctx.Err() != nil {
				return true, fmt.Errorf("syncread: read the replay position of %s: %w", rep.name, err)
			}
			r.markDown(rep, err)
			return false, nil
		}
		if s == nil {
			r.markDown(rep, errors.New("pg_last_wal_replay_lsn() is null: not a replica"))
			return false, nil
		}
		at, err := ParseLSN(*s)
		if err != nil {
			r.markDown(rep, err)
			return false, nil
		}
		rep.observe(at)
		if at < token {
			return false, nil
		}
	}
	err = fn(ctx, conn)
	if err != nil && ctx.Err() == nil && replicaFault(conn, err) {
		r.markDown(rep, err)
		return false, nil
	}
	rep.served.Add(1)
	return true, err
}

// replicaFault reports whether err, returned by a read on conn of a
// replica, is the replica's fault rather than the read's: the connection is
// lost, the server shuts down or does not accept connections yet, the read
// was cancelled by a recovery conflict, or the database is not there yet.
func replicaFault(conn *pgxpool.Conn, err error) bool {
	if conn.Conn().IsClosed() || pgconn.SafeToRetry(err) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "57P01", "57P02", "57P03", "40001", "3D000", "08006", "08003", "08000":
			return true
		}
	}
	return false
}

// markDown skips rep for RetryAfter.
func (r *Router) markDown(rep *replica, err error) {
	rep.failed.Add(1)
	rep.mu.Lock()
	wasUp := time.Now().After(rep.downUntil)
	rep.downUntil = time.Now().Add(r.cfg.RetryAfter)
	rep.mu.Unlock()
	if wasUp {
		r.log.Warn("syncread: replica skipped", "replica", rep.name, "retry_in", r.cfg.RetryAfter, "error", err)
	}
}

// usable reports whether rep may serve reads now: not skipped after a
// failure, not found paused.
func (rep *replica) usable(now time.Time) bool {
	rep.mu.Lock()
	defer rep.mu.Unlock()
	return !rep.paused && !now.Before(rep.downUntil)
}

// observe records a replay position seen on rep.
func (rep *replica) observe(at LSN) {
	rep.mu.Lock()
	rep.replayed = max(rep.replayed, at)
	rep.mu.Unlock()
}
