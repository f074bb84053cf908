package repository_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tvsync/tvsync/blog"
	"github.com/tvsync/tvsync/repository"
	"github.com/tvsync/tvsync/sync"
)

// Example is the README's "Using it": a unit of work adds a comment, and
// its commit syncs every tv_ row the comment changes. It is compiled, not
// run (it needs DATABASE_URL and existing ids).
func Example() {
	ctx := context.Background()
	var postID, userID uuid.UUID // a post and a user that exist

	pool, _ := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	engine, _ := blog.NewEngine(pool, sync.Config{Logger: slog.Default()})
	repo := repository.New(pool, engine, repository.Options{})

	err := repo.InTx(ctx, func(uow *repository.UnitOfWork) error {
		_, err := uow.AddComment(ctx, postID, userID, "Nice!")
		return err
	}) // tv_comment, tv_post (comments, commentCount) and tv_user (commentCount) are now current
	doc, _ := repo.GetPost(ctx, postID) // the stored JSONB, read from tv_post

	fmt.Println(err, len(doc))
}
