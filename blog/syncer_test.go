package blog_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/blog"
	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/synctest"
)

// PostStore is the command-side write a service depends on; a test fakes it.
type PostStore interface {
	InsertPost(ctx context.Context, title string) (uuid.UUID, error)
}

// PublishService is an application service that writes, then syncs
// explicitly through the blog's typed helpers over any sync.Syncer.
type PublishService struct {
	Store PostStore
	Sync  blog.Syncer
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
	svc := PublishService{Store: &memStore{titles: map[uuid.UUID]string{}}, Sync: blog.Syncer{Syncer: rec}}

	id, err := svc.CreatePost(context.Background(), "Test Post")
	require.NoError(t, err)

	// sync.sync_post.assert_called_once_with([post_id], mode='incremental')
	calls := rec.CallsFor(blog.EntityPost)
	require.Len(t, calls, 1)
	assert.Equal(t, tvsync.ModeIncremental, calls[0].Mode)
	assert.Equal(t, []tvsync.Change{{Entity: blog.EntityPost, IDs: []tvsync.ID{tvsync.UUIDKey(id)}, Cascade: true}}, calls[0].Changes)
	assert.Len(t, rec.Calls(), 1, "nothing else was synced")
}

func TestPublishService_NoSyncWhenTheWriteIsRejected(t *testing.T) {
	rec := &synctest.Recorder{}
	svc := PublishService{Store: &memStore{titles: map[uuid.UUID]string{}}, Sync: blog.Syncer{Syncer: rec}}
	_, err := svc.CreatePost(context.Background(), "")
	require.Error(t, err)
	assert.Empty(t, rec.Calls())
}

func TestPublishService_SyncErrorIsReported(t *testing.T) {
	boom := errors.New("database unavailable")
	rec := &synctest.Recorder{Err: boom}
	svc := PublishService{Store: &memStore{titles: map[uuid.UUID]string{}}, Sync: blog.Syncer{Syncer: rec}}
	id, err := svc.CreatePost(context.Background(), "x")
	assert.ErrorIs(t, err, boom)
	assert.ErrorContains(t, err, id.String())
	assert.Len(t, rec.ChangesFor(blog.EntityPost), 1)
}

// TestSyncer_HelpersAreOneGenericSync holds each typed helper of the blog to
// the one Sync call it stands for: its entity, mode and cascade.
func TestSyncer_HelpersAreOneGenericSync(t *testing.T) {
	ctx := context.Background()
	ids := []uuid.UUID{uuid.New(), uuid.New()}
	keys := tvsync.UUIDKeys(ids)
	rec := &synctest.Recorder{}
	s := blog.Syncer{Syncer: rec}
	type want struct {
		mode   tvsync.Mode
		change tvsync.Change
	}
	cases := []struct {
		name string
		call func() (tvsync.Report, error)
		want want
	}{
		{"SyncPost", func() (tvsync.Report, error) { return s.SyncPost(ctx, ids, tvsync.ModeRepair) },
			want{tvsync.ModeRepair, tvsync.Change{Entity: blog.EntityPost, IDs: keys, Cascade: true}}},
		{"SyncUser", func() (tvsync.Report, error) { return s.SyncUser(ctx, ids, tvsync.ModeIncremental) },
			want{tvsync.ModeIncremental, tvsync.Change{Entity: blog.EntityUser, IDs: keys, Cascade: true}}},
		{"SyncComment", func() (tvsync.Report, error) { return s.SyncComment(ctx, ids, tvsync.ModeIncremental) },
			want{tvsync.ModeIncremental, tvsync.Change{Entity: blog.EntityComment, IDs: keys, Cascade: true}}},
		{"DeletePost", func() (tvsync.Report, error) { return s.DeletePost(ctx, ids) },
			want{tvsync.ModeIncremental, tvsync.Change{Entity: blog.EntityPost, IDs: keys}}},
		{"DeleteUser", func() (tvsync.Report, error) { return s.DeleteUser(ctx, ids) },
			want{tvsync.ModeIncremental, tvsync.Change{Entity: blog.EntityUser, IDs: keys}}},
		{"DeleteComment", func() (tvsync.Report, error) { return s.DeleteComment(ctx, ids) },
			want{tvsync.ModeIncremental, tvsync.Change{Entity: blog.EntityComment, IDs: keys}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec.Reset()
			_, err := tc.call()
			require.NoError(t, err)
			calls := rec.Calls()
			require.Len(t, calls, 1)
			assert.Equal(t, synctest.Call{Mode: tc.want.mode, Changes: []tvsync.Change{tc.want.change}}, calls[0])
			assert.Len(t, rec.CallsFor(tc.want.change.Entity), 1)
		})
	}
}
