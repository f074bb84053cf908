//go:build !unix

package syncdbtest

import (
	"context"
	"errors"
)

// errUnsupported is what Start returns outside unix systems.
var errUnsupported = errors.New("syncdbtest: a throwaway PostgreSQL server can only be started on unix systems: set " +
	AdminURLEnv + " to the URL of a superuser on a running server instead")

// Server is a running throwaway PostgreSQL cluster started by [Start]; on
// this system Start never returns one.
type Server struct{}

// Start returns an error on this system: the throwaway server needs a unix
// system. Set [AdminURLEnv] to test against a running server instead.
func Start(context.Context, ServerOptions) (*Server, error) { return nil, errUnsupported }

// URL returns "" on this system, where no server runs.
func (s *Server) URL(string) string { return "" }

// Port returns 0 on this system, where no server runs.
func (s *Server) Port() int { return 0 }

// Host returns the address a server would listen on, "127.0.0.1".
func (s *Server) Host() string { return "127.0.0.1" }

// Stop does nothing on this system, where no server runs.
func (s *Server) Stop() error { return nil }

// Restart returns an error on this system, where no server runs.
func (s *Server) Restart(context.Context) error { return errUnsupported }

// PgBouncerOptions configures [StartPgBouncer].
type PgBouncerOptions struct {
	// PoolMode is pgbouncer's pool_mode.
	PoolMode string
	// PoolSize is default_pool_size.
	PoolSize int
	// MaxClients is max_client_conn.
	MaxClients int
}

// PgBouncer is a running pgbouncer; on this system StartPgBouncer never
// returns one.
type PgBouncer struct{}

// StartPgBouncer returns an error on this system.
func StartPgBouncer(context.Context, string, int, PgBouncerOptions) (*PgBouncer, error) {
	return nil, errUnsupported
}

// URL returns "" on this system.
func (b *PgBouncer) URL(string) string { return "" }

// Port returns 0 on this system.
func (b *PgBouncer) Port() int { return 0 }

// Stop does nothing on this system.
func (b *PgBouncer) Stop() error { return nil }

// StartReplica returns an error on this system.
func StartReplica(context.Context, *Server, ServerOptions) (*Server, error) {
	return nil, errUnsupported
}
