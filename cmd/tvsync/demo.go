package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/tvsync/tvsync/internal/migrate"
	"github.com/tvsync/tvsync/internal/pgserver"
	"github.com/tvsync/tvsync/internal/seed"
	"github.com/tvsync/tvsync/repository"
)

func init() {
	commands["demo"] = command{"the main job end to end: migrate, seed, sync, write through a unit of work, print a tv_post and the sync metrics", runDemo}
}

func runDemo(ctx context.Context, a *app, args []string) error {
	fs := a.flags("demo")
	var opts seed.Options
	fs.IntVar(&opts.Users, "users", 200, "users to seed")
	fs.IntVar(&opts.Posts, "posts", 2000, "posts to seed")
	fs.IntVar(&opts.Comments, "comments", 10000, "comments to seed")
	fs.IntVar(&opts.Likes, "likes", 3000, "likes to seed")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	url := a.databaseURL
	if url == "" {
		fmt.Fprintln(a.stdout, "== DATABASE_URL is not set: starting a throwaway PostgreSQL from the local server binaries")
		srv, err := pgserver.Start(ctx, pgserver.Options{Logger: a.log})
		if err != nil {
			return err
		}
		defer srv.Stop()
		url = srv.URL("postgres")
	}
	pool, err := openPool(ctx, url)
	if err != nil {
		return err
	}
	defer pool.Close()

	fmt.Fprintln(a.stdout, "== migrate up")
	res, err := migrate.Up(ctx, pool, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "applied %d migrations\n", len(res))

	fmt.Fprintln(a.stdout, "== seed the command tables (COPY) and full-sync the query tables")
	if err := seedAndSync(ctx, a, pool, opts, true); err != nil {
		return err
	}

	fmt.Fprintln(a.stdout, "== a unit of work: new user, post, comments, a like; then a rename that cascades")
	engine := a.engine(pool)
	repo := repository.New(pool, engine, repository.Options{Logger: a.log})
	var userID, postID uuid.UUID
	start := time.Now()
	err = repo.InTx(ctx, func(uow *repository.UnitOfWork) error {
		var err error
		if userID, err = uow.CreateUser(ctx, "grace", "Grace Hopper"); err != nil {
			return err
		}
		if postID, err = uow.CreatePost(ctx, userID, "Explicit sync beats hidden triggers", "Sync is in your code.", true); err != nil {
			return err
		}
		for _, text := range []string{"Visible!", "Testable!", "Batchable!"} {
			if _, err := uow.AddComment(ctx, postID, userID, text); err != nil {
				return err
			}
		}
		return uow.LikePost(ctx, postID, userID)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "unit of work committed and synced in %s\n", time.Since(start).Round(time.Microsecond))
	start = time.Now()
	if err := repo.InTx(ctx, func(uow *repository.UnitOfWork) error {
		return uow.RenameUser(ctx, userID, "amazing_grace", "Rear Admiral Grace Hopper")
	}); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "rename committed and cascaded in %s\n", time.Since(start).Round(time.Microsecond))

	fmt.Fprintf(a.stdout, "== tv_post %s (read from the query side)\n", postID)
	raw, err := repo.GetPost(ctx, postID)
	if err != nil {
		return err
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, raw, "", "  "); err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, pretty.String())

	fmt.Fprintln(a.stdout, "== sync metrics (from sync_log, as 'tvsync stats' shows them)")
	report, err := loadStats(ctx, pool, time.Now().Add(-time.Hour))
	if err != nil {
		return err
	}
	return printStatsTable(a.stdout, report)
}
