package syncuow

import (
	"context"
	"fmt"
	gosync "sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// guard tells whether a unit of work is still open. Run closes it when fn
// returns: from then on the transaction belongs to Run (which commits it,
// possibly through a pipeline that pgx does not see, and returns the
// connection to the pool), and every use through the Work fails.
type guard struct {
	mu     gosync.RWMutex
	closed bool
}

// close ends the unit of work; it waits for a statement being sent through it.
func (g *guard) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}

// do runs send unless the unit of work is closed, holding it open meanwhile.
func (g *guard) do(what string, send func() error) error {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.closed {
		return fmt.Errorf("%s: %w", what, ErrDone)
	}
	return send()
}

// guardedTx is the pgx.Tx of a Work: it forwards to the real transaction
// while the Work is open and fails once it is closed. LargeObjects and Conn
// are not guarded. A savepoint begun on it is guarded by the same Work.
type guardedTx struct {
	pgx.Tx
	w *Work
}

func (t guardedTx) Begin(ctx context.Context) (pgx.Tx, error) {
	var nested pgx.Tx
	err := t.w.guard.do("begin savepoint", func() (err error) {
		nested, err = t.Tx.Begin(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	return guardedTx{Tx: nested, w: t.w}, nil
}

func (t guardedTx) Commit(ctx context.Context) error {
	return t.w.guard.do("commit", func() error { return t.Tx.Commit(ctx) })
}

func (t guardedTx) Rollback(ctx context.Context) error {
	return t.w.guard.do("rollback", func() error { return t.Tx.Rollback(ctx) })
}

func (t guardedTx) CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (n int64, err error) {
	err = t.w.guard.do("copy", func() (err error) {
		n, err = t.Tx.CopyFrom(ctx, table, columns, src)
		return err
	})
	return n, err
}

func (t guardedTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	var res pgx.BatchResults
	if err := t.w.guard.do("send batch", func() error {
		res = t.Tx.SendBatch(ctx, b)
		return nil
	}); err != nil {
		return errBatch{err}
	}
	return res
}

func (t guardedTx) Prepare(ctx context.Context, name, sql string) (sd *pgconn.StatementDescription, err error) {
	err = t.w.guard.do("prepare", func() (err error) {
		sd, err = t.Tx.Prepare(ctx, name, sql)
		return err
	})
	return sd, err
}

func (t guardedTx) Exec(ctx context.Context, sql string, args ...any) (tag pgconn.CommandTag, err error) {
	err = t.w.guard.do("exec", func() (err error) {
		tag, err = t.Tx.Exec(ctx, sql, args...)
		return err
	})
	return tag, err
}

func (t guardedTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	var rows pgx.Rows
	if err := t.w.guard.do("query", func() (err error) {
		rows, err = t.Tx.Query(ctx, sql, args...)
		return err
	}); err != nil {
		if rows == nil {
			rows = errRows{err}
		}
		return rows, err
	}
	return rows, nil
}

func (t guardedTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	var row pgx.Row
	if err := t.w.guard.do("query", func() error {
		row = t.Tx.QueryRow(ctx, sql, args...)
		return nil
	}); err != nil {
		return errRows{err}
	}
	return row
}

// errRows is the pgx.Rows (and pgx.Row) of a statement that was not sent.
type errRows struct{ err error }

func (r errRows) Close()                                       {}
func (r errRows) Err() error                                   { return r.err }
func (r errRows) CommandTag() pgconn.CommandTag                { return pgconn.CommandTag{} }
func (r errRows) FieldDescriptions() []pgconn.FieldDescription { return nil }
func (r errRows) Next() bool                                   { return false }
func (r errRows) Scan(...any) error                            { return r.err }
func (r errRows) Values() ([]any, error)                       { return nil, r.err }
func (r errRows) RawValues() [][]byte                          { return nil }
func (r errRows) Conn() *pgx.Conn                              { return nil }
func (r errRows) TypeMap() *pgtype.Map                         { return pgtype.NewMap() }

// errBatch is the pgx.BatchResults of a batch that was not sent.
type errBatch struct{ err error }

func (b errBatch) Exec() (pgconn.CommandTag, error) { return pgconn.CommandTag{}, b.err }
func (b errBatch) Query() (pgx.Rows, error)         { return errRows{b.err}, b.err }
func (b errBatch) QueryRow() pgx.Row                { return errRows{b.err} }
func (b errBatch) Close() error                     { return b.err }
func (b errBatch) Tx() pgx.Tx                       { return nil }
