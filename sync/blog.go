package sync

import (
	"context"

	"github.com/google/uuid"

	"github.com/tvsync/tvsync/db"
)

// Names of the blog entities that tvsync ships.
const (
	EntityUser    = "user"
	EntityPost    = "post"
	EntityComment = "comment"
)

// BlogEntities returns the registrations of tv_user, tv_post and tv_comment,
// built on the sqlc statements of queries/ with the registration helpers
// (ReadRefresh, ReadDelete, ReadMany, Keys, Drifts, UUIDs). It is also the
// example to follow when adding an entity.
func BlogEntities() []Entity {
	q := db.New()
	ctx := context.Background() // batch methods only queue; the pipeline's Send takes the real context
	return []Entity{
		{
			Name: EntityUser,
			View: "tv_user",
			Refresh: func(p *Pipeline, ids []ID) func() (RefreshResult, error) {
				return ReadRefresh(q.UserRefresh(ctx, p, [][]uuid.UUID{UUIDs(ids)}))
			},
			RefreshRange: func(p *Pipeline, after, upto ID, ids []ID) func() (RefreshResult, error) {
				return ReadRefresh(q.UserRangeRefresh(ctx, p, []db.UserRangeRefreshParams{{After: after.UUID(), Upto: upto.UUID(), Ids: UUIDs(ids)}}))
			},
			DeleteMissingRange: func(p *Pipeline, after, upto ID, ids []ID) func() (DeleteResult, error) {
				return ReadDelete(q.UserRangeDeleteMissing(ctx, p, []db.UserRangeDeleteMissingParams{{After: after.UUID(), Upto: upto.UUID(), Ids: UUIDs(ids)}}))
			},
			DeleteMissing: func(p *Pipeline, ids []ID) func() (DeleteResult, error) {
				return ReadDelete(q.UserDeleteMissing(ctx, p, [][]uuid.UUID{UUIDs(ids)}))
			},
			IDsAfter: func(ctx context.Context, conn DB, after ID, limit int) ([]ID, error) {
				return Keys(q.UserIDsAfter(ctx, conn, db.UserIDsAfterParams{After: after.UUID(), PageSize: int32(limit)}))
			},
			ViewIDsAfter: func(ctx context.Context, conn DB, after ID, limit int) ([]ID, error) {
				return Keys(q.UserViewIDsAfter(ctx, conn, db.UserViewIDsAfterParams{After: after.UUID(), PageSize: int32(limit)}))
			},
			Verify: func(ctx context.Context, conn DB, after, upto ID) ([]Drift, error) {
				return Drifts(q.UserVerify(ctx, conn, db.UserVerifyParams{After: after.UUID(), Upto: upto.UUID()}))
			},
			Cascades: []Cascade{
				{Entity: EntityPost, Lookup: func(p *Pipeline, ids []ID) func() ([]ID, error) {
					return ReadMany(q.PostIDsByAuthor(ctx, p, [][]uuid.UUID{UUIDs(ids)}))
				}},
				{Entity: EntityPost, Lookup: func(p *Pipeline, ids []ID) func() ([]ID, error) {
					return ReadMany(q.PostIDsCommentedByUser(ctx, p, [][]uuid.UUID{UUIDs(ids)}))
				}},
				{Entity: EntityComment, Lookup: func(p *Pipeline, ids []ID) func() ([]ID, error) {
					return ReadMany(q.CommentIDsByAuthor(ctx, p, [][]uuid.UUID{UUIDs(ids)}))
				}},
			},
		},
		{
			Name: EntityPost,
			View: "tv_post",
			Refresh: func(p *Pipeline, ids []ID) func() (RefreshResult, error) {
				return ReadRefresh(q.PostRefresh(ctx, p, [][]uuid.UUID{UUIDs(ids)}))
			},
			RefreshWide: func(p *Pipeline, ids []ID) func() (RefreshResult, error) {
				return ReadRefresh(q.PostWideRefresh(ctx, p, [][]uuid.UUID{UUIDs(ids)}))
			},
			RefreshRange: func(p *Pipeline, after, upto ID, ids []ID) func() (RefreshResult, error) {
				return ReadRefresh(q.PostRangeRefresh(ctx, p, []db.PostRangeRefreshParams{{After: after.UUID(), Upto: upto.UUID(), Ids: UUIDs(ids)}}))
			},
			DeleteMissingRange: func(p *Pipeline, after, upto ID, ids []ID) func() (DeleteResult, error) {
				return ReadDelete(q.PostRangeDeleteMissing(ctx, p, []db.PostRangeDeleteMissingParams{{After: after.UUID(), Upto: upto.UUID(), Ids: UUIDs(ids)}}))
			},
			DeleteMissing: func(p *Pipeline, ids []ID) func() (DeleteResult, error) {
				return ReadDelete(q.PostDeleteMissing(ctx, p, [][]uuid.UUID{UUIDs(ids)}))
			},
			IDsAfter: func(ctx context.Context, conn DB, after ID, limit int) ([]ID, error) {
				return Keys(q.PostIDsAfter(ctx, conn, db.PostIDsAfterParams{After: after.UUID(), PageSize: int32(limit)}))
			},
			ViewIDsAfter: func(ctx context.Context, conn DB, after ID, limit int) ([]ID, error) {
				return Keys(q.PostViewIDsAfter(ctx, conn, db.PostViewIDsAfterParams{After: after.UUID(), PageSize: int32(limit)}))
			},
			Verify: func(ctx context.Context, conn DB, after, upto ID) ([]Drift, error) {
				return Drifts(q.PostVerify(ctx, conn, db.PostVerifyParams{After: after.UUID(), Upto: upto.UUID()}))
			},
			Cascades: []Cascade{
				{Entity: EntityComment, Lookup: func(p *Pipeline, ids []ID) func() ([]ID, error) {
					return ReadMany(q.CommentIDsByPost(ctx, p, [][]uuid.UUID{UUIDs(ids)}))
				}},
			},
		},
		{
			Name: EntityComment,
			View: "tv_comment",
			Refresh: func(p *Pipeline, ids []ID) func() (RefreshResult, error) {
				return ReadRefresh(q.CommentRefresh(ctx, p, [][]uuid.UUID{UUIDs(ids)}))
			},
			RefreshRange: func(p *Pipeline, after, upto ID, ids []ID) func() (RefreshResult, error) {
				return ReadRefresh(q.CommentRangeRefresh(ctx, p, []db.CommentRangeRefreshParams{{After: after.UUID(), Upto: upto.UUID(), Ids: UUIDs(ids)}}))
			},
			DeleteMissingRange: func(p *Pipeline, after, upto ID, ids []ID) func() (DeleteResult, error) {
				return ReadDelete(q.CommentRangeDeleteMissing(ctx, p, []db.CommentRangeDeleteMissingParams{{After: after.UUID(), Upto: upto.UUID(), Ids: UUIDs(ids)}}))
			},
			DeleteMissing: func(p *Pipeline, ids []ID) func() (DeleteResult, error) {
				return ReadDelete(q.CommentDeleteMissing(ctx, p, [][]uuid.UUID{UUIDs(ids)}))
			},
			IDsAfter: func(ctx context.Context, conn DB, after ID, limit int) ([]ID, error) {
				return Keys(q.CommentIDsAfter(ctx, conn, db.CommentIDsAfterParams{After: after.UUID(), PageSize: int32(limit)}))
			},
			ViewIDsAfter: func(ctx context.Context, conn DB, after ID, limit int) ([]ID, error) {
				return Keys(q.CommentViewIDsAfter(ctx, conn, db.CommentViewIDsAfterParams{After: after.UUID(), PageSize: int32(limit)}))
			},
			Verify: func(ctx context.Context, conn DB, after, upto ID) ([]Drift, error) {
				return Drifts(q.CommentVerify(ctx, conn, db.CommentVerifyParams{After: after.UUID(), Upto: upto.UUID()}))
			},
		},
	}
}

// New returns an engine for the blog entities of BlogEntities.
func New(pool Beginner, cfg Config) *Engine {
	e, err := NewEngine(pool, cfg, BlogEntities()...)
	if err != nil {
		panic(err) // the blog registrations are static: a failure is a bug in this package
	}
	return e
}

// Syncer is the sync API that application code calls, as in the seed. The
// Engine implements it; unit tests of services substitute a fake (see
// package synctest).
type Syncer interface {
	// Sync brings the tv_ rows of the changes up to date.
	Sync(ctx context.Context, mode Mode, changes ...Change) (Report, error)
	// SyncPost syncs tv_post rows (and the tv_comment rows embedding their titles).
	SyncPost(ctx context.Context, ids []uuid.UUID, mode Mode) (Report, error)
	// SyncUser syncs tv_user rows and every row embedding the users.
	SyncUser(ctx context.Context, ids []uuid.UUID, mode Mode) (Report, error)
	// SyncComment syncs tv_comment rows.
	SyncComment(ctx context.Context, ids []uuid.UUID, mode Mode) (Report, error)
	// DeletePost removes the tv_post rows of deleted posts.
	DeletePost(ctx context.Context, ids []uuid.UUID) (Report, error)
	// DeleteUser removes the tv_user rows of deleted users.
	DeleteUser(ctx context.Context, ids []uuid.UUID) (Report, error)
	// DeleteComment removes the tv_comment rows of deleted comments.
	DeleteComment(ctx context.Context, ids []uuid.UUID) (Report, error)
}

var _ Syncer = (*Engine)(nil)

// SyncPost syncs the tv_post rows of ids and the tv_comment rows that embed
// their titles.
func (e *Engine) SyncPost(ctx context.Context, ids []uuid.UUID, mode Mode) (Report, error) {
	return e.Sync(ctx, mode, Change{Entity: EntityPost, IDs: UUIDKeys(ids), Cascade: true})
}

// SyncUser syncs the tv_user rows of ids and every tv_post and tv_comment
// row that embeds the users.
func (e *Engine) SyncUser(ctx context.Context, ids []uuid.UUID, mode Mode) (Report, error) {
	return e.Sync(ctx, mode, Change{Entity: EntityUser, IDs: UUIDKeys(ids), Cascade: true})
}

// SyncComment syncs the tv_comment rows of ids.
func (e *Engine) SyncComment(ctx context.Context, ids []uuid.UUID, mode Mode) (Report, error) {
	return e.Sync(ctx, mode, Change{Entity: EntityComment, IDs: UUIDKeys(ids), Cascade: true})
}

// DeletePost removes the tv_post rows of ids whose posts are gone (a post
// that still exists is refreshed instead). Rows of dependents that were
// deleted with the posts must be named too; the repository does this.
func (e *Engine) DeletePost(ctx context.Context, ids []uuid.UUID) (Report, error) {
	return e.Sync(ctx, ModeIncremental, Change{Entity: EntityPost, IDs: UUIDKeys(ids)})
}

// DeleteUser removes the tv_user rows of ids whose users are gone.
func (e *Engine) DeleteUser(ctx context.Context, ids []uuid.UUID) (Report, error) {
	return e.Sync(ctx, ModeIncremental, Change{Entity: EntityUser, IDs: UUIDKeys(ids)})
}

// DeleteComment removes the tv_comment rows of ids whose comments are gone.
func (e *Engine) DeleteComment(ctx context.Context, ids []uuid.UUID) (Report, error) {
	return e.Sync(ctx, ModeIncremental, Change{Entity: EntityComment, IDs: UUIDKeys(ids)})
}
