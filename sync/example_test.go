package sync_test

import (
	"context"

	"github.com/google/uuid"

	"github.com/tvsync/tvsync/db"
	"github.com/tvsync/tvsync/sync"
)

// ExampleEntity registers one statement by hand, the way the registration
// tvsync gen writes (entities_gen.go) does: a closure that queues the sqlc
// batch method on the pipeline with the ids converted to the statement's
// key type, and reads its result with a registration helper.
func ExampleEntity() {
	ctx := context.Background()
	q := db.New()
	post := sync.Entity{
		Name: "post",
		Refresh: func(p *sync.Pipeline, ids []sync.ID) func() (sync.RefreshResult, error) {
			return sync.ReadRefresh(q.PostRefresh(ctx, p, [][]uuid.UUID{sync.UUIDs(ids)}))
		},
	}
	_ = post
}
