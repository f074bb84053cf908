package syncdbtest

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// The package's topology around its throwaway server, written by Main
// before the tests run and only read by them.
var (
	// primary is the throwaway server Main started (nil with AdminURLEnv).
	primary *Server
	// bouncer is the pgbouncer in front of primary (Options.PgBouncer).
	bouncer *PgBouncer
	// replicas are primary's streaming replicas (Options.Replicas).
	replicas []*Server
)

// startTopology starts the pgbouncer and the replicas opts asks for in
// front of, and from, primary.
func startTopology(logger *slog.Logger, opts Options) error {
	ctx, cancel := context.WithTimeout(context.Background(), serverStartTimeout)
	defer cancel()
	if opts.PgBouncer != nil {
		b, err := StartPgBouncer(ctx, primary.Host(), primary.Port(), *opts.PgBouncer)
		if err != nil {
			return fmt.Errorf("start pgbouncer: %w", err)
		}
		bouncer = b
	}
	for range opts.Replicas {
		r, err := StartReplica(ctx, primary, ServerOptions{Logger: logger})
		if err != nil {
			return fmt.Errorf("start a replica: %w", err)
		}
		replicas = append(replicas, r)
	}
	return nil
}

// stopTopology stops what startTopology started.
func stopTopology() {
	for _, r := range replicas {
		if err := r.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "syncdbtest: stop a replica: %v\n", err)
		}
	}
	if bouncer != nil {
		if err := bouncer.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "syncdbtest: stop pgbouncer: %v\n", err)
		}
	}
}

// PgBouncerURL returns the URL of the database of dbURL (one from [URL])
// through the pgbouncer [Main] started (Options.PgBouncer), with pgx's
// default_query_exec_mode=cache_describe (see [PgBouncer.URL]). It skips the
// test when Main started no pgbouncer (Options.PgBouncer unset, or a server
// named by AdminURLEnv).
func PgBouncerURL(t testing.TB, dbURL string) string {
	t.Helper()
	if bouncer == nil {
		t.Skip("syncdbtest: no pgbouncer: set Options.PgBouncer (and leave " + AdminURLEnv + " unset)")
	}
	return bouncer.URL(databaseOf(t, dbURL))
}

// ReplicaURLs returns the URLs of the database of dbURL (one from [URL]) on
// each replica [Main] started (Options.Replicas), in the order of
// [Replicas], once each has replayed the primary's WAL as it stands now: the
// database, created on the primary a moment ago, exists on every replica.
// It skips the test when Main started none.
func ReplicaURLs(t testing.TB, dbURL string) []string {
	t.Helper()
	if len(replicas) == 0 {
		t.Skip("syncdbtest: no replicas: set Options.Replicas (and leave " + AdminURLEnv + " unset)")
	}
	name := databaseOf(t, dbURL)
	ctx, cancel := context.WithTimeout(context.Background(), replayTimeout)
	defer cancel()
	lsn, err := currentLSN(ctx, primary)
	if err != nil {
		t.Fatalf("syncdbtest: read the primary's WAL position: %v", err)
	}
	urls := make([]string, len(replicas))
	for i, r := range replicas {
		if err := waitReplayed(ctx, r, lsn); err != nil {
			t.Fatalf("syncdbtest: replica %d: %v", i, err)
		}
		urls[i] = r.URL(name)
	}
	return urls
}

// replayTimeout bounds how long ReplicaURLs waits for the replicas to
// replay the primary's WAL.
const replayTimeout = 30 * time.Second

// currentLSN returns srv's current WAL insert position.
func currentLSN(ctx context.Context, srv *Server) (string, error) {
	conn, err := pgx.Connect(ctx, srv.URL("postgres"))
	if err != nil {
		return "", err
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	var lsn string
	err = conn.QueryRow(ctx, "SELECT pg_current_wal_insert_lsn()::text").Scan(&lsn)
	return lsn, err
}

// waitReplayed polls the replica rep until it has replayed lsn, or ctx ends.
func waitReplayed(ctx context.Context, rep *Server, lsn string) error {
	conn, err := pgx.Connect(ctx, rep.URL("postgres"))
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	for {
		var done bool
		if err := conn.QueryRow(ctx, "SELECT coalesce(pg_last_wal_replay_lsn() >= $1::text::pg_lsn, false)", lsn).Scan(&done); err != nil {
			return fmt.Errorf("read the replay position: %w", err)
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not replayed %s: %w", lsn, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// Replicas returns the replicas [Main] started (Options.Replicas), to pause
// their replay or read their state. A test that stops one takes it from
// every later test of the package: start a replica of its own with
// [NewReplica] instead.
func Replicas() []*Server { return replicas }

// NewReplica starts a streaming replica of the package's throwaway server
// for the test alone (see [StartReplica]) and stops it when the test ends.
// It skips the test when Main adopted a server named by AdminURLEnv.
func NewReplica(t testing.TB) *Server {
	t.Helper()
	if primary == nil {
		t.Skip("syncdbtest: no throwaway server to replicate (" + AdminURLEnv + " is set)")
	}
	r, err := StartReplica(context.Background(), primary, ServerOptions{})
	if err != nil {
		t.Fatalf("syncdbtest: start a replica: %v", err)
	}
	t.Cleanup(func() {
		if err := r.Stop(); err != nil {
			t.Errorf("syncdbtest: stop the replica: %v", err)
		}
	})
	return r
}

// databaseOf returns the database name of dbURL.
func databaseOf(t testing.TB, dbURL string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatalf("syncdbtest: parse database URL: %v", err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	if name == "" {
		t.Fatalf("syncdbtest: URL %q names no database", u.Redacted())
	}
	return name
}
