package main

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tvsync/tvsync/internal/seed"
	tvsync "github.com/tvsync/tvsync/sync"
)

func init() {
	commands["seed"] = command{"load deterministic demo data through COPY, then sync it: seed --users N --posts N --comments N [--likes N]", runSeed}
}

func runSeed(ctx context.Context, a *app, args []string) error {
	fs := a.flags("seed")
	var opts seed.Options
	fs.IntVar(&opts.Users, "users", 1000, "users to create")
	fs.IntVar(&opts.Posts, "posts", 10000, "posts to create")
	fs.IntVar(&opts.Comments, "comments", 50000, "comments to create")
	fs.IntVar(&opts.Likes, "likes", 0, "likes to create")
	fs.Uint64Var(&opts.Seed, "seed", 0, "data set seed (0: the default set)")
	noSync := fs.Bool("no-sync", false, "load tb_ only; leave tv_ for a later 'tvsync sync --all'")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	pool, err := a.connect(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	return seedAndSync(ctx, a, pool, opts, !*noSync)
}

// seedAndSync loads opts through COPY and, with doSync, full-syncs every entity.
func seedAndSync(ctx context.Context, a *app, pool *pgxpool.Pool, opts seed.Options, doSync bool) error {
	p := newProgress(a, "seed")
	opts.Progress = func(table string, done, total int) {
		if label := "seed " + table; label != p.label {
			p.done()
			p = newProgress(a, label)
		}
		p.total = total
		p.update(done)
	}
	start := time.Now()
	counts, err := seed.Load(ctx, pool, opts)
	p.done()
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "seeded %d users, %d posts, %d comments, %d likes in %s\n",
		counts.Users, counts.Posts, counts.Comments, counts.Likes, time.Since(start).Round(time.Millisecond))
	// Fresh COPYed tables have no statistics; plan the sync on real ones.
	if _, err := pool.Exec(ctx, "ANALYZE tb_user, tb_post, tb_comment, tb_post_like"); err != nil {
		return fmt.Errorf("analyze seeded tables: %w", err)
	}
	if !doSync {
		return nil
	}
	engine := a.engine(pool)
	for _, entity := range engine.Entities() {
		sp := newProgress(a, "sync "+entity)
		report, err := engine.FullSync(ctx, entity, tvsync.FullOptions{Progress: sp.update})
		sp.done()
		if err != nil {
			return err
		}
		r := report.For(entity)
		fmt.Fprintf(a.stdout, "synced tv_%s: %d rows (%d upserted, %d unchanged) in %s\n",
			entity, r.Requested, r.Upserted, r.Unchanged, report.Duration.Round(time.Millisecond))
	}
	return nil
}
