// Package pgserver starts a throwaway PostgreSQL server from the local
// server binaries, for the blog's tools: the demo (when no database is
// given) and the benchmark suite. It is the production binary's own copy of
// the few things it needs (start, URL, stop), so that the binary does not
// link the public test kit, sync/syncdbtest, whose Start serves tests (and
// also restarts a server and clones per-test databases).
//
// The server runs on unix systems only; elsewhere [Start] returns
// [ErrUnsupported].
package pgserver

import (
	"errors"
	"log/slog"
)

// ErrUnsupported is returned by [Start] on systems without the unix process
// model the server is started with (Windows): give the tool a database URL
// instead.
var ErrUnsupported = errors.New("pgserver: a throwaway PostgreSQL server can only be started on unix systems: give a database URL instead")

// Options configures [Start]. The zero value is ready to use.
type Options struct {
	// Logger receives progress and diagnostic messages. Nil discards them.
	Logger *slog.Logger
	// Settings are extra server settings passed as "-c name=value". They
	// override the built-in speed defaults (fsync=off, ...). The settings
	// port, listen_addresses and unix_socket_directories are managed by
	// Start and are rejected.
	Settings map[string]string
	// DataDir, if set, is where the cluster lives instead of a temporary
	// directory, and it persists: Start creates the directory and runs
	// initdb only when it holds no cluster yet (no PG_VERSION file), and
	// Stop shuts the server down but keeps the directory.
	DataDir string
}
