package modeltest

import (
	"context"
	"strings"
	gosync "sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// A trip is a fault that strikes once, at a chosen round trip of the work
// running under a context that carries it: just before the n-th round trip
// whose statements contain match (every round trip when match is empty),
// act runs on the connection about to send it. Counting round trips instead
// of waiting makes the fault's point independent of timing: pgx checks its
// context before it sends anything, so a cancel in act always stops that
// round trip and never one half sent.
type trip struct {
	mu    gosync.Mutex
	left  int
	match string
	act   func(conn *pgx.Conn)
	fired bool
}

// Fired reports whether the trip has struck.
func (tr *trip) Fired() bool {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.fired
}

// count counts one round trip of sql and acts when it is the chosen one.
func (tr *trip) count(conn *pgx.Conn, sql string) {
	tr.mu.Lock()
	if tr.fired || (tr.match != "" && !strings.Contains(sql, tr.match)) {
		tr.mu.Unlock()
		return
	}
	tr.left--
	fire := tr.left <= 0
	tr.fired = fire
	tr.mu.Unlock()
	if fire {
		tr.act(conn)
	}
}

type tripKey struct{}

// withTrip returns ctx carrying tr; the pools' tracer finds it there.
func withTrip(ctx context.Context, tr *trip) context.Context {
	return context.WithValue(ctx, tripKey{}, tr)
}

// cancelTrip returns a context that is cancelled just before the n-th round
// trip containing match, and the trip.
func cancelTrip(ctx context.Context, n int, match string) (context.Context, *trip, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	tr := &trip{left: n, match: match, act: func(*pgx.Conn) { cancel() }}
	return withTrip(ctx, tr), tr, cancel
}

// terminateTrip returns a context under which the backend of the
// connection about to send the n-th round trip is terminated (by admin,
// waiting until it is gone) just before it sends it, and the trip.
func terminateTrip(ctx context.Context, admin *pgxpool.Pool, n int) (context.Context, *trip) {
	tr := &trip{left: n, act: func(conn *pgx.Conn) {
		_, _ = admin.Exec(context.Background(), "SELECT pg_terminate_backend($1, 10000)", conn.PgConn().PID())
	}}
	return withTrip(ctx, tr), tr
}

// tracer runs the trip of each traced context; pools of the model use it.
type tracer struct{}

func tripOf(ctx context.Context) *trip {
	tr, _ := ctx.Value(tripKey{}).(*trip)
	return tr
}

func (tracer) TraceQueryStart(ctx context.Context, conn *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	if tr := tripOf(ctx); tr != nil {
		tr.count(conn, data.SQL)
	}
	return ctx
}

func (tracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (tracer) TraceBatchStart(ctx context.Context, conn *pgx.Conn, data pgx.TraceBatchStartData) context.Context {
	if tr := tripOf(ctx); tr != nil {
		var sql strings.Builder
		for _, q := range data.Batch.QueuedQueries {
			sql.WriteString(q.SQL)
			sql.WriteString(";\n")
		}
		tr.count(conn, sql.String())
	}
	return ctx
}

func (tracer) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

func (tracer) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}
