// Package pgsession tells a real PostgreSQL session from a connection
// through a transaction pooler (PgBouncer), for the parts of tvsync that
// need session state.
package pgsession

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrPooled is returned by what needs a real PostgreSQL session (the
// worker's LISTEN, Rebuild's session lock and temporary tables) when its
// connection goes through a transaction pooler (PgBouncer with pool_mode
// transaction or statement): such a pooler hands each transaction of a
// client to any server connection, so LISTEN, session advisory locks,
// temporary tables and session settings do not survive from one
// transaction to the next. Give that part a direct URL to the primary
// (tvsync.WorkerConfig.ListenURL, the CLI's --direct-url or DIRECT_DATABASE_URL).
var ErrPooled = errors.New("tvsync: the connection goes through a transaction pooler (its statements do not all run on one server session): " +
	"LISTEN, session advisory locks and temporary tables need a direct connection to PostgreSQL")

// QueryRower is what Check needs of a connection.
type QueryRower interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Check reports whether conn is a real server session, returning an
// error wrapping ErrPooled when it is not. It asks conn for its
// server process id (pg_backend_pid()), then other (another connection or a
// pool on the same URL), then conn again. On a direct connection the two
// answers of conn are equal and other's differs, always: the check never
// rejects a real session. Through a transaction pooler, conn's server
// connection goes back to the pooler after its statement, and PgBouncer
// hands the most recently used one to the next client (LIFO, its default):
// other gets conn's first process id, or conn gets a different one the
// second time. A pooler under load can hand connections so that neither
// shows (a miss, not a false alarm): the check is a safeguard, the direct
// URL is the rule.
func Check(ctx context.Context, conn, other QueryRower) error {
	var first, others, second int32
	if err := conn.QueryRow(ctx, "SELECT pg_catalog.pg_backend_pid()").Scan(&first); err != nil {
		return fmt.Errorf("check the session: %w", err)
	}
	if err := other.QueryRow(ctx, "SELECT pg_catalog.pg_backend_pid()").Scan(&others); err != nil {
		return fmt.Errorf("check the session: %w", err)
	}
	if err := conn.QueryRow(ctx, "SELECT pg_catalog.pg_backend_pid()").Scan(&second); err != nil {
		return fmt.Errorf("check the session: %w", err)
	}
	if others == first || second != first {
		return fmt.Errorf("%w (server process %d, then %d for another client, then %d)", ErrPooled, first, others, second)
	}
	return nil
}

// CheckPool dials two connections configured as pool's (its BeforeConnect
// and AfterConnect hooks included) and runs Check on them: a pool of one
// connection is enough, since the pool's own connections are not used.
func CheckPool(ctx context.Context, pool *pgxpool.Pool) error {
	a, err := Dial(ctx, pool)
	if err != nil {
		return err
	}
	defer a.Close(context.WithoutCancel(ctx))
	b, err := Dial(ctx, pool)
	if err != nil {
		return err
	}
	defer b.Close(context.WithoutCancel(ctx))
	return Check(ctx, a, b)
}

// Dial opens a connection outside pool, configured as pool's connections
// are (its BeforeConnect and AfterConnect hooks included).
func Dial(ctx context.Context, pool *pgxpool.Pool) (*pgx.Conn, error) {
	cfg := pool.Config() // a copy
	cc := cfg.ConnConfig
	if cfg.BeforeConnect != nil {
		if err := cfg.BeforeConnect(ctx, cc); err != nil {
			return nil, fmt.Errorf("prepare a connection: %w", err)
		}
	}
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return nil, fmt.Errorf("open a connection: %w", err)
	}
	if cfg.AfterConnect != nil {
		if err := cfg.AfterConnect(ctx, conn); err != nil {
			_ = conn.Close(ctx)
			return nil, fmt.Errorf("set up a connection: %w", err)
		}
	}
	return conn, nil
}
