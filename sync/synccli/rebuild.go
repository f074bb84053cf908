package synccli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	tvsync "github.com/tvsync/tvsync/sync"
)

func (a *App) rebuildCommand() *cobra.Command {
	var (
		entity string
		opts   tvsync.RebuildOptions
	)
	cmd := &cobra.Command{
		Use:   "rebuild --entity E",
		Short: "rebuild a tv_ table without downtime (shadow build, compare, in-place apply of what differs)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if entity == "" {
				return Usagef("--entity is required")
			}
			if err := checkRange("chunk", opts.ChunkSize, 0, maxChunk); err != nil {
				return err
			}
			if opts.LockTimeout <= 0 || opts.LockTimeout > time.Hour {
				return Usagef("--lock-timeout %s: want more than 0 and at most 1h", opts.LockTimeout)
			}
			s, err := a.openSession(ctx)
			if err != nil {
				return err
			}
			defer s.close()
			if _, err := entities(s.engine, entity); err != nil {
				return err
			}
			if err := s.ping(ctx); err != nil {
				return err
			}
			total, err := countIDs(ctx, s.pool, s.engine, entity)
			if err != nil {
				return err
			}
			p := a.Progress("rebuild "+entity, total)
			opts.Progress = func(done int) { p.Set(int64(done)) }
			res, err := s.engine.Rebuild(ctx, entity, opts)
			p.Finish()
			if err != nil {
				return err
			}
			ent, _ := s.engine.Entity(entity)
			fmt.Fprintf(a.stdout, "rebuilt %s: %d rows built in %s, %d differing: %d rewritten, %d removed in %s; id locks held at most %s (%d attempt(s))\n",
				ent.View, res.Rows, res.Build.Round(time.Millisecond), res.Differing, res.CaughtUp, res.Removed, res.Apply.Round(time.Millisecond), res.LockHeld.Round(time.Microsecond), res.Attempts)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&entity, "entity", "", "entity whose tv_ table to rebuild (required)")
	f.IntVar(&opts.ChunkSize, "chunk", 0, "ids per build transaction (0: the engine's batch size, 1000)")
	f.DurationVar(&opts.LockTimeout, "lock-timeout", 2*time.Second, "longest wait for an apply transaction's id locks before retrying")
	return cmd
}
