package repository_test

import (
	"context"
	"fmt"
	gosync "sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/blog"
	"github.com/tvsync/tvsync/internal/testdb"
	"github.com/tvsync/tvsync/repository"
	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/syncuow"
)

// poolOf opens a pool of at most maxConns connections on a fresh database.
func poolOf(t *testing.T, url string, maxConns int32) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(url)
	require.NoError(t, err)
	cfg.MaxConns = maxConns
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

// TestInTx_NeverNeedsASecondConnection runs, for pool sizes 1, 2 and 4 and
// every sync mode, four goroutines per connection, each running many units
// of work (creates, a cascading rename, comments, likes). A unit of work that
// held its connection while its sync asked the pool for another would hang
// at pool size: every InTx must return, without error, before the deadline,
// and the tv_ tables must then match an independent recomputation.
func TestInTx_NeverNeedsASecondConnection(t *testing.T) {
	t.Parallel()
	const unitsEach = 40
	modes := []syncuow.Timing{syncuow.AfterCommit, syncuow.Inline, syncuow.Deferred}
	for _, conns := range []int32{1, 2, 4} {
		for _, mode := range modes {
			t.Run(fmt.Sprintf("conns=%d/%s", conns, mode), func(t *testing.T) {
				t.Parallel()
				url := testdb.URL(t)
				pool := poolOf(t, url, conns)
				engine := blog.MustNewEngine(pool, tvsync.Config{})
				repo := repository.New(pool, engine, repository.Options{Sync: mode})
				// A hang must fail the test, not block the suite.
				ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
				defer cancel()

				var shared uuid.UUID
				require.NoError(t, repo.InTx(ctx, func(uow *repository.UnitOfWork) error {
					owner, err := uow.CreateUser(ctx, "owner", "Owner")
					if err != nil {
						return err
					}
					shared, err = uow.CreatePost(ctx, owner, "Shared", "everyone comments here", true)
					return err
				}), "a single unit of work at pool size %d", conns)

				goroutines := 4 * int(conns)
				errs := make(chan error, goroutines)
				var wg gosync.WaitGroup
				for g := range goroutines {
					wg.Go(func() {
						var me, post uuid.UUID
						for i := range unitsEach {
							err := repo.InTx(ctx, func(uow *repository.UnitOfWork) error {
								var err error
								switch {
								case i == 0:
									me, err = uow.CreateUser(ctx, fmt.Sprintf("g%d", g), "G")
								case i == 1:
									post, err = uow.CreatePost(ctx, me, fmt.Sprintf("post of g%d", g), "body", true)
								case i%4 == 0:
									err = uow.RenameUser(ctx, me, fmt.Sprintf("g%d_%d", g, i), "Renamed") // cascades
								case i%4 == 1:
									_, err = uow.AddComment(ctx, shared, me, fmt.Sprintf("c%d", i))
								case i%4 == 2:
									if err = uow.LikePost(ctx, shared, me); err == nil {
										_, err = uow.AddComment(ctx, post, me, "self")
									}
								default:
									_, err = uow.CreateUser(ctx, fmt.Sprintf("g%d_extra%d", g, i), "Extra")
								}
								return err
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
					// The worker is another process in production: give it a pool of its own.
					wpool := poolOf(t, url, 2)
					w := must(tvsync.NewWorker(blog.MustNewEngine(wpool, tvsync.Config{}), wpool, tvsync.WorkerConfig{}))
					_, err := w.Drain(ctx)
					require.NoError(t, err)
				}
				var queued int
				require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM tvsync.sync_queue").Scan(&queued))
				assert.Zero(t, queued, "every queued change was synced")
				var users int
				require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM tv_user").Scan(&users))
				assert.Equal(t, 1+goroutines*(1+unitsEach/4), users, "every user the units of work created is in tv_user")
				assertNoDrift(t, pool)
			})
		}
	}
}
