// Package workload is the random mix of blog writes that the stress and
// chaos tests run through the repository, so both exercise the same writes.
package workload

import (
	"context"
	"errors"
	"math/rand/v2"
	gosync "sync"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tvsync/tvsync/repository"
)

// Bag is a concurrency-safe set of known ids (some may have been deleted
// meanwhile), from which a workload picks the rows it writes to.
type Bag struct {
	mu  gosync.Mutex
	ids []uuid.UUID
}

// NewBag returns a bag holding ids.
func NewBag(ids []uuid.UUID) *Bag { return &Bag{ids: ids} }

// Add puts id in the bag.
func (b *Bag) Add(id uuid.UUID) {
	b.mu.Lock()
	b.ids = append(b.ids, id)
	b.mu.Unlock()
}

// Pick returns a random id of the bag, or false when it is empty.
func (b *Bag) Pick(r *rand.Rand) (uuid.UUID, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.ids) == 0 {
		return uuid.Nil, false
	}
	return b.ids[r.IntN(len(b.ids))], true
}

// ExpectedFailure reports whether a unit of work failed for a reason the
// workload itself causes: a row deleted meanwhile, a name taken, two
// writers deadlocked or serialized on the command tables.
func ExpectedFailure(err error) bool {
	var pgErr *pgconn.PgError
	return errors.Is(err, repository.ErrNotFound) || errors.Is(err, repository.ErrConflict) ||
		(errors.As(err, &pgErr) && (pgErr.Code == "40P01" || pgErr.Code == "40001"))
}

// RandomWrite performs one random write of the mix: creates, renames (which
// cascade), post edits, comments added and deleted, likes and unlikes, post
// and user deletions.
func RandomWrite(ctx context.Context, uow *repository.UnitOfWork, r *rand.Rand, tag string, users, posts, comments *Bag) error {
	user, haveUser := users.Pick(r)
	post, havePost := posts.Pick(r)
	switch n := r.IntN(100); {
	case n < 10 || !haveUser:
		id, err := uow.CreateUser(ctx, "u_"+tag, "User "+tag)
		if err == nil {
			users.Add(id)
		}
		return err
	case n < 20:
		return uow.RenameUser(ctx, user, "r_"+tag, "Renamed "+tag)
	case n < 34 || !havePost:
		id, err := uow.CreatePost(ctx, user, "Post "+tag, "body", r.IntN(2) == 0)
		if err == nil {
			posts.Add(id)
		}
		return err
	case n < 42:
		return uow.UpdatePost(ctx, post, "Edited "+tag, "edited")
	case n < 62:
		id, err := uow.AddComment(ctx, post, user, "Comment "+tag)
		if err == nil {
			comments.Add(id)
		}
		return err
	case n < 70:
		c, ok := comments.Pick(r)
		if !ok {
			return nil
		}
		return uow.DeleteComment(ctx, c)
	case n < 84:
		return uow.LikePost(ctx, post, user)
	case n < 91:
		return uow.UnlikePost(ctx, post, user)
	case n < 97:
		return uow.DeletePost(ctx, post)
	default:
		return uow.DeleteUser(ctx, user)
	}
}
