package syncuow

import (
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// trackedRows are the Rows of a query sent through a Work: in flight until
// closed (Next returning false closes them), and closed by Run when fn
// returns before they are. ends says whether closing them ends the pending
// statement (false for the Rows of one query of a batch).
type trackedRows struct {
	rows pgx.Rows
	p    *pending
	ends bool
}

func (r *trackedRows) Close() {
	r.p.mu.Lock()
	defer r.p.mu.Unlock()
	if !r.p.done {
		r.rows.Close()
		if r.ends {
			r.p.finish()
		}
	}
}

func (r *trackedRows) Err() error {
	r.p.mu.Lock()
	defer r.p.mu.Unlock()
	return r.p.err("query", r.rows.Err())
}

func (r *trackedRows) CommandTag() pgconn.CommandTag {
	r.p.mu.Lock()
	defer r.p.mu.Unlock()
	return r.rows.CommandTag()
}

func (r *trackedRows) FieldDescriptions() []pgconn.FieldDescription {
	r.p.mu.Lock()
	defer r.p.mu.Unlock()
	return r.rows.FieldDescriptions()
}

func (r *trackedRows) Next() bool {
	r.p.mu.Lock()
	defer r.p.mu.Unlock()
	if r.p.done {
		return false
	}
	if r.rows.Next() {
		return true
	}
	if r.ends {
		r.p.finish() // pgx closed them
	}
	return false
}

func (r *trackedRows) Scan(dest ...any) error {
	r.p.mu.Lock()
	defer r.p.mu.Unlock()
	return r.p.err("scan", r.rows.Scan(dest...))
}

func (r *trackedRows) Values() ([]any, error) {
	r.p.mu.Lock()
	defer r.p.mu.Unlock()
	v, err := r.rows.Values()
	return v, r.p.err("values", err)
}

func (r *trackedRows) RawValues() [][]byte {
	r.p.mu.Lock()
	defer r.p.mu.Unlock()
	return r.rows.RawValues()
}

func (r *trackedRows) Conn() *pgx.Conn { return r.rows.Conn() }

func (r *trackedRows) TypeMap() *pgtype.Map { return r.rows.TypeMap() }

// trackedRow is the Row of QueryRow: its query is sent at once, and read,
// then closed, by Scan, as pgx does.
type trackedRow struct{ r *trackedRows }

func (row trackedRow) Scan(dest ...any) error {
	r := row.r
	r.p.mu.Lock()
	defer r.p.mu.Unlock()
	if r.p.done {
		return r.p.err("scan", r.rows.Err())
	}
	defer func() {
		r.rows.Close()
		if r.ends {
			r.p.finish()
		}
	}()
	if err := r.rows.Err(); err != nil {
		return r.p.err("query", err)
	}
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return r.p.err("query", err)
		}
		return r.p.err("query", pgx.ErrNoRows)
	}
	if err := r.rows.Scan(dest...); err != nil {
		return r.p.err("scan", err)
	}
	r.rows.Close()
	return r.p.err("query", r.rows.Err())
}

// errBatchClosed is what a batch's results say once they are closed.
var errBatchClosed = errors.New("batch results already closed")

// trackedBatch is the BatchResults of a batch sent through a Work: in
// flight until closed.
type trackedBatch struct {
	w   *Work
	br  pgx.BatchResults
	p   *pending
	cur *trackedRows // the Rows of its current query, if any
}

// close closes the current query's rows, then the batch; p.mu is held.
func (b *trackedBatch) close() error {
	b.closeCur()
	return b.br.Close()
}

func (b *trackedBatch) Exec() (pgconn.CommandTag, error) {
	b.p.mu.Lock()
	defer b.p.mu.Unlock()
	if b.p.done {
		return pgconn.CommandTag{}, b.p.err("batch", errBatchClosed)
	}
	b.closeCur()
	tag, err := b.br.Exec()
	return tag, b.p.err("batch", err)
}

func (b *trackedBatch) Query() (pgx.Rows, error) {
	b.p.mu.Lock()
	defer b.p.mu.Unlock()
	if b.p.done {
		err := b.p.err("batch", errBatchClosed)
		return errRows{err}, err
	}
	b.closeCur()
	rows, err := b.br.Query()
	b.cur = &trackedRows{rows: rows, p: b.p}
	return b.cur, b.p.err("batch", err)
}

func (b *trackedBatch) QueryRow() pgx.Row {
	rows, _ := b.Query()
	if r, ok := rows.(*trackedRows); ok {
		return trackedRow{r}
	}
	return rows.(pgx.Row)
}

func (b *trackedBatch) Close() error {
	b.p.mu.Lock()
	defer b.p.mu.Unlock()
	if b.p.done {
		return b.p.err("batch", nil)
	}
	err := b.close()
	b.p.finish()
	return b.p.err("batch", err)
}

// Tx returns the transaction the batch began (Batch.BeginTx), nil if none;
// inside a unit of work it is the unit of work's, so its Commit and Rollback
// are refused like those of Work.Tx.
func (b *trackedBatch) Tx() pgx.Tx {
	tx := b.br.Tx()
	if tx == nil {
		return nil
	}
	return guardedTx{Tx: tx, w: b.w, owned: true}
}

// closeCur closes the previous query's rows before the next is read.
func (b *trackedBatch) closeCur() {
	if b.cur != nil {
		b.cur.rows.Close()
		b.cur = nil
	}
}
