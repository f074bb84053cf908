package syncuow

import (
	"context"
	"fmt"
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

// checkOpen returns an error when tx is no longer a healthy transaction
// once fn returned nil: ended by SQL pgx did not see (idle), or aborted by
// a failed statement fn went past.
func checkOpen(tx pgx.Tx, changes []tvsync.Change) error {
	switch txStatus(tx) {
	case 'I':
		return fmt.Errorf("%w: changes not synced with it: %s", ErrTxEndedBehindUnitOfWork, describe(changes))
	case 'E':
		return ErrTxAborted
	}
	return nil
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
