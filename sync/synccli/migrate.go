package synccli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"
	"github.com/tvsync/tvsync/sync/syncmigrate"
)

func (a *App) migrateCommand() *cobra.Command {
	var setName string
	var force bool
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "run the goose migrations: migrate up|down|status|redo",
		Long: "Run the binary's goose migration sets, each with its own version table, through goose's\n" +
			"Provider API under a session lock: tvsync's own set (schema tvsync) first, then the application's.\n" +
			"up applies every pending migration of every set in order;\n" +
			"down and redo act on the latest migration of one set (--set, required with several sets).",
		Args: cobra.ArbitraryArgs,
		RunE: parentRun,
	}
	cmd.PersistentFlags().StringVar(&setName, "set", "", "migration set to act on (default: every set for up and status; the only set for down and redo)")
	verb := func(use, short string, run func(ctx context.Context, ms []*syncmigrate.Migrator) error) *cobra.Command {
		return &cobra.Command{
			Use:   use,
			Short: short,
			RunE: func(cmd *cobra.Command, _ []string) error {
				ctx := cmd.Context()
				sets, err := a.selectSets(setName, cmd.Name() == "up" || cmd.Name() == "status")
				if err != nil {
					return err
				}
				pool, err := a.connectSession(ctx)
				if err != nil {
					return err
				}
				defer pool.Close()
				ms, err := a.migrators(pool, sets)
				if err != nil {
					return err
				}
				defer closeAll(ms)
				return run(ctx, ms)
			},
		}
	}
	up := verb("up [--set NAME]", "apply every pending migration", func(ctx context.Context, ms []*syncmigrate.Migrator) error {
		applied := 0
		for _, m := range ms {
			res, err := m.Migrate(ctx, syncmigrate.DirectionUp, nil)
			for _, r := range res.Versions {
				fmt.Fprintf(a.stdout, "applied %s %s (%s)\n", m.Set().Name, r.Name, r.Duration.Round(time.Millisecond))
			}
			applied += len(res.Versions)
			if err != nil {
				return fmt.Errorf("migrate up %s: %w", m.Set().Name, err)
			}
		}
		if applied == 0 {
			fmt.Fprintln(a.stdout, "no migrations to apply")
		}
		return nil
	})
	down := verb("down [--set NAME] [--force]", "roll back the latest migration of a set", func(ctx context.Context, ms []*syncmigrate.Migrator) error {
		m := ms[0]
		res, err := rollBack(ctx, m, force)
		for _, r := range res {
			fmt.Fprintf(a.stdout, "rolled back %s %s (%s)\n", m.Set().Name, r.Name, r.Duration.Round(time.Millisecond))
		}
		if err != nil {
			return fmt.Errorf("migrate down %s: %w", m.Set().Name, err)
		}
		return nil
	})
	down.Flags().BoolVar(&force, "force", false, "roll back even when the set refuses to (for tvsync's own set: while the sync queue holds rows)")
	redo := verb("redo [--set NAME]", "roll back the latest migration of a set and apply it again", func(ctx context.Context, ms []*syncmigrate.Migrator) error {
		m := ms[0]
		down, err := rollBack(ctx, m, false)
		if err != nil {
			return fmt.Errorf("migrate redo %s: %w", m.Set().Name, err)
		}
		fmt.Fprintf(a.stdout, "rolled back %s %s\n", m.Set().Name, down[0].Name)
		up, err := m.Migrate(ctx, syncmigrate.DirectionUp, &syncmigrate.MigrateOpts{MaxSteps: 1})
		if err == nil && len(up.Versions) == 0 {
			err = errors.New("the rolled back migration is not pending")
		}
		if err != nil {
			return fmt.Errorf("migrate redo %s: %w", m.Set().Name, err)
		}
		fmt.Fprintf(a.stdout, "applied %s %s\n", m.Set().Name, up.Versions[0].Name)
		return nil
	})
	status := verb("status [--set NAME]", "list the migrations of every set, applied or pending", func(ctx context.Context, ms []*syncmigrate.Migrator) error {
		for _, m := range ms {
			st, err := m.Status(ctx)
			if err != nil {
				return fmt.Errorf("migrate status %s: %w", m.Set().Name, err)
			}
			for _, s := range st {
				state, applied := "pending", "pending"
				if s.Applied {
					state = "applied"
				}
				if !s.AppliedAt.IsZero() {
					applied = s.AppliedAt.Format("2006-01-02 15:04:05")
				}
				fmt.Fprintf(a.stdout, "%-8s %-8s %-20s %s\n", m.Set().Name, state, applied, s.Name)
			}
		}
		return nil
	})
	cmd.AddCommand(up, down, redo, status)
	return cmd
}

// sets returns every migration set of the binary: the kit's own first,
// then the application's.
func (a *App) sets() []syncmigrate.Set {
	return append([]syncmigrate.Set{syncmigrate.Own()}, a.cfg.Migrations...)
}

// selectSets returns the migration sets a migrate command acts on: the one
// named, or every set (with all) or the only one.
func (a *App) selectSets(name string, all bool) ([]syncmigrate.Set, error) {
	sets := a.sets()
	var names []string
	for _, s := range sets {
		names = append(names, s.Name)
	}
	switch {
	case name != "":
		for _, s := range sets {
			if s.Name == name {
				return []syncmigrate.Set{s}, nil
			}
		}
		return nil, Usagef("--set %q: unknown migration set (sets: %s)", name, strings.Join(names, ", "))
	case all || len(sets) == 1:
		return sets, nil
	}
	return nil, Usagef("--set is required: the migration sets are %s", strings.Join(names, ", "))
}

// migrators returns a migrator per set on pool, each with its version
// table (its schema created with it) and a session lock, so that two
// processes never migrate at once, logging through the run's logger.
func (a *App) migrators(pool *pgxpool.Pool, sets []syncmigrate.Set) ([]*syncmigrate.Migrator, error) {
	var ms []*syncmigrate.Migrator
	for _, set := range sets {
		m, err := syncmigrate.New(pool, &syncmigrate.Config{Set: set, Logger: a.log})
		if err != nil {
			return ms, fmt.Errorf("load the migrations of %s: %w", set.Name, err)
		}
		ms = append(ms, m)
	}
	return ms, nil
}

// closeAll closes the migrators.
func closeAll(ms []*syncmigrate.Migrator) {
	for _, m := range ms {
		_ = m.Close()
	}
}

// rollBack rolls back the latest migration of m's set (force: even when the
// set's CheckDown refuses) and returns it.
func rollBack(ctx context.Context, m *syncmigrate.Migrator, force bool) ([]syncmigrate.MigrateVersion, error) {
	res, err := m.Migrate(ctx, syncmigrate.DirectionDown, &syncmigrate.MigrateOpts{Force: force})
	if errors.Is(err, syncmigrate.ErrNoMigration) {
		return nil, errors.New("no migration to roll back")
	}
	return res.Versions, err
}

// MigrateUp applies every pending migration of every set of the binary on
// pool (the kit's own first) and returns how many it applied, for the
// binary's own commands (a demo on a throwaway database).
func (a *App) MigrateUp(ctx context.Context, pool *pgxpool.Pool) (applied int, err error) {
	ms, err := a.migrators(pool, a.sets())
	defer closeAll(ms)
	if err != nil {
		return 0, err
	}
	for _, m := range ms {
		res, err := m.Migrate(ctx, syncmigrate.DirectionUp, nil)
		applied += len(res.Versions)
		if err != nil {
			return applied, fmt.Errorf("migrate up %s: %w", m.Set().Name, err)
		}
	}
	return applied, nil
}
