package sync

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tvsync/tvsync/sync/internal/pgsession"
)

// ErrPooledSession is returned by what needs a real PostgreSQL session (the
// worker's LISTEN, Rebuild's session lock and temporary tables, migrations'
// session lock) when its connection goes through a transaction pooler
// (PgBouncer with pool_mode transaction or statement), where LISTEN, session
// advisory locks, temporary tables and session settings do not survive from
// one transaction to the next. Give that part a direct URL of the primary
// (WorkerConfig.ListenURL, the CLI's --direct-url or DIRECT_DATABASE_URL).
var ErrPooledSession = pgsession.ErrPooled

// checkSession returns an error wrapping ErrPooledSession when conn is not
// a real server session. It asks conn for its server process id
// (pg_backend_pid()), then other (another connection or a pool on the same
// URL), then conn again. On a direct connection the two answers of conn are
// equal and other's differs, always: the check never rejects a real
// session. Through PgBouncer, which hands the most recently released server
// connection to the next client, other gets conn's first process id or conn
// gets another one the second time; a pooler under load can hand
// connections so that neither shows (a miss, not a false alarm), so the
// check is a safeguard and the direct URL the rule.
func checkSession(ctx context.Context, conn, other pgsession.QueryRower) error {
	return pgsession.Check(ctx, conn, other)
}

// checkListener makes sure, before Run starts, that the connection the
// worker will LISTEN on is a real session: with no ListenURL, a connection
// configured as the pool's is checked against the pool (checkSession). A
// database that cannot be reached yet is not an error here (Run waits for
// it); only a pooler detected is.
func (w *Worker) checkListener(ctx context.Context) error {
	if w.cfg.ListenURL != "" {
		if _, err := pgx.ParseConfig(w.cfg.ListenURL); err != nil {
			return fmt.Errorf("worker: parse WorkerConfig.ListenURL: %w", err)
		}
		return nil
	}
	conn, err := w.dial(ctx, "")
	if err != nil {
		return nil // unreachable for now: Run retries
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if err := checkSession(ctx, conn, w.pool); errors.Is(err, ErrPooledSession) {
		return fmt.Errorf("worker: cannot LISTEN through the pool's URL: set WorkerConfig.ListenURL (tvsync worker --direct-url) to a direct URL of the primary: %w", err)
	}
	return nil
}

// dial opens a connection outside the pool: on listenURL when it is set,
// else configured as the pool's connections are (see dialLike).
func (w *Worker) dial(ctx context.Context, listenURL string) (*pgx.Conn, error) {
	if listenURL == "" {
		conn, err := dialLike(ctx, w.pool)
		if err != nil {
			return nil, fmt.Errorf("worker: open the LISTEN connection: %w", err)
		}
		return conn, nil
	}
	cc, err := pgx.ParseConfig(listenURL)
	if err != nil {
		return nil, fmt.Errorf("worker: parse WorkerConfig.ListenURL: %w", err)
	}
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return nil, fmt.Errorf("worker: open the LISTEN connection on WorkerConfig.ListenURL: %w", err)
	}
	return conn, nil
}

// dialLike opens a connection outside pool, configured as pool's
// connections are (its BeforeConnect and AfterConnect hooks included).
func dialLike(ctx context.Context, pool *pgxpool.Pool) (*pgx.Conn, error) {
	return pgsession.Dial(ctx, pool)
}

// checkRebuildSession makes sure that conn, taken from pool for a rebuild,
// is a real session (checkSession against a connection of its own, so that
// a pool of one connection is enough): a rebuild's session lock, temporary
// tables and search_path cannot work through a transaction pooler.
func checkRebuildSession(ctx context.Context, conn *pgxpool.Conn, pool *pgxpool.Pool) error {
	other, err := dialLike(ctx, pool)
	if err != nil {
		return fmt.Errorf("check the rebuild's session: %w", err)
	}
	defer other.Close(context.WithoutCancel(ctx))
	err = checkSession(ctx, conn, other)
	if errors.Is(err, ErrPooledSession) {
		return fmt.Errorf("rebuild needs a real session (a session lock, temporary tables): "+
			"run it on an engine over a direct URL of the primary (tvsync rebuild --direct-url): %w", err)
	}
	if err != nil {
		return fmt.Errorf("check the rebuild's session: %w", err)
	}
	return nil
}
