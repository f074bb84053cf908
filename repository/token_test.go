package repository_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/repository"
	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/syncuow"
)

// TestRepository_InTxTokenReadsYourDeferredWrite: at syncuow.Deferred the
// token of InTxToken, taken back from its string as a client's next request
// would, is not reached until a worker has synced the post and the author
// it counts; then the post's document shows the write. In the other modes
// the token is reached at once. A forged token is refused.
func TestRepository_InTxTokenReadsYourDeferredWrite(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := setup(t, syncuow.Deferred)

	var postID uuid.UUID
	tok, err := b.repo.InTxToken(ctx, func(uow *repository.UnitOfWork) error {
		user, err := uow.CreateUser(ctx, "tok", "Token")
		if err != nil {
			return err
		}
		postID, err = uow.CreatePost(ctx, user, "deferred", "body", true)
		return err
	})
	require.NoError(t, err)
	require.False(t, tok.Reached(), "deferred: the workers have the post")
	back, err := b.repo.ParseToken(tok.String())
	require.NoError(t, err)

	short, cancelShort := context.WithTimeout(ctx, 50*time.Millisecond)
	res, err := b.repo.WaitFor(short, back)
	cancelShort()
	require.NoError(t, err)
	assert.Equal(t, tvsync.WaitTimedOut, res.Status, "no worker runs yet: %+v", res)
	_, err = b.repo.GetPost(ctx, postID)
	assert.Error(t, err, "no document before a worker syncs it")

	_, err = must(tvsync.NewWorker(b.engine, b.pool, tvsync.WorkerConfig{})).Drain(ctx)
	require.NoError(t, err)
	res, err = b.repo.WaitFor(ctx, back)
	require.NoError(t, err)
	require.Equal(t, tvsync.WaitReached, res.Status, "%+v", res)
	doc, err := b.repo.GetPost(ctx, postID)
	require.NoError(t, err)
	assert.Equal(t, "deferred", decode(t, doc)["title"])

	for _, mode := range []syncuow.Timing{syncuow.Inline, syncuow.AfterCommit} {
		tok, err := b.repo.WithTiming(mode).InTxToken(ctx, func(uow *repository.UnitOfWork) error {
			return uow.UpdatePost(ctx, postID, fmt.Sprintf("again %v", mode), "body")
		})
		require.NoError(t, err)
		assert.True(t, tok.Reached(), "%v: synced before InTxToken returned", mode)
	}

	_, err = b.repo.ParseToken(tok.String() + "x")
	assert.True(t, errors.Is(err, tvsync.ErrInvalidToken), "a forged token: %v", err)
}
