package repository

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tvsync/tvsync/blog"
	"github.com/tvsync/tvsync/db"
	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/syncuow"
)

// UnitOfWork is a transaction of writes to the command tables. Each typed
// write records the entities it affects, cascades included, so that the
// repository syncs all of them when the unit of work commits: nobody can
// forget a sync. A UnitOfWork is only valid inside the InTx call that made
// it and is not safe for concurrent use: once that call's fn returns, every
// write, and every statement sent through Tx, fails with ErrUnitOfWorkDone.
type UnitOfWork struct {
	w    *syncuow.Work
	tx   pgx.Tx // w.Tx(): guarded, fails once the unit of work is closed
	repo *Repository
}

// Tx returns the unit of work's transaction, for writes of the
// application's own; record what they affect with Record. Like the unit of
// work, it fails with ErrUnitOfWorkDone once InTx's fn has returned (its
// LargeObjects and Conn are not guarded: do not keep them). Its Commit and
// Rollback fail with syncuow.ErrTxOwnedByUnitOfWork: InTx commits when fn
// returns nil and rolls back when it returns an error. Begin on it starts a
// savepoint, whose Commit and Rollback work as usual. See syncuow.Work.Tx
// for statements still in flight when fn returns.
func (u *UnitOfWork) Tx() pgx.Tx { return u.tx }

// Record adds changes to sync when the unit of work commits.
func (u *UnitOfWork) Record(changes ...tvsync.Change) { u.w.Record(changes...) }

func (u *UnitOfWork) record(entity string, cascade bool, ids ...uuid.UUID) {
	u.Record(tvsync.Change{Entity: entity, IDs: tvsync.UUIDKeys(ids), Cascade: cascade})
}

// Changes returns what the unit of work has recorded so far, one change per
// entity and cascade flag, ids sorted.
func (u *UnitOfWork) Changes() []tvsync.Change { return u.w.Changes() }

func (u *UnitOfWork) q() *db.Queries { return u.repo.queries }

// CreateUser inserts a user and returns its id. It records tv_user.
func (u *UnitOfWork) CreateUser(ctx context.Context, username, fullName string) (uuid.UUID, error) {
	if strings.TrimSpace(username) == "" {
		return uuid.Nil, fmt.Errorf("create user: username is empty: %w", ErrInvalid)
	}
	if err := checkText("username", username, "full name", fullName); err != nil {
		return uuid.Nil, fmt.Errorf("create user: %w", err)
	}
	id, err := u.q().UserCreate(ctx, u.tx, db.UserCreateParams{Username: username, FullName: fullName})
	if err != nil {
		return uuid.Nil, fmt.Errorf("create user: %w", translate(err, "user", username))
	}
	u.record(blog.EntityUser, false, id)
	return id, nil
}

// RenameUser changes a user's username and full name. It records tv_user
// and, by cascade, every tv_post and tv_comment row that shows the user.
func (u *UnitOfWork) RenameUser(ctx context.Context, id uuid.UUID, username, fullName string) error {
	if strings.TrimSpace(username) == "" {
		return fmt.Errorf("rename user %s: username is empty: %w", id, ErrInvalid)
	}
	if err := checkText("username", username, "full name", fullName); err != nil {
		return fmt.Errorf("rename user %s: %w", id, err)
	}
	n, err := u.q().UserRename(ctx, u.tx, db.UserRenameParams{ID: id, Username: username, FullName: fullName})
	if err != nil {
		return fmt.Errorf("rename user: %w", translate(err, "user", id))
	}
	if n == 0 {
		return fmt.Errorf("rename user: user %s: %w", id, ErrNotFound)
	}
	u.record(blog.EntityUser, true, id)
	return nil
}

// DeleteUser deletes a user with their posts, comments and likes (the
// foreign keys cascade). Before deleting, it looks up every row the
// deletion affects: the user's tv_ rows and those of their posts and
// comments (removed), the comments on their posts (removed), the posts they
// commented on or liked and the users who commented on their posts (their
// counts change).
func (u *UnitOfWork) DeleteUser(ctx context.Context, id uuid.UUID) error {
	// Lock the user and their posts first: no new post, comment or like can
	// then reference them, so the look-ups below see every row the delete
	// will cascade to.
	n, err := u.q().UserLockForDelete(ctx, u.tx, id)
	if err != nil {
		return fmt.Errorf("delete user: %w", translate(err, "user", id))
	}
	if n == 0 {
		return fmt.Errorf("delete user: user %s: %w", id, ErrNotFound)
	}
	if err := u.q().PostLockByAuthorForDelete(ctx, u.tx, id); err != nil {
		return fmt.Errorf("delete user: lock their posts: %w", translate(err, "user", id))
	}
	affected, err := u.repo.engine.Expand(ctx, u.tx, tvsync.Change{Entity: blog.EntityUser, IDs: []tvsync.ID{tvsync.UUIDKey(id)}})
	if err != nil {
		return fmt.Errorf("delete user %s: %w", id, err)
	}
	p := &tvsync.Pipeline{}
	commenters := u.q().UserIDsCommentingOnPostsOfAuthor(ctx, p, [][]uuid.UUID{{id}})
	liked := u.q().PostIDsLikedByUser(ctx, p, [][]uuid.UUID{{id}})
	p.Send(ctx, u.tx)
	var commenterIDs, likedIDs []uuid.UUID
	commenters.Query(func(_ int, ids []uuid.UUID, qerr error) { commenterIDs, err = ids, qerr })
	if err == nil {
		liked.Query(func(_ int, ids []uuid.UUID, qerr error) { likedIDs, err = ids, qerr })
	}
	if cerr := p.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("delete user %s: look up commenters on their posts and posts they liked: %w", id, err)
	}
	n, err = u.q().UserDelete(ctx, u.tx, id)
	if err != nil {
		return fmt.Errorf("delete user: %w", translate(err, "user", id))
	}
	if n == 0 {
		return fmt.Errorf("delete user: user %s: %w", id, ErrNotFound)
	}
	u.Record(affected...)
	u.record(blog.EntityUser, false, commenterIDs...)
	u.record(blog.EntityPost, false, likedIDs...)
	return nil
}

// CreatePost inserts a post and returns its id. It records tv_post and the
// author's tv_user (postCount).
func (u *UnitOfWork) CreatePost(ctx context.Context, authorID uuid.UUID, title, content string, published bool) (uuid.UUID, error) {
	if strings.TrimSpace(title) == "" {
		return uuid.Nil, fmt.Errorf("create post: title is empty: %w", ErrInvalid)
	}
	if err := checkText("title", title, "content", content); err != nil {
		return uuid.Nil, fmt.Errorf("create post: %w", err)
	}
	id, err := u.q().PostCreate(ctx, u.tx, db.PostCreateParams{AuthorID: authorID, Title: title, Content: content, Published: published})
	if err != nil {
		return uuid.Nil, fmt.Errorf("create post: %w", translate(err, "author", authorID))
	}
	u.record(blog.EntityPost, false, id)
	u.record(blog.EntityUser, false, authorID)
	return id, nil
}

// UpdatePost changes a post's title and content. It records tv_post and,
// by cascade, the tv_comment rows that show the post's title.
func (u *UnitOfWork) UpdatePost(ctx context.Context, id uuid.UUID, title, content string) error {
	if strings.TrimSpace(title) == "" {
		return fmt.Errorf("update post %s: title is empty: %w", id, ErrInvalid)
	}
	if err := checkText("title", title, "content", content); err != nil {
		return fmt.Errorf("update post %s: %w", id, err)
	}
	if _, err := u.q().PostUpdate(ctx, u.tx, db.PostUpdateParams{ID: id, Title: title, Content: content}); err != nil {
		return fmt.Errorf("update post: %w", translate(err, "post", id))
	}
	u.record(blog.EntityPost, true, id)
	return nil
}

// PublishPost sets whether a post is published. It records tv_post.
func (u *UnitOfWork) PublishPost(ctx context.Context, id uuid.UUID, published bool) error {
	if _, err := u.q().PostPublish(ctx, u.tx, db.PostPublishParams{ID: id, Published: published}); err != nil {
		return fmt.Errorf("publish post: %w", translate(err, "post", id))
	}
	u.record(blog.EntityPost, false, id)
	return nil
}

// IncrementViewCount adds a view to a post. view_count is in no tv_
// document, so it records nothing: the conditional sync of the seed.
func (u *UnitOfWork) IncrementViewCount(ctx context.Context, id uuid.UUID) error {
	n, err := u.q().PostIncrementViewCount(ctx, u.tx, id)
	if err != nil {
		return fmt.Errorf("increment view count: %w", translate(err, "post", id))
	}
	if n == 0 {
		return fmt.Errorf("increment view count: post %s: %w", id, ErrNotFound)
	}
	return nil
}

// DeletePost deletes a post with its comments and likes. Before deleting,
// it looks up the rows the deletion affects: the post and its comments
// (removed), its author (postCount) and its commenters (commentCount).
func (u *UnitOfWork) DeletePost(ctx context.Context, id uuid.UUID) error {
	// Lock the post first: no new comment or like can then reference it, so
	// the look-ups below see every comment the delete will cascade to.
	n, err := u.q().PostLockForDelete(ctx, u.tx, id)
	if err != nil {
		return fmt.Errorf("delete post: %w", translate(err, "post", id))
	}
	if n == 0 {
		return fmt.Errorf("delete post: post %s: %w", id, ErrNotFound)
	}
	p := &tvsync.Pipeline{}
	comments := u.q().CommentIDsByPost(ctx, p, [][]uuid.UUID{{id}})
	commenters := u.q().UserIDsCommentingOnPosts(ctx, p, [][]uuid.UUID{{id}})
	p.Send(ctx, u.tx)
	var commentIDs, commenterIDs []uuid.UUID
	comments.Query(func(_ int, ids []uuid.UUID, qerr error) { commentIDs, err = ids, qerr })
	if err == nil {
		commenters.Query(func(_ int, ids []uuid.UUID, qerr error) { commenterIDs, err = ids, qerr })
	}
	if cerr := p.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("delete post %s: look up its comments and commenters: %w", id, err)
	}
	authorID, err := u.q().PostDelete(ctx, u.tx, id)
	if err != nil {
		return fmt.Errorf("delete post: %w", translate(err, "post", id))
	}
	u.record(blog.EntityPost, false, id)
	u.record(blog.EntityComment, false, commentIDs...)
	u.record(blog.EntityUser, false, authorID)
	u.record(blog.EntityUser, false, commenterIDs...)
	return nil
}

// AddComment adds a comment to a post and returns its id. It records
// tv_comment, the post's tv_post (comments, commentCount) and the author's
// tv_user (commentCount).
func (u *UnitOfWork) AddComment(ctx context.Context, postID, authorID uuid.UUID, content string) (uuid.UUID, error) {
	if strings.TrimSpace(content) == "" {
		return uuid.Nil, fmt.Errorf("add comment to post %s: content is empty: %w", postID, ErrInvalid)
	}
	if err := checkText("content", content); err != nil {
		return uuid.Nil, fmt.Errorf("add comment to post %s: %w", postID, err)
	}
	id, err := u.q().CommentCreate(ctx, u.tx, db.CommentCreateParams{PostID: postID, AuthorID: authorID, Content: content})
	if err != nil {
		return uuid.Nil, fmt.Errorf("add comment: %w", translate(err, "post", postID))
	}
	u.record(blog.EntityComment, false, id)
	u.record(blog.EntityPost, false, postID)
	u.record(blog.EntityUser, false, authorID)
	return id, nil
}

// DeleteComment deletes a comment. It records tv_comment, the post's
// tv_post and the author's tv_user.
func (u *UnitOfWork) DeleteComment(ctx context.Context, id uuid.UUID) error {
	row, err := u.q().CommentDelete(ctx, u.tx, id)
	if err != nil {
		return fmt.Errorf("delete comment: %w", translate(err, "comment", id))
	}
	u.record(blog.EntityComment, false, id)
	u.record(blog.EntityPost, false, row.PostID)
	u.record(blog.EntityUser, false, row.AuthorID)
	return nil
}

// LikePost records that a user likes a post; liking twice changes nothing.
// It records tv_post (likeCount) when the like is new.
func (u *UnitOfWork) LikePost(ctx context.Context, postID, userID uuid.UUID) error {
	n, err := u.q().PostLikeCreate(ctx, u.tx, db.PostLikeCreateParams{PostID: postID, UserID: userID})
	if err != nil {
		return fmt.Errorf("like post: %w", translate(err, "post", postID))
	}
	if n > 0 {
		u.record(blog.EntityPost, false, postID)
	}
	return nil
}

// UnlikePost removes a user's like of a post. It records tv_post when a
// like was removed.
func (u *UnitOfWork) UnlikePost(ctx context.Context, postID, userID uuid.UUID) error {
	n, err := u.q().PostLikeDelete(ctx, u.tx, db.PostLikeDeleteParams{PostID: postID, UserID: userID})
	if err != nil {
		return fmt.Errorf("unlike post: %w", translate(err, "post", postID))
	}
	if n > 0 {
		u.record(blog.EntityPost, false, postID)
	}
	return nil
}

// checkText returns an error wrapping ErrInvalid, naming the field, for the
// first of the (field name, value) pairs that a PostgreSQL text column
// cannot store: one holding a NUL byte or bytes that are not valid UTF-8.
// Checking before sending costs nothing and blames the right input.
func checkText(fieldValues ...string) error {
	for i := 0; i+1 < len(fieldValues); i += 2 {
		field, v := fieldValues[i], fieldValues[i+1]
		if at := strings.IndexByte(v, 0); at >= 0 {
			return fmt.Errorf("%s contains a NUL byte at offset %d: %w", field, at, ErrInvalid)
		}
		if !utf8.ValidString(v) {
			return fmt.Errorf("%s is not valid UTF-8: %w", field, ErrInvalid)
		}
	}
	return nil
}
