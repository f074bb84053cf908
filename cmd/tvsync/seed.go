package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/tvsync/tvsync/internal/seed"
	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/synccli"
)

// maxSeedRows bounds each table of seed: twice the largest benchmark scale
// (5M comments), far below what fills a disk by accident.
const maxSeedRows = 10_000_000

// seedFlags adds the data set flags of seed and demo to cmd.
func seedFlags(cmd *cobra.Command, opts *seed.Options) {
	f := cmd.Flags()
	f.IntVar(&opts.Users, "users", opts.Users, fmt.Sprintf("users to create (0 to %d)", maxSeedRows))
	f.IntVar(&opts.Posts, "posts", opts.Posts, fmt.Sprintf("posts to create (0 to %d)", maxSeedRows))
	f.IntVar(&opts.Comments, "comments", opts.Comments, fmt.Sprintf("comments to create (0 to %d)", maxSeedRows))
	f.IntVar(&opts.Likes, "likes", opts.Likes, fmt.Sprintf("likes to create (0 to %d, at most users × posts)", maxSeedRows))
}

// checkSeed is a usage error naming the flag when opts is out of bounds
// or inconsistent.
func checkSeed(opts seed.Options) error {
	for _, f := range []struct {
		name string
		v    int
	}{{"users", opts.Users}, {"posts", opts.Posts}, {"comments", opts.Comments}, {"likes", opts.Likes}} {
		if f.v < 0 || f.v > maxSeedRows {
			return synccli.Usagef("--%s %d: want 0 to %d", f.name, f.v, maxSeedRows)
		}
	}
	switch {
	case opts.Posts > 0 && opts.Users == 0:
		return synccli.Usagef("--posts %d needs --users above 0: posts need authors", opts.Posts)
	case opts.Comments > 0 && opts.Posts == 0:
		return synccli.Usagef("--comments %d needs --posts above 0", opts.Comments)
	case int64(opts.Likes) > int64(opts.Users)*int64(opts.Posts):
		return synccli.Usagef("--likes %d: want at most --users × --posts = %d distinct pairs", opts.Likes, int64(opts.Users)*int64(opts.Posts))
	}
	if err := opts.Validate(); err != nil {
		return synccli.Usagef("%s", strings.TrimPrefix(err.Error(), "seed: invalid options: "))
	}
	return nil
}

func seedCommand(app *synccli.App) *cobra.Command {
	opts := seed.Options{Users: 1000, Posts: 10000, Comments: 50000}
	var noSync bool
	cmd := &cobra.Command{
		Use:   "seed [--users N] [--posts N] [--comments N] [--likes N] [--no-sync]",
		Short: "load deterministic blog data through COPY, then full-sync it",
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if err := checkSeed(opts); err != nil {
				return err
			}
			// Rates count from the command's start, connecting included.
			p := app.Progress("seed", seedRows(opts))
			defer p.Finish()
			pool, err := app.Connect(ctx)
			if err != nil {
				return err
			}
			defer pool.Close()
			return seedAndSync(ctx, app, p, pool, opts, !noSync)
		},
	}
	seedFlags(cmd, &opts)
	cmd.Flags().Uint64Var(&opts.Seed, "seed", 0, "data set seed (0: the default set); loads with different seeds can share a database")
	cmd.Flags().BoolVar(&noSync, "no-sync", false, "load tb_ only; leave tv_ for a later 'tvsync sync --all'")
	return cmd
}

// seedRows is how many rows opts loads.
func seedRows(opts seed.Options) int64 {
	return int64(opts.Users) + int64(opts.Posts) + int64(opts.Comments) + int64(opts.Likes)
}

// seedAndSync loads opts through COPY, reporting on p (which it finishes)
// over every row and, with doSync, full-syncs every entity.
func seedAndSync(ctx context.Context, app *synccli.App, p *synccli.Progress, pool *pgxpool.Pool, opts seed.Options, doSync bool) error {
	start := time.Now()
	finished := int64(0) // rows of the tables already copied
	opts.Progress = func(_ string, done, total int) {
		p.Set(finished + int64(done))
		if done == total {
			finished += int64(total)
		}
	}
	counts, err := seed.Load(ctx, pool, opts)
	p.Finish()
	if err != nil {
		return err
	}
	fmt.Fprintf(app.Stdout(), "seeded %d users, %d posts, %d comments, %d likes in %s\n",
		counts.Users, counts.Posts, counts.Comments, counts.Likes, time.Since(start).Round(time.Millisecond))
	// Fresh COPYed tables have no statistics; plan the sync on real ones.
	if _, err := pool.Exec(ctx, "ANALYZE tb_user, tb_post, tb_comment, tb_post_like"); err != nil {
		return fmt.Errorf("analyze seeded tables: %w", err)
	}
	if !doSync {
		return nil
	}
	engine, err := app.Engine(pool)
	if err != nil {
		return err
	}
	for _, entity := range engine.Entities() {
		report, err := app.FullSync(ctx, pool, engine, entity, tvsync.FullOptions{})
		if err != nil {
			return err
		}
		r := report.For(entity)
		fmt.Fprintf(app.Stdout(), "synced tv_%s: %d rows (%d upserted, %d unchanged) in %s\n",
			entity, r.Requested, r.Upserted, r.Unchanged, report.Duration.Round(time.Millisecond))
	}
	return nil
}
