package synctest_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/synctest"
)

// PostStore is the command-side write a service depends on; a test fakes it.
type PostStore interface {
	InsertPost(ctx context.Context, title string) (uuid.UUID, error)
}

// PublishService is an application service that writes, then syncs explicitly.
type PublishService struct {
	Store PostStore
	Sync  tvsync.Syncer
}

// CreatePost writes a post and syncs it: the seed's create_post, in Go.
func (s PublishService) CreatePost(ctx context.Context, title string) (uuid.UUID, error) {
	if title == "" {
		return uuid.Nil, errors.New("title is empty")
	}
	id, err := s.Store.InsertPost(ctx, title)
	if err != nil {
		return uuid.Nil, err
	}
	if _, err := s.Sync.SyncPost(ctx, []uuid.UUID{id}, tvsync.ModeIncremental); err != nil {
		return id, fmt.Errorf("sync post %s: %w", id, err)
	}
	return id, nil
}

type memStore struct{ titles map[uuid.UUID]string }

func (m *memStore) InsertPost(_ context.Context, title string) (uuid.UUID, error) {
	id := uuid.New()
	m.titles[id] = title
	return id, nil
}

func TestPublishService_CreatePostSyncsItOnce(t *testing.T) {
	rec := &synctest.Recorder{}
	svc := PublishService{Store: &memStore{titles: map[uuid.UUID]string{}}, Sync: rec}

	id, err := svc.CreatePost(context.Background(), "Test Post")
	require.NoError(t, err)

	// sync.sync_post.assert_called_once_with([post_id], mode='incremental')
	calls := rec.CallsTo("SyncPost")
	require.Len(t, calls, 1)
	assert.Equal(t, tvsync.ModeIncremental, calls[0].Mode)
	assert.Equal(t, []tvsync.ID{tvsync.UUIDKey(id)}, calls[0].Changes[0].IDs)
	assert.Len(t, rec.Calls(), 1, "nothing else was synced")
}

func TestPublishService_NoSyncWhenTheWriteIsRejected(t *testing.T) {
	rec := &synctest.Recorder{}
	svc := PublishService{Store: &memStore{titles: map[uuid.UUID]string{}}, Sync: rec}
	_, err := svc.CreatePost(context.Background(), "")
	require.Error(t, err)
	assert.Empty(t, rec.Calls())
}

func TestPublishService_SyncErrorIsReported(t *testing.T) {
	boom := errors.New("database unavailable")
	rec := &synctest.Recorder{Err: boom}
	svc := PublishService{Store: &memStore{titles: map[uuid.UUID]string{}}, Sync: rec}
	id, err := svc.CreatePost(context.Background(), "x")
	assert.ErrorIs(t, err, boom)
	assert.ErrorContains(t, err, id.String())
	assert.Len(t, rec.CallsTo("SyncPost"), 1)
}
