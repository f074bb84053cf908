package syncdbtest

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/tvsync/tvsync/sync/syncmigrate"
)

// AdminURLEnv names the environment variable that, when set to the URL of a
// superuser on a running server (for example
// "postgres://postgres:secret@localhost:5432/postgres"), makes [Main] use
// that server instead of starting a throwaway one.
const AdminURLEnv = "TVSYNC_TEST_ADMIN_URL"

// serverStartTimeout bounds how long Main waits for the throwaway server.
const serverStartTimeout = 2 * time.Minute

// Options configures [Main]. The zero value gives databases holding only
// tvsync's own schema.
type Options struct {
	// Migrations are the application's goose migration sets, applied to the
	// template in order after tvsync's own set (syncmigrate.Own), each in
	// its own version table; a set's Down is not used.
	Migrations []syncmigrate.Set
	// Server configures the throwaway server Main starts; it is unused when
	// AdminURLEnv is set. A nil Server.Logger writes the server's warnings
	// and errors to standard error.
	Server ServerOptions
	// PgBouncer, when set, makes Main start a pgbouncer in front of the
	// throwaway server (see [StartPgBouncer]) for [PgBouncerURL].
	PgBouncer *PgBouncerOptions
	// Replicas is how many streaming replicas of the throwaway server Main
	// starts (see [StartReplica]) for [ReplicaURLs] and [Replicas].
	Replicas int
}

// The package's state, written by Main before m.Run starts the tests, which
// only read it.
var (
	// admin is the superuser URL of the package's server.
	admin *url.URL
	// migrator builds the template of New and URL.
	migrator *setsMigrator
)

// Main checks opts, starts the package's PostgreSQL server (or adopts the
// one named by AdminURLEnv), runs the tests, stops the server and returns
// the exit code for os.Exit. Call it once, from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(syncdbtest.Main(m, opts)) }
//
// Invalid migration sets (see [syncmigrate.CheckSets]) or a server that does not
// start make it return 1 before any test runs, with the reason on standard
// error. Nothing is migrated until the first test asks for a database.
func Main(m *testing.M, opts Options) int {
	var err error
	if migrator, err = newMigrator(opts.Migrations); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if raw := os.Getenv(AdminURLEnv); raw != "" {
		if admin, err = parseAdminURL(raw); err != nil {
			fmt.Fprintf(os.Stderr, "syncdbtest: %s: %v\n", AdminURLEnv, err)
			return 1
		}
		return m.Run()
	}

	srvOpts := opts.Server
	if srvOpts.Logger == nil {
		srvOpts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), serverStartTimeout)
	srv, err := Start(ctx, srvOpts)
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "syncdbtest: start PostgreSQL (or set %s to use a running server): %v\n", AdminURLEnv, err)
		return 1
	}
	if admin, err = url.Parse(srv.URL("postgres")); err != nil { // cannot happen: Server builds the URL
		_ = srv.Stop()
		fmt.Fprintf(os.Stderr, "syncdbtest: parse server URL %q: %v\n", srv.URL("postgres"), err)
		return 1
	}

	primary = srv
	if err := startTopology(srvOpts.Logger, opts); err != nil {
		stopTopology()
		_ = srv.Stop()
		fmt.Fprintf(os.Stderr, "syncdbtest: %v\n", err)
		return 1
	}

	code := m.Run()
	stopTopology()
	if err := srv.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "syncdbtest: stop PostgreSQL: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// parseAdminURL validates an AdminURLEnv value.
func parseAdminURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("parse URL: %w", err)
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return nil, fmt.Errorf("%q: scheme must be postgres:// or postgresql://", u.Redacted())
	}
	if u.Hostname() == "" || u.User == nil || u.User.Username() == "" {
		return nil, fmt.Errorf("%q: URL must name a host and a user", u.Redacted())
	}
	if u.Port() == "" {
		u.Host += ":5432"
	}
	return u, nil
}
