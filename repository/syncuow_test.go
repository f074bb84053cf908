package repository_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/blog"
	"github.com/tvsync/tvsync/internal/testdb"
	"github.com/tvsync/tvsync/repository"
	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/syncuow"
)

// TestRepository_ErrorsAreSyncuows: the repository is a wrapper of
// syncuow, and its errors are syncuow's, so errors.Is works with either
// name: a sync after the commit that fails (the engine's own pool is
// closed) and a unit of work used after its InTx.
func TestRepository_ErrorsAreSyncuows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := testdb.URL(t)
	pool, err := pgxpool.New(ctx, url)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	closed, err := pgxpool.New(ctx, url)
	require.NoError(t, err)
	closed.Close()
	repo := repository.New(pool, blog.MustNewEngine(closed, tvsync.Config{}), repository.Options{})

	var kept *repository.UnitOfWork
	err = repo.InTx(ctx, func(uow *repository.UnitOfWork) error {
		kept = uow
		_, err := uow.CreateUser(ctx, "ada", "Ada")
		return err
	})
	require.ErrorIs(t, err, repository.ErrCommittedNotSynced)
	require.ErrorIs(t, err, syncuow.ErrCommittedNotSynced)
	var queued int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM tvsync.sync_queue").Scan(&queued))
	assert.Equal(t, 1, queued, "the change stays queued for a worker")

	_, err = kept.CreateUser(ctx, "late", "Late")
	require.ErrorIs(t, err, repository.ErrUnitOfWorkDone)
	require.ErrorIs(t, err, syncuow.ErrDone)
}
