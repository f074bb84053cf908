//go:build !unix

package pgserver

import "context"

// Server is a running throwaway PostgreSQL cluster started by [Start]; on
// this system Start never returns one.
type Server struct{}

// Start returns [ErrUnsupported]: the throwaway server needs a unix system.
func Start(context.Context, Options) (*Server, error) { return nil, ErrUnsupported }

// URL returns "" on this system, where no server runs.
func (s *Server) URL(string) string { return "" }

// Stop does nothing on this system, where no server runs.
func (s *Server) Stop() error { return nil }

// StartReplica returns ErrUnsupported on this system.
func (s *Server) StartReplica(context.Context, map[string]string) (*Server, error) {
	return nil, ErrUnsupported
}
