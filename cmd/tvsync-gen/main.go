// Command tvsync-gen is "tvsync gen" alone: it writes each entity declared in
// tvsync.yaml as its sync statements (<entity>.gen.sql, for sqlc) and its Go
// registration, offline. Every CLI built with package synccli has the same
// command; this binary links none of a module's own code, so it runs even
// while the code it generates does not compile (after a declaration changed,
// before sqlc ran). Add it to a team's module as a Go tool:
//
//	go get -tool github.com/tvsync/tvsync/cmd/tvsync-gen
//	go tool tvsync-gen            # write the generated files
//	go tool tvsync-gen --check    # exit 1 naming each stale one (for CI)
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/jackc/pgx/v5/pgxpool"

	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/synccli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

// run runs the kit's gen command with args (its flags: --file, --check).
func run(ctx context.Context, args []string) int {
	cli, err := synccli.New(synccli.Config{
		Name:  "tvsync-gen",
		Short: "tvsync-gen writes the sync statements and Go registration of the entities declared in tvsync.yaml.",
		NewEngine: func(*pgxpool.Pool, tvsync.Config) (*tvsync.Engine, error) {
			return nil, errors.New("tvsync-gen registers no entity: it only generates")
		},
	})
	if err != nil { // cannot happen: the config above is valid
		fmt.Fprintln(os.Stderr, err)
		return synccli.ExitFailure
	}
	return cli.Execute(ctx, append([]string{"gen"}, args...))
}
