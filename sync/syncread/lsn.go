package syncread

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	tvsync "github.com/tvsync/tvsync/sync"
)

// LSN is a position in the primary's write-ahead log (PostgreSQL's pg_lsn),
// the token of a read that must see a write: a replica that has replayed
// up to it shows every transaction committed before it was taken. The zero
// LSN is no token.
type LSN uint64

// ParseLSN parses PostgreSQL's text form of a pg_lsn, "16/B374D848".
func ParseLSN(s string) (LSN, error) {
	hi, lo, ok := strings.Cut(s, "/")
	if !ok {
		return 0, fmt.Errorf("syncread: LSN %q: want two hexadecimal halves separated by a slash", s)
	}
	h, err := strconv.ParseUint(hi, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("syncread: LSN %q: %w", s, err)
	}
	l, err := strconv.ParseUint(lo, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("syncread: LSN %q: %w", s, err)
	}
	return LSN(h<<32 | l), nil
}

// String returns PostgreSQL's text form of the LSN, "16/B374D848".
func (l LSN) String() string { return fmt.Sprintf("%X/%X", uint64(l)>>32, uint32(l)) }

// Querier is what Position needs of the primary: a pool, a connection or a
// transaction.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Position returns the primary's current WAL insert position
// (pg_current_wal_insert_lsn()). Taken after a unit of work has returned
// (its commit and, in the after-commit and inline modes, its sync's
// commit), it is at or past their commit records: a replica that has
// replayed it shows the unit's documents. It is the token of the reads
// that must see the unit's writes (WithToken). In deferred mode the
// documents are written later by a worker: the position after the unit's
// commit does not cover them; PositionAfter, which waits for the unit of
// work's token first, does.
//
// q must be the primary (directly or through PgBouncer): on a replica
// PostgreSQL refuses the function.
func Position(ctx context.Context, q Querier) (LSN, error) {
	var s string
	if err := q.QueryRow(ctx, "SELECT pg_catalog.pg_current_wal_insert_lsn()::text").Scan(&s); err != nil {
		return 0, fmt.Errorf("syncread: read the primary's WAL position: %w", err)
	}
	return ParseLSN(s)
}

// tokenKey is the context key of WithToken.
type tokenKey struct{}

// WithToken returns a context whose reads through a Router (and the
// repository reads built on one) see at least what the primary had
// committed at lsn: they are served by a replica that has replayed lsn,
// or by the primary. A later, larger token replaces an earlier one; a zero
// lsn leaves ctx as it is.
func WithToken(ctx context.Context, lsn LSN) context.Context {
	if lsn == 0 {
		return ctx
	}
	if old, ok := Token(ctx); ok && old >= lsn {
		return ctx
	}
	return context.WithValue(ctx, tokenKey{}, lsn)
}

// Token returns the token WithToken put in ctx, if any.
func Token(ctx context.Context) (LSN, bool) {
	lsn, ok := ctx.Value(tokenKey{}).(LSN)
	return lsn, ok && lsn != 0
}

// PositionAfter is the read-your-writes position of a unit of work in any
// mode: it waits, with e.WaitFor, until every document the unit of work
// that issued t made stale is current (in deferred mode, until a worker
// has synced them and the dependents their syncs queued), then returns the
// primary's Position, which is past the commit of every one of those
// syncs. A token whose Reached is true (inline, after-commit) costs no wait,
// only the position's round trip.
//
// Unless the wait is reached, it returns a zero LSN with the WaitResult
// (timed out: ctx ended; stalled: rows parked dead, or no progress) and a
// nil error, so the caller chooses: read from the primary, or answer that
// the write is not visible yet. An invalid token is an error wrapping
// tvsync.ErrInvalidToken.
func PositionAfter(ctx context.Context, e *tvsync.Engine, primary Querier, t tvsync.Token) (LSN, tvsync.WaitResult, error) {
	res, err := e.WaitFor(ctx, t)
	if err != nil || res.Status != tvsync.WaitReached {
		return 0, res, err
	}
	lsn, err := Position(ctx, primary)
	return lsn, res, err
}
