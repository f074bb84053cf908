package syncuow_test

import (
	"fmt"
	gosync "sync"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/blog"
	"github.com/tvsync/tvsync/internal/testdb"
	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/syncuow"
)

// TestRun_MoreGoroutinesThanConnections runs, for pool sizes 1 and 4 and
// every mode, four goroutines per connection, each running many units of
// work: creates, cascading renames of a shared user, nested units of work
// (one released, one rolled back). A unit of work that held its connection
// while asking the pool for another (the sync after the commit, a nested
// unit of work) would hang at pool size; the deadline turns that into a
// failure. Every Run must succeed, the queue must end empty and the tv_
// tables must match an independent recomputation.
func TestRun_MoreGoroutinesThanConnections(t *testing.T) {
	t.Parallel()
	const unitsEach = 24
	for _, conns := range []int32{1, 4} {
		for _, mode := range modes {
			t.Run(fmt.Sprintf("conns=%d/%s", conns, mode), func(t *testing.T) {
				t.Parallel()
				ctx := deadline(t)
				url := testdb.URL(t)
				pool := poolOf(t, url, conns)
				engine := blog.MustNewEngine(pool, tvsync.Config{})
				r := must(syncuow.New(pool, engine, syncuow.Options{Timing: mode}))

				var shared uuid.UUID
				require.NoError(t, r.Run(ctx, func(w *syncuow.Work) (err error) {
					shared, err = createUser(ctx, w, "shared")
					return err
				}))
				goroutines := 4 * int(conns)
				errs := make(chan error, goroutines)
				var wg gosync.WaitGroup
				for g := range goroutines {
					wg.Go(func() {
						for i := range unitsEach {
							err := r.Run(ctx, func(w *syncuow.Work) error {
								switch i % 3 {
								case 0:
									_, err := createUser(ctx, w, fmt.Sprintf("g%d_%d", g, i))
									return err
								case 1:
									return renameUser(ctx, w, shared, fmt.Sprintf("shared_g%d_%d", g, i))
								}
								nested := must(syncuow.New(w.Tx(), engine, syncuow.Options{Timing: mode}))
								if err := nested.Run(ctx, func(n *syncuow.Work) error {
									_, err := createUser(ctx, n, fmt.Sprintf("g%d_%d_nested", g, i))
									return err
								}); err != nil {
									return err
								}
								_ = nested.Run(ctx, func(n *syncuow.Work) error {
									if _, err := createUser(ctx, n, fmt.Sprintf("g%d_%d_dropped", g, i)); err != nil {
										return err
									}
									return fmt.Errorf("dropped on purpose")
								})
								return nil
							})
							if err != nil {
								errs <- fmt.Errorf("goroutine %d unit %d: %w", g, i, err)
								return
							}
						}
					})
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					require.NoError(t, err)
				}
				if mode == syncuow.Deferred {
					drain(t, ctx, url)
				}
				assert.Zero(t, count(t, pool, "SELECT count(*) FROM tvsync.sync_queue"), "every queued change was synced")
				assert.Zero(t, count(t, pool, "SELECT count(*) FROM tb_user WHERE username LIKE '%dropped'"))
				assert.Equal(t, 1+goroutines*2*unitsEach/3, count(t, pool, "SELECT count(*) FROM tv_user"), "every user created is in tv_user")
				assertNoDrift(t, pool)
			})
		}
	}
}
