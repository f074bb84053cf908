// Package pgserver forwards to the throwaway PostgreSQL server of the public
// test kit, [syncdbtest.Start], under the names the blog's tools (the demo,
// bench, the chaos test) import. New code imports syncdbtest.
package pgserver

import (
	"context"

	"github.com/tvsync/tvsync/sync/syncdbtest"
)

// Options configures [Start]; see [syncdbtest.ServerOptions].
type Options = syncdbtest.ServerOptions

// Server is a running throwaway PostgreSQL cluster; see [syncdbtest.Server].
type Server = syncdbtest.Server

// Start starts a throwaway PostgreSQL cluster; see [syncdbtest.Start].
func Start(ctx context.Context, opts Options) (*Server, error) {
	return syncdbtest.Start(ctx, opts)
}
