package syncuow

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	tvsync "github.com/tvsync/tvsync/sync"
)

// cancelTimeout bounds the cancel request sent when fn returns with a
// statement in flight; if it cannot be delivered, Run waits for the
// statement to end by itself.
const cancelTimeout = 10 * time.Second

// interrupter returns a function that asks the server to cancel what it is
// running for tx's connection, or nil when tx does not say which connection
// it runs on. pgx's CancelRequest is safe to call while another goroutine
// uses the connection: it only reads what the connection was opened with,
// and opens a connection of its own. A cancel that arrives once the
// statement is over finds the backend waiting for a command and is ignored,
// and Run only rolls back after it was delivered.
func interrupter(ctx context.Context, tx pgx.Tx) func() {
	conn := tx.Conn()
	if conn == nil || conn.PgConn() == nil {
		return nil
	}
	pg := conn.PgConn()
	return func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cancelTimeout)
		defer cancel()
		_ = pg.CancelRequest(cctx)
	}
}

// txStatus is the transaction status of tx's connection as the server last
// reported it ('I' idle, 'T' in a transaction, 'E' in a failed one), or 0
// when tx does not say. Call it only while nothing is in flight on it.
func txStatus(tx pgx.Tx) byte {
	conn := tx.Conn()
	if conn == nil || conn.PgConn() == nil {
		return 0
	}
	return conn.PgConn().TxStatus()
}

// inFlightError is what Run returns when statements were in flight when fn
// returned: fn's own error if it failed, ErrStatementInFlight otherwise.
func inFlightError(fnErr error) error {
	if fnErr != nil {
		return fnErr
	}
	return ErrStatementInFlight
}

// checkEnded returns the error that ends the unit of work once fn returned
// fnErr, before anything is committed: fnErr, unless fn ended the
// transaction with SQL pgx did not see (the connection is idle). Then what
// was written before may have committed, so the recorded changes are queued
// for a Worker outside any transaction, on that idle connection (a sync of
// a change whose write rolled back is harmless), and the error, naming
// them, wraps ErrTxEndedBehindUnitOfWork (and fnErr, if any). When fn
// returned nil from an aborted transaction, it is ErrTxAborted.
func (r *Runner) checkEnded(ctx context.Context, tx pgx.Tx, changes []tvsync.Change, fnErr error) error {
	switch status := txStatus(tx); {
	case status == 'I':
	case status == 'E' && fnErr == nil:
		return ErrTxAborted
	default:
		return fnErr
	}
	err := fmt.Errorf("%w: changes not synced with it: %s", ErrTxEndedBehindUnitOfWork, describe(changes))
	if len(changes) > 0 {
		if _, qerr := queue.Enqueue(ctx, r.engine, tx.Conn(), 0, true, changes...); qerr != nil {
			err = fmt.Errorf("%w; queueing them for a worker failed too: %w", err, qerr)
		} else {
			r.log.ErrorContext(ctx, "tvsync: a unit of work's transaction was ended behind its back; its changes are queued for the worker",
				slog.String("changes", describe(changes)))
			err = fmt.Errorf("%w; they are queued for a worker", err)
		}
	}
	if fnErr != nil {
		return fmt.Errorf("%w (and fn failed: %w)", err, fnErr)
	}
	return err
}

// describe names changes as "entity id id ...; entity (cascade) id ...",
// at most 20 ids each.
func describe(changes []tvsync.Change) string {
	if len(changes) == 0 {
		return "none recorded"
	}
	var b strings.Builder
	for i, c := range changes {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(c.Entity)
		if c.Cascade {
			b.WriteString(" (cascade)")
		}
		for j, id := range c.IDs {
			if j == 20 {
				fmt.Fprintf(&b, " and %d more", len(c.IDs)-j)
				break
			}
			b.WriteString(" " + id.String())
		}
	}
	return b.String()
}
