package sync

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// errNotPipelined is returned when code that only knows immediate queries is
// handed a Pipeline, which can only collect batched statements.
var errNotPipelined = errors.New("tvsync: a Pipeline only collects sqlc batch statements (:batchone, :batchmany, :batchexec)")

// errPipelineNotSent is returned when a result is read before Send.
var errPipelineNotSent = errors.New("tvsync: pipeline result read before the pipeline was sent")

// Pipeline collects the statements that sqlc's batch methods queue and sends
// them to PostgreSQL together, in one round trip. It implements the DB
// interface, so a generated batch method can be called with a Pipeline as its
// connection: the method queues its statement and returns its results object,
// whose reader (QueryRow, Query or Exec) must be called after Send, in the
// order the statements were queued.
//
// A Pipeline is not safe for concurrent use and is used once.
type Pipeline struct {
	queued  []*pgx.QueuedQuery
	results pgx.BatchResults
	// quiet holds the statements whose results nobody reads (queueQuiet):
	// reads skip them; read counts the results of queued read so far.
	quiet    map[*pgx.QueuedQuery]bool
	read     int
	quietErr error
}

// SendBatch appends the statements of b to the pipeline; nothing is sent yet.
func (p *Pipeline) SendBatch(_ context.Context, b *pgx.Batch) pgx.BatchResults {
	p.queued = append(p.queued, b.QueuedQueries...)
	return pipelineResults{p: p}
}

// Exec always fails: a Pipeline only collects batch statements.
func (p *Pipeline) Exec(context.Context, string, ...any) (pgconn.CommandTag, error) {
	return pgconn.CommandTag{}, errNotPipelined
}

// Query always fails: a Pipeline only collects batch statements.
func (p *Pipeline) Query(context.Context, string, ...any) (pgx.Rows, error) {
	return nil, errNotPipelined
}

// QueryRow always returns a row whose Scan fails: a Pipeline only collects
// batch statements.
func (p *Pipeline) QueryRow(context.Context, string, ...any) pgx.Row {
	return errRow{errNotPipelined}
}

// CopyFrom always fails: a Pipeline only collects batch statements. It is
// there so that a Pipeline is the connection of the methods sqlc generates
// for a package that also has :copyfrom queries (their DBTX has CopyFrom).
func (p *Pipeline) CopyFrom(context.Context, pgx.Identifier, []string, pgx.CopyFromSource) (int64, error) {
	return 0, errNotPipelined
}

// quietLast marks the statement queued last as one whose result nobody
// reads (a setting for the statements that follow): reads skip it, and its
// error, if any, is Close's.
func (p *Pipeline) quietLast() {
	if len(p.queued) == 0 {
		return
	}
	if p.quiet == nil {
		p.quiet = map[*pgx.QueuedQuery]bool{}
	}
	p.quiet[p.queued[len(p.queued)-1]] = true
}

// next reads past the quiet statements due before the next result.
func (p *Pipeline) next() {
	for p.read < len(p.queued) && p.quiet[p.queued[p.read]] {
		if _, err := p.results.Exec(); err != nil && p.quietErr == nil {
			p.quietErr = err
		}
		p.read++
	}
	p.read++
}

// queueCommit queues a COMMIT of the transaction the pipeline is sent in.
// Read its result with readCommit after the other results.
func (p *Pipeline) queueCommit() { p.queueStatement("COMMIT") }

// readCommit reads the result of the COMMIT queued by queueCommit, or of a
// statement queued by queueStatement.
func (p *Pipeline) readCommit() error {
	if p.results == nil {
		return errPipelineNotSent
	}
	p.next()
	_, err := p.results.Exec()
	return err
}

// size reports how many statements are queued.
func (p *Pipeline) size() int { return len(p.queued) }

// Send sends every queued statement to conn in one round trip. Read the
// results in queue order, then call Close.
func (p *Pipeline) Send(ctx context.Context, conn DB) {
	p.results = conn.SendBatch(ctx, &pgx.Batch{QueuedQueries: p.queued})
}

// sendInTx begins a transaction and sends every queued statement inside it,
// all in one round trip (the BEGIN rides in the same batch). It returns the
// transaction once its BEGIN has succeeded; read the results in queue order,
// call Close, then commit or roll back the transaction.
func (p *Pipeline) sendInTx(ctx context.Context, conn DB) (pgx.Tx, error) {
	b := &pgx.Batch{}
	b.BeginTx(pgx.TxOptions{})
	b.QueuedQueries = append(b.QueuedQueries, p.queued...)
	p.results = conn.SendBatch(ctx, b)
	tx := p.results.Tx()
	if _, err := p.results.Exec(); err != nil {
		_ = p.results.Close()
		if tx != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
		return nil, fmt.Errorf("begin sync transaction: %w", err)
	}
	if tx == nil {
		_ = p.results.Close()
		return nil, errors.New("begin sync transaction: connection returned no transaction")
	}
	return tx, nil
}

// sendInSavepoint sends every queued statement inside a new savepoint of
// parent, all in one round trip (the SAVEPOINT rides in the same batch), and
// returns the savepoint once it is set; read the results in queue order,
// call Close, then release the savepoint or roll back to it.
func (p *Pipeline) sendInSavepoint(ctx context.Context, parent pgx.Tx) (*savepoint, error) {
	sp := newSavepoint(parent)
	p.queued = append([]*pgx.QueuedQuery{{SQL: "SAVEPOINT " + sp.name}}, p.queued...)
	p.results = parent.SendBatch(ctx, &pgx.Batch{QueuedQueries: p.queued})
	p.next()
	if _, err := p.results.Exec(); err != nil {
		_ = p.results.Close()
		return nil, fmt.Errorf("begin sync savepoint: %w", err)
	}
	return sp, nil
}

// queueStatement queues a statement without parameters whose result is
// read with readStatement (COMMIT, RELEASE SAVEPOINT).
func (p *Pipeline) queueStatement(sql string) {
	p.queued = append(p.queued, &pgx.QueuedQuery{SQL: sql})
}

// Close releases the results of a sent pipeline and returns the first error
// of any statement not read. Closing an unsent pipeline does nothing.
func (p *Pipeline) Close() error {
	if p.results == nil {
		return nil
	}
	err := p.results.Close()
	if err == nil {
		err = p.quietErr
	}
	return err
}

// pipelineResults forwards reads to the pipeline's real results once it has
// been sent. Its Close does nothing: the pipeline owns the real results.
type pipelineResults struct{ p *Pipeline }

func (r pipelineResults) Exec() (pgconn.CommandTag, error) {
	if r.p.results == nil {
		return pgconn.CommandTag{}, errPipelineNotSent
	}
	r.p.next()
	return r.p.results.Exec()
}

func (r pipelineResults) Query() (pgx.Rows, error) {
	if r.p.results == nil {
		return nil, errPipelineNotSent
	}
	r.p.next()
	return r.p.results.Query()
}

func (r pipelineResults) QueryRow() pgx.Row {
	if r.p.results == nil {
		return errRow{errPipelineNotSent}
	}
	r.p.next()
	return r.p.results.QueryRow()
}

func (r pipelineResults) Close() error { return nil }

func (r pipelineResults) Tx() pgx.Tx { return nil }

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }
