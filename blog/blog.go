// Package blog is the seed's blog registered on the tvsync kit: the entities
// user, post and comment over the sqlc statements of queries/, an engine
// constructor, and typed sync helpers for application code. It is the
// reference a team copies for its own schema: nothing here is reachable
// from package sync, so tvsync's own entities are registered exactly as a
// team's are.
package blog

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/tvsync/tvsync/db"
	"github.com/tvsync/tvsync/sync"
)

// Names of the blog entities that tvsync ships.
const (
	EntityUser    = "user"
	EntityPost    = "post"
	EntityComment = "comment"
)

// Entities returns the registrations of tv_user, tv_post and tv_comment,
// built on the sqlc statements of queries/ with the registration helpers
// (ReadRefresh, ReadDelete, ReadMany, Keys, Drifts, UUIDs). It is also the
// example to follow when adding an entity.
func Entities() []sync.Entity {
	q := db.New()
	ctx := context.Background() // batch methods only queue; the pipeline's Send takes the real context
	return []sync.Entity{
		{
			Name:   EntityUser,
			View:   "tv_user",
			Source: "tv_user_source",
			Refresh: func(p *sync.Pipeline, ids []sync.ID) func() (sync.RefreshResult, error) {
				return sync.ReadRefresh(q.UserRefresh(ctx, p, [][]uuid.UUID{sync.UUIDs(ids)}))
			},
			RefreshRange: func(p *sync.Pipeline, after, upto sync.ID, ids []sync.ID) func() (sync.RefreshResult, error) {
				return sync.ReadRefresh(q.UserRangeRefresh(ctx, p, []db.UserRangeRefreshParams{{After: after.UUID(), Upto: upto.UUID(), Ids: sync.UUIDs(ids)}}))
			},
			DeleteMissingRange: func(p *sync.Pipeline, after, upto sync.ID, ids []sync.ID) func() (sync.DeleteResult, error) {
				return sync.ReadDelete(q.UserRangeDeleteMissing(ctx, p, []db.UserRangeDeleteMissingParams{{After: after.UUID(), Upto: upto.UUID(), Ids: sync.UUIDs(ids)}}))
			},
			DeleteMissing: func(p *sync.Pipeline, ids []sync.ID) func() (sync.DeleteResult, error) {
				return sync.ReadDelete(q.UserDeleteMissing(ctx, p, [][]uuid.UUID{sync.UUIDs(ids)}))
			},
			IDsAfter: func(ctx context.Context, conn sync.DB, after sync.ID, limit int) ([]sync.ID, error) {
				return sync.Keys(q.UserIDsAfter(ctx, conn, db.UserIDsAfterParams{After: after.UUID(), PageSize: int32(limit)}))
			},
			ViewIDsAfter: func(ctx context.Context, conn sync.DB, after sync.ID, limit int) ([]sync.ID, error) {
				return sync.Keys(q.UserViewIDsAfter(ctx, conn, db.UserViewIDsAfterParams{After: after.UUID(), PageSize: int32(limit)}))
			},
			Verify: func(ctx context.Context, conn sync.DB, after, upto sync.ID) ([]sync.Drift, error) {
				return sync.Drifts(q.UserVerify(ctx, conn, db.UserVerifyParams{After: after.UUID(), Upto: upto.UUID()}))
			},
			Cascades: []sync.Cascade{
				{Entity: EntityPost, Lookup: func(p *sync.Pipeline, ids []sync.ID) func() ([]sync.ID, error) {
					return sync.ReadMany(q.PostIDsByAuthor(ctx, p, [][]uuid.UUID{sync.UUIDs(ids)}))
				}},
				{Entity: EntityPost, Lookup: func(p *sync.Pipeline, ids []sync.ID) func() ([]sync.ID, error) {
					return sync.ReadMany(q.PostIDsCommentedByUser(ctx, p, [][]uuid.UUID{sync.UUIDs(ids)}))
				}},
				{Entity: EntityComment, Lookup: func(p *sync.Pipeline, ids []sync.ID) func() ([]sync.ID, error) {
					return sync.ReadMany(q.CommentIDsByAuthor(ctx, p, [][]uuid.UUID{sync.UUIDs(ids)}))
				}},
			},
		},
		{
			Name:   EntityPost,
			View:   "tv_post",
			Source: "tv_post_source",
			Refresh: func(p *sync.Pipeline, ids []sync.ID) func() (sync.RefreshResult, error) {
				return sync.ReadRefresh(q.PostRefresh(ctx, p, [][]uuid.UUID{sync.UUIDs(ids)}))
			},
			RefreshWide: func(p *sync.Pipeline, ids []sync.ID) func() (sync.RefreshResult, error) {
				return sync.ReadRefresh(q.PostWideRefresh(ctx, p, [][]uuid.UUID{sync.UUIDs(ids)}))
			},
			RefreshRange: func(p *sync.Pipeline, after, upto sync.ID, ids []sync.ID) func() (sync.RefreshResult, error) {
				return sync.ReadRefresh(q.PostRangeRefresh(ctx, p, []db.PostRangeRefreshParams{{After: after.UUID(), Upto: upto.UUID(), Ids: sync.UUIDs(ids)}}))
			},
			DeleteMissingRange: func(p *sync.Pipeline, after, upto sync.ID, ids []sync.ID) func() (sync.DeleteResult, error) {
				return sync.ReadDelete(q.PostRangeDeleteMissing(ctx, p, []db.PostRangeDeleteMissingParams{{After: after.UUID(), Upto: upto.UUID(), Ids: sync.UUIDs(ids)}}))
			},
			DeleteMissing: func(p *sync.Pipeline, ids []sync.ID) func() (sync.DeleteResult, error) {
				return sync.ReadDelete(q.PostDeleteMissing(ctx, p, [][]uuid.UUID{sync.UUIDs(ids)}))
			},
			IDsAfter: func(ctx context.Context, conn sync.DB, after sync.ID, limit int) ([]sync.ID, error) {
				return sync.Keys(q.PostIDsAfter(ctx, conn, db.PostIDsAfterParams{After: after.UUID(), PageSize: int32(limit)}))
			},
			ViewIDsAfter: func(ctx context.Context, conn sync.DB, after sync.ID, limit int) ([]sync.ID, error) {
				return sync.Keys(q.PostViewIDsAfter(ctx, conn, db.PostViewIDsAfterParams{After: after.UUID(), PageSize: int32(limit)}))
			},
			Verify: func(ctx context.Context, conn sync.DB, after, upto sync.ID) ([]sync.Drift, error) {
				return sync.Drifts(q.PostVerify(ctx, conn, db.PostVerifyParams{After: after.UUID(), Upto: upto.UUID()}))
			},
			Cascades: []sync.Cascade{
				{Entity: EntityComment, Lookup: func(p *sync.Pipeline, ids []sync.ID) func() ([]sync.ID, error) {
					return sync.ReadMany(q.CommentIDsByPost(ctx, p, [][]uuid.UUID{sync.UUIDs(ids)}))
				}},
			},
		},
		{
			Name:   EntityComment,
			View:   "tv_comment",
			Source: "tv_comment_source",
			Refresh: func(p *sync.Pipeline, ids []sync.ID) func() (sync.RefreshResult, error) {
				return sync.ReadRefresh(q.CommentRefresh(ctx, p, [][]uuid.UUID{sync.UUIDs(ids)}))
			},
			RefreshRange: func(p *sync.Pipeline, after, upto sync.ID, ids []sync.ID) func() (sync.RefreshResult, error) {
				return sync.ReadRefresh(q.CommentRangeRefresh(ctx, p, []db.CommentRangeRefreshParams{{After: after.UUID(), Upto: upto.UUID(), Ids: sync.UUIDs(ids)}}))
			},
			DeleteMissingRange: func(p *sync.Pipeline, after, upto sync.ID, ids []sync.ID) func() (sync.DeleteResult, error) {
				return sync.ReadDelete(q.CommentRangeDeleteMissing(ctx, p, []db.CommentRangeDeleteMissingParams{{After: after.UUID(), Upto: upto.UUID(), Ids: sync.UUIDs(ids)}}))
			},
			DeleteMissing: func(p *sync.Pipeline, ids []sync.ID) func() (sync.DeleteResult, error) {
				return sync.ReadDelete(q.CommentDeleteMissing(ctx, p, [][]uuid.UUID{sync.UUIDs(ids)}))
			},
			IDsAfter: func(ctx context.Context, conn sync.DB, after sync.ID, limit int) ([]sync.ID, error) {
				return sync.Keys(q.CommentIDsAfter(ctx, conn, db.CommentIDsAfterParams{After: after.UUID(), PageSize: int32(limit)}))
			},
			ViewIDsAfter: func(ctx context.Context, conn sync.DB, after sync.ID, limit int) ([]sync.ID, error) {
				return sync.Keys(q.CommentViewIDsAfter(ctx, conn, db.CommentViewIDsAfterParams{After: after.UUID(), PageSize: int32(limit)}))
			},
			Verify: func(ctx context.Context, conn sync.DB, after, upto sync.ID) ([]sync.Drift, error) {
				return sync.Drifts(q.CommentVerify(ctx, conn, db.CommentVerifyParams{After: after.UUID(), Upto: upto.UUID()}))
			},
		},
	}
}

// NewEngine returns an engine for the blog entities of Entities.
func NewEngine(pool sync.Beginner, cfg sync.Config) (*sync.Engine, error) {
	e, err := sync.NewEngine(pool, cfg, Entities()...)
	if err != nil {
		return nil, fmt.Errorf("blog: register entities: %w", err)
	}
	return e, nil
}

// MustNewEngine is NewEngine for callers that cannot go on without the
// engine (tests, tools): the blog's registrations are static, so a failure
// is a bug in this package, and it panics.
func MustNewEngine(pool sync.Beginner, cfg sync.Config) *sync.Engine {
	e, err := NewEngine(pool, cfg)
	if err != nil {
		panic(err)
	}
	return e
}

// Syncer adds the blog's typed helpers to any sync.Syncer (the engine, or
// synctest.Recorder in unit tests), so application code reads as in the
// seed: Syncer{Syncer: engine}.SyncPost(ctx, ids, sync.ModeIncremental).
// Each helper is one call of the embedded Syncer's Sync.
type Syncer struct {
	sync.Syncer
}

// SyncPost syncs the tv_post rows of ids and the tv_comment rows that embed
// their titles.
func (s Syncer) SyncPost(ctx context.Context, ids []uuid.UUID, mode sync.Mode) (sync.Report, error) {
	return s.Sync(ctx, mode, sync.Change{Entity: EntityPost, IDs: sync.UUIDKeys(ids), Cascade: true})
}

// SyncUser syncs the tv_user rows of ids and every tv_post and tv_comment
// row that embeds the users.
func (s Syncer) SyncUser(ctx context.Context, ids []uuid.UUID, mode sync.Mode) (sync.Report, error) {
	return s.Sync(ctx, mode, sync.Change{Entity: EntityUser, IDs: sync.UUIDKeys(ids), Cascade: true})
}

// SyncComment syncs the tv_comment rows of ids.
func (s Syncer) SyncComment(ctx context.Context, ids []uuid.UUID, mode sync.Mode) (sync.Report, error) {
	return s.Sync(ctx, mode, sync.Change{Entity: EntityComment, IDs: sync.UUIDKeys(ids), Cascade: true})
}

// DeletePost removes the tv_post rows of ids whose posts are gone (a post
// that still exists is refreshed instead). Rows of dependents that were
// deleted with the posts must be named too; the repository does this.
func (s Syncer) DeletePost(ctx context.Context, ids []uuid.UUID) (sync.Report, error) {
	return s.Sync(ctx, sync.ModeIncremental, sync.Change{Entity: EntityPost, IDs: sync.UUIDKeys(ids)})
}

// DeleteUser removes the tv_user rows of ids whose users are gone.
func (s Syncer) DeleteUser(ctx context.Context, ids []uuid.UUID) (sync.Report, error) {
	return s.Sync(ctx, sync.ModeIncremental, sync.Change{Entity: EntityUser, IDs: sync.UUIDKeys(ids)})
}

// DeleteComment removes the tv_comment rows of ids whose comments are gone.
func (s Syncer) DeleteComment(ctx context.Context, ids []uuid.UUID) (sync.Report, error) {
	return s.Sync(ctx, sync.ModeIncremental, sync.Change{Entity: EntityComment, IDs: sync.UUIDKeys(ids)})
}
