package chaos_test

import (
	"context"
	"errors"
	"math/rand/v2"
	gosync "sync"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tvsync/tvsync/repository"
)

// bag is a concurrency-safe set of known ids (some may have been deleted).
type bag struct {
	mu  gosync.Mutex
	ids []uuid.UUID
}

func (b *bag) add(id uuid.UUID) {
	b.mu.Lock()
	b.ids = append(b.ids, id)
	b.mu.Unlock()
}

func (b *bag) pick(r *rand.Rand) (uuid.UUID, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.ids) == 0 {
		return uuid.Nil, false
	}
	return b.ids[r.IntN(len(b.ids))], true
}

// domainFailure reports whether a unit of work failed for a reason the
// workload itself causes: a row deleted meanwhile, a name taken, two
// writers deadlocked or serialized on the command tables.
func domainFailure(err error) bool {
	var pgErr *pgconn.PgError
	return errors.Is(err, repository.ErrNotFound) || errors.Is(err, repository.ErrConflict) ||
		(errors.As(err, &pgErr) && (pgErr.Code == "40P01" || pgErr.Code == "40001"))
}

// randomWrite performs one random write of the mix: creates, renames (which
// cascade), post edits, comments added and deleted, likes and unlikes, post
// and user deletions.
func randomWrite(ctx context.Context, uow *repository.UnitOfWork, r *rand.Rand, tag string, users, posts, comments *bag) error {
	user, haveUser := users.pick(r)
	post, havePost := posts.pick(r)
	switch n := r.IntN(100); {
	case n < 10 || !haveUser:
		id, err := uow.CreateUser(ctx, "u_"+tag, "User "+tag)
		if err == nil {
			users.add(id)
		}
		return err
	case n < 20:
		return uow.RenameUser(ctx, user, "r_"+tag, "Renamed "+tag)
	case n < 34 || !havePost:
		id, err := uow.CreatePost(ctx, user, "Post "+tag, "body", r.IntN(2) == 0)
		if err == nil {
			posts.add(id)
		}
		return err
	case n < 42:
		return uow.UpdatePost(ctx, post, "Edited "+tag, "edited")
	case n < 62:
		id, err := uow.AddComment(ctx, post, user, "Comment "+tag)
		if err == nil {
			comments.add(id)
		}
		return err
	case n < 70:
		c, ok := comments.pick(r)
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
