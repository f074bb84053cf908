package syncuow

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// guardedTx is the pgx.Tx of a Work: it forwards to the real transaction
// while the Work is open, counts each statement in flight until its results
// are read, and fails once the Work is closed. LargeObjects and Conn are not
// guarded. A savepoint begun on it is guarded by the same Work.
//
// owned marks the Work's own transaction (or the savepoint a nested unit of
// work runs in): its Commit and Rollback belong to Run and are refused with
// ErrTxOwnedByUnitOfWork. A savepoint begun on it is not owned: its Commit
// releases it and its Rollback rolls back to it.
type guardedTx struct {
	pgx.Tx
	w     *Work
	owned bool
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
	if t.owned {
		return t.w.guard.do("commit", func() error { return ErrTxOwnedByUnitOfWork })
	}
	return t.w.guard.do("commit", func() error { return t.Tx.Commit(ctx) })
}

func (t guardedTx) Rollback(ctx context.Context) error {
	if t.owned {
		return t.w.guard.do("rollback", func() error { return ErrTxOwnedByUnitOfWork })
	}
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
		br := t.Tx.SendBatch(ctx, b)
		tb := &trackedBatch{w: t.w, br: br}
		tb.p = t.w.guard.track(func() { _ = tb.close() })
		res = tb
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
	rows, err := t.query(ctx, "query", sql, args...)
	if rows == nil {
		return errRows{err}, err
	}
	return rows, err
}

func (t guardedTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	rows, err := t.query(ctx, "query", sql, args...)
	if rows == nil {
		return errRows{err}
	}
	return trackedRow{rows}
}

// query sends a query and tracks its rows until they are read; it returns
// nil rows when nothing was sent or pgx returned none.
func (t guardedTx) query(ctx context.Context, what, sql string, args ...any) (*trackedRows, error) {
	var tracked *trackedRows
	err := t.w.guard.do(what, func() error {
		rows, err := t.Tx.Query(ctx, sql, args...)
		if err != nil || rows == nil {
			if rows != nil {
				rows.Close() // pgx has closed them already
			}
			return err
		}
		tracked = &trackedRows{rows: rows, ends: true}
		tracked.p = t.w.guard.track(rows.Close)
		return err
	})
	return tracked, err
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
