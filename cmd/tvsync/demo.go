package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/tvsync/tvsync/internal/pgserver"
	"github.com/tvsync/tvsync/internal/seed"
	"github.com/tvsync/tvsync/repository"
	"github.com/tvsync/tvsync/sync/synccli"
)

// demoCommand runs the main job end to end. On a lasting database it is
// re-runnable: each run seeds a data set of its own (a fresh seed: ids and
// usernames disjoint from earlier runs) and writes users with a unique name.
func demoCommand(app *synccli.App) *cobra.Command {
	opts := seed.Options{Users: 200, Posts: 2000, Comments: 10000, Likes: 3000}
	cmd := &cobra.Command{
		Use:   "demo [--users N] [--posts N] [--comments N] [--likes N]",
		Short: "the main job end to end: migrate, seed, sync, write through a unit of work, print a tv_post and the sync metrics",
		Long: "The main job end to end: migrate, seed (COPY), full-sync, write through a unit of work, print a tv_post\n" +
			"and the sync metrics. Without --database-url or DATABASE_URL it starts a throwaway PostgreSQL from the\n" +
			"local server binaries; on a lasting database it can run again and again (each run seeds data of its own).",
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if err := checkSeed(opts); err != nil {
				return err
			}
			out := app.Stdout()
			url := app.DatabaseURL()
			if url == "" {
				fmt.Fprintln(out, "== DATABASE_URL is not set: starting a throwaway PostgreSQL from the local server binaries")
				srv, err := pgserver.Start(ctx, pgserver.Options{Logger: app.Logger()})
				if err != nil {
					return err
				}
				defer srv.Stop()
				url = srv.URL("postgres")
			} else {
				// A data set of this run's own, so that the demo can run
				// again on the same database.
				opts.Seed = rand.Uint64N(1<<62) + 1
			}
			pool, err := app.OpenURL(ctx, url)
			if err != nil {
				return err
			}
			defer pool.Close()
			if err := synccli.Ping(ctx, pool); err != nil {
				return err
			}

			fmt.Fprintln(out, "== migrate up")
			applied, err := app.MigrateUp(ctx, pool)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "applied %d migrations\n", applied)

			fmt.Fprintln(out, "== seed the command tables (COPY) and full-sync the query tables")
			if err := seedAndSync(ctx, app, app.Progress("seed", seedRows(opts)), pool, opts, true); err != nil {
				return err
			}

			fmt.Fprintln(out, "== a unit of work: new user, post, comments, a like; then a rename that cascades")
			engine, err := app.Engine(pool)
			if err != nil {
				return err
			}
			repo := repository.New(pool, engine, repository.Options{Logger: app.Logger()})
			suffix := uuid.NewString()[:8] // usernames are unique: one per run
			var userID, postID uuid.UUID
			start := time.Now()
			err = repo.InTx(ctx, func(uow *repository.UnitOfWork) error {
				var err error
				if userID, err = uow.CreateUser(ctx, "grace_"+suffix, "Grace Hopper"); err != nil {
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
			fmt.Fprintf(out, "unit of work committed and synced in %s\n", time.Since(start).Round(time.Microsecond))
			start = time.Now()
			if err := repo.InTx(ctx, func(uow *repository.UnitOfWork) error {
				return uow.RenameUser(ctx, userID, "amazing_grace_"+suffix, "Rear Admiral Grace Hopper")
			}); err != nil {
				return err
			}
			fmt.Fprintf(out, "rename committed and cascaded in %s\n", time.Since(start).Round(time.Microsecond))

			fmt.Fprintf(out, "== tv_post %s (read from the query side)\n", postID)
			raw, err := repo.GetPost(ctx, postID)
			if err != nil {
				return err
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, raw, "", "  "); err != nil {
				return err
			}
			fmt.Fprintln(out, pretty.String())

			fmt.Fprintf(out, "== sync metrics (from sync_log, as '%s stats' shows them)\n", app.Name())
			return synccli.PrintStats(ctx, out, pool, "", time.Now().Add(-time.Hour))
		},
	}
	seedFlags(cmd, &opts)
	return cmd
}
