package syncdbtest

import "log/slog"

// ServerOptions configures [Start]. The zero value is ready to use.
type ServerOptions struct {
	// Logger receives progress and diagnostic messages. Nil discards them.
	Logger *slog.Logger
	// Settings are extra server settings passed as "-c name=value". They
	// override the built-in test-speed defaults (fsync=off, ...). The settings
	// port, listen_addresses and unix_socket_directories are managed by Start
	// and are rejected.
	Settings map[string]string
	// DataDir, if set, is where the cluster lives instead of a temporary
	// directory, and it persists: Start creates the directory and runs
	// initdb only when it holds no cluster yet (no PG_VERSION file), and
	// Stop shuts the server down but keeps the directory, so the next Start
	// on it finds the same databases. Two servers cannot share one DataDir
	// at once (postgres refuses to start on a directory in use).
	DataDir string
}
