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
// built on the sqlc statements of queries/. It is also the example to follow
// when adding an entity.
func BlogEntities() []Entity {
	q := db.New()
	ctx := context.Background() // batch methods only queue; the pipeline's Send takes the real context
	return []Entity{
		{
			Name: EntityUser,
			View: "tv_user",
			Refresh: func(p *Pipeline, ids []uuid.UUID) func() (RefreshResult, error) {
				return readOne(q.UserRefresh(ctx, p, [][]uuid.UUID{ids}), func(r db.UserRefreshRow) RefreshResult {
					return RefreshResult{Found: int(r.Found), Upserted: int(r.Upserted), FinishedAt: r.FinishedAt}
				})
			},
			RefreshRange: func(p *Pipeline, after, upto uuid.UUID) func() (RefreshResult, error) {
				return readOne(q.UserRangeRefresh(ctx, p, []db.UserRangeRefreshParams{{After: after, Upto: upto}}), func(r db.UserRangeRefreshRow) RefreshResult {
					return RefreshResult{Found: int(r.Found), Upserted: int(r.Upserted), FinishedAt: r.FinishedAt}
				})
			},
			DeleteMissingRange: func(p *Pipeline, after, upto uuid.UUID) func() (DeleteResult, error) {
				return readOne(q.UserRangeDeleteMissing(ctx, p, []db.UserRangeDeleteMissingParams{{After: after, Upto: upto}}), func(r db.UserRangeDeleteMissingRow) DeleteResult {
					return DeleteResult{Deleted: int(r.Deleted), FinishedAt: r.FinishedAt}
				})
			},
			DeleteMissing: func(p *Pipeline, ids []uuid.UUID) func() (DeleteResult, error) {
				return readOne(q.UserDeleteMissing(ctx, p, [][]uuid.UUID{ids}), func(r db.UserDeleteMissingRow) DeleteResult {
					return DeleteResult{Deleted: int(r.Deleted), FinishedAt: r.FinishedAt}
				})
			},
			IDsAfter: func(ctx context.Context, conn DB, after uuid.UUID, limit int) ([]uuid.UUID, error) {
				return q.UserIDsAfter(ctx, conn, db.UserIDsAfterParams{After: after, PageSize: int32(limit)})
			},
			ViewIDsAfter: func(ctx context.Context, conn DB, after uuid.UUID, limit int) ([]uuid.UUID, error) {
				return q.UserViewIDsAfter(ctx, conn, db.UserViewIDsAfterParams{After: after, PageSize: int32(limit)})
			},
			Verify: func(ctx context.Context, conn DB, after, upto uuid.UUID) ([]Drift, error) {
				rows, err := q.UserVerify(ctx, conn, db.UserVerifyParams{After: after, Upto: upto})
				return convert(rows, func(r db.UserVerifyRow) Drift { return Drift{ID: r.ID, Kind: r.Problem} }), err
			},
			Cascades: []Cascade{
				{Entity: EntityPost, Lookup: func(p *Pipeline, ids []uuid.UUID) func() ([]uuid.UUID, error) {
					return readMany(q.PostIDsByAuthor(ctx, p, [][]uuid.UUID{ids}))
				}},
				{Entity: EntityPost, Lookup: func(p *Pipeline, ids []uuid.UUID) func() ([]uuid.UUID, error) {
					return readMany(q.PostIDsCommentedByUser(ctx, p, [][]uuid.UUID{ids}))
				}},
				{Entity: EntityComment, Lookup: func(p *Pipeline, ids []uuid.UUID) func() ([]uuid.UUID, error) {
					return readMany(q.CommentIDsByAuthor(ctx, p, [][]uuid.UUID{ids}))
				}},
			},
		},
		{
			Name: EntityPost,
			View: "tv_post",
			Refresh: func(p *Pipeline, ids []uuid.UUID) func() (RefreshResult, error) {
				return readOne(q.PostRefresh(ctx, p, [][]uuid.UUID{ids}), func(r db.PostRefreshRow) RefreshResult {
					return RefreshResult{Found: int(r.Found), Upserted: int(r.Upserted), FinishedAt: r.FinishedAt}
				})
			},
			RefreshWide: func(p *Pipeline, ids []uuid.UUID) func() (RefreshResult, error) {
				return readOne(q.PostWideRefresh(ctx, p, [][]uuid.UUID{ids}), func(r db.PostWideRefreshRow) RefreshResult {
					return RefreshResult{Found: int(r.Found), Upserted: int(r.Upserted), FinishedAt: r.FinishedAt}
				})
			},
			RefreshRange: func(p *Pipeline, after, upto uuid.UUID) func() (RefreshResult, error) {
				return readOne(q.PostRangeRefresh(ctx, p, []db.PostRangeRefreshParams{{After: after, Upto: upto}}), func(r db.PostRangeRefreshRow) RefreshResult {
					return RefreshResult{Found: int(r.Found), Upserted: int(r.Upserted), FinishedAt: r.FinishedAt}
				})
			},
			DeleteMissingRange: func(p *Pipeline, after, upto uuid.UUID) func() (DeleteResult, error) {
				return readOne(q.PostRangeDeleteMissing(ctx, p, []db.PostRangeDeleteMissingParams{{After: after, Upto: upto}}), func(r db.PostRangeDeleteMissingRow) DeleteResult {
					return DeleteResult{Deleted: int(r.Deleted), FinishedAt: r.FinishedAt}
				})
			},
			DeleteMissing: func(p *Pipeline, ids []uuid.UUID) func() (DeleteResult, error) {
				return readOne(q.PostDeleteMissing(ctx, p, [][]uuid.UUID{ids}), func(r db.PostDeleteMissingRow) DeleteResult {
					return DeleteResult{Deleted: int(r.Deleted), FinishedAt: r.FinishedAt}
				})
			},
			IDsAfter: func(ctx context.Context, conn DB, after uuid.UUID, limit int) ([]uuid.UUID, error) {
				return q.PostIDsAfter(ctx, conn, db.PostIDsAfterParams{After: after, PageSize: int32(limit)})
			},
			ViewIDsAfter: func(ctx context.Context, conn DB, after uuid.UUID, limit int) ([]uuid.UUID, error) {
				return q.PostViewIDsAfter(ctx, conn, db.PostViewIDsAfterParams{After: after, PageSize: int32(limit)})
			},
			Verify: func(ctx context.Context, conn DB, after, upto uuid.UUID) ([]Drift, error) {
				rows, err := q.PostVerify(ctx, conn, db.PostVerifyParams{After: after, Upto: upto})
				return convert(rows, func(r db.PostVerifyRow) Drift { return Drift{ID: r.ID, Kind: r.Problem} }), err
			},
			Cascades: []Cascade{
				{Entity: EntityComment, Lookup: func(p *Pipeline, ids []uuid.UUID) func() ([]uuid.UUID, error) {
					return readMany(q.CommentIDsByPost(ctx, p, [][]uuid.UUID{ids}))
				}},
			},
		},
		{
			Name: EntityComment,
			View: "tv_comment",
			Refresh: func(p *Pipeline, ids []uuid.UUID) func() (RefreshResult, error) {
				return readOne(q.CommentRefresh(ctx, p, [][]uuid.UUID{ids}), func(r db.CommentRefreshRow) RefreshResult {
					return RefreshResult{Found: int(r.Found), Upserted: int(r.Upserted), FinishedAt: r.FinishedAt}
				})
			},
			RefreshRange: func(p *Pipeline, after, upto uuid.UUID) func() (RefreshResult, error) {
				return readOne(q.CommentRangeRefresh(ctx, p, []db.CommentRangeRefreshParams{{After: after, Upto: upto}}), func(r db.CommentRangeRefreshRow) RefreshResult {
					return RefreshResult{Found: int(r.Found), Upserted: int(r.Upserted), FinishedAt: r.FinishedAt}
				})
			},
			DeleteMissingRange: func(p *Pipeline, after, upto uuid.UUID) func() (DeleteResult, error) {
				return readOne(q.CommentRangeDeleteMissing(ctx, p, []db.CommentRangeDeleteMissingParams{{After: after, Upto: upto}}), func(r db.CommentRangeDeleteMissingRow) DeleteResult {
					return DeleteResult{Deleted: int(r.Deleted), FinishedAt: r.FinishedAt}
				})
			},
			DeleteMissing: func(p *Pipeline, ids []uuid.UUID) func() (DeleteResult, error) {
				return readOne(q.CommentDeleteMissing(ctx, p, [][]uuid.UUID{ids}), func(r db.CommentDeleteMissingRow) DeleteResult {
					return DeleteResult{Deleted: int(r.Deleted), FinishedAt: r.FinishedAt}
				})
			},
			IDsAfter: func(ctx context.Context, conn DB, after uuid.UUID, limit int) ([]uuid.UUID, error) {
				return q.CommentIDsAfter(ctx, conn, db.CommentIDsAfterParams{After: after, PageSize: int32(limit)})
			},
			ViewIDsAfter: func(ctx context.Context, conn DB, after uuid.UUID, limit int) ([]uuid.UUID, error) {
				return q.CommentViewIDsAfter(ctx, conn, db.CommentViewIDsAfterParams{After: after, PageSize: int32(limit)})
			},
			Verify: func(ctx context.Context, conn DB, after, upto uuid.UUID) ([]Drift, error) {
				rows, err := q.CommentVerify(ctx, conn, db.CommentVerifyParams{After: after, Upto: upto})
				return convert(rows, func(r db.CommentVerifyRow) Drift { return Drift{ID: r.ID, Kind: r.Problem} }), err
			},
		},
	}
}

// convert maps generated rows to our own type.
func convert[R, T any](rows []R, f func(R) T) []T {
	out := make([]T, len(rows))
	for i, r := range rows {
		out[i] = f(r)
	}
	return out
}

// rowReader is a sqlc :batchone results object.
type rowReader[R any] interface {
	QueryRow(f func(int, R, error))
}

// rowsReader is a sqlc :batchmany results object of ids.
type rowsReader interface {
	Query(f func(int, []uuid.UUID, error))
}

// readOne adapts a sqlc :batchone result to a reader of our own type.
func readOne[R, T any](br rowReader[R], conv func(R) T) func() (T, error) {
	return func() (out T, err error) {
		br.QueryRow(func(_ int, r R, qerr error) { out, err = conv(r), qerr })
		return out, err
	}
}

// readMany adapts a sqlc :batchmany result of ids to a reader.
func readMany(br rowsReader) func() ([]uuid.UUID, error) {
	return func() (out []uuid.UUID, err error) {
		br.Query(func(_ int, ids []uuid.UUID, qerr error) { out, err = ids, qerr })
		return out, err
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
	return e.Sync(ctx, mode, Change{Entity: EntityPost, IDs: ids, Cascade: true})
}

// SyncUser syncs the tv_user rows of ids and every tv_post and tv_comment
// row that embeds the users.
func (e *Engine) SyncUser(ctx context.Context, ids []uuid.UUID, mode Mode) (Report, error) {
	return e.Sync(ctx, mode, Change{Entity: EntityUser, IDs: ids, Cascade: true})
}

// SyncComment syncs the tv_comment rows of ids.
func (e *Engine) SyncComment(ctx context.Context, ids []uuid.UUID, mode Mode) (Report, error) {
	return e.Sync(ctx, mode, Change{Entity: EntityComment, IDs: ids, Cascade: true})
}

// DeletePost removes the tv_post rows of ids whose posts are gone (a post
// that still exists is refreshed instead). Rows of dependents that were
// deleted with the posts must be named too; the repository does this.
func (e *Engine) DeletePost(ctx context.Context, ids []uuid.UUID) (Report, error) {
	return e.Sync(ctx, ModeIncremental, Change{Entity: EntityPost, IDs: ids})
}

// DeleteUser removes the tv_user rows of ids whose users are gone.
func (e *Engine) DeleteUser(ctx context.Context, ids []uuid.UUID) (Report, error) {
	return e.Sync(ctx, ModeIncremental, Change{Entity: EntityUser, IDs: ids})
}

// DeleteComment removes the tv_comment rows of ids whose comments are gone.
func (e *Engine) DeleteComment(ctx context.Context, ids []uuid.UUID) (Report, error) {
	return e.Sync(ctx, ModeIncremental, Change{Entity: EntityComment, IDs: ids})
}
