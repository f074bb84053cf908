package synccli

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"github.com/spf13/cobra"

	"github.com/tvsync/tvsync/internal/goosestore"
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
	verb := func(use, short string, run func(ctx context.Context, ms []*migrator) error) *cobra.Command {
		return &cobra.Command{
			Use:   use,
			Short: short,
			RunE: func(cmd *cobra.Command, _ []string) error {
				ctx := cmd.Context()
				sets, err := a.selectSets(setName, cmd.Name() == "up" || cmd.Name() == "status")
				if err != nil {
					return err
				}
				pool, err := a.Connect(ctx)
				if err != nil {
					return err
				}
				defer pool.Close()
				ms, err := a.migrators(pool, sets)
				if err != nil {
					return err
				}
				defer func() {
					for _, m := range ms {
						_ = m.db.Close()
					}
				}()
				return run(ctx, ms)
			},
		}
	}
	up := verb("up [--set NAME]", "apply every pending migration", func(ctx context.Context, ms []*migrator) error {
		applied := 0
		for _, m := range ms {
			res, err := m.Up(ctx)
			for _, r := range res {
				fmt.Fprintf(a.stdout, "applied %s %s (%s)\n", m.set.Name, r.Source.Path, r.Duration.Round(time.Millisecond))
			}
			applied += len(res)
			if err != nil {
				return fmt.Errorf("migrate up %s: %w", m.set.Name, err)
			}
		}
		if applied == 0 {
			fmt.Fprintln(a.stdout, "no migrations to apply")
		}
		return nil
	})
	down := verb("down [--set NAME] [--force]", "roll back the latest migration of a set", func(ctx context.Context, ms []*migrator) error {
		r, err := ms[0].down(ctx, force)
		if r != nil {
			fmt.Fprintf(a.stdout, "rolled back %s %s (%s)\n", ms[0].set.Name, r.Source.Path, r.Duration.Round(time.Millisecond))
		}
		if err != nil {
			return fmt.Errorf("migrate down %s: %w", ms[0].set.Name, err)
		}
		return nil
	})
	down.Flags().BoolVar(&force, "force", false, "roll back even when the set refuses to (for tvsync's own set: while the sync queue holds rows)")
	redo := verb("redo [--set NAME]", "roll back the latest migration of a set and apply it again", func(ctx context.Context, ms []*migrator) error {
		m := ms[0]
		r, err := m.down(ctx, false)
		if err != nil {
			return fmt.Errorf("migrate redo %s: %w", m.set.Name, err)
		}
		fmt.Fprintf(a.stdout, "rolled back %s %s\n", m.set.Name, r.Source.Path)
		if r, err = m.UpByOne(ctx); err != nil {
			return fmt.Errorf("migrate redo %s: %w", m.set.Name, err)
		}
		fmt.Fprintf(a.stdout, "applied %s %s\n", m.set.Name, r.Source.Path)
		return nil
	})
	status := verb("status [--set NAME]", "list the migrations of every set, applied or pending", func(ctx context.Context, ms []*migrator) error {
		for _, m := range ms {
			st, err := m.Status(ctx)
			if err != nil {
				return fmt.Errorf("migrate status %s: %w", m.set.Name, err)
			}
			for _, s := range st {
				applied := "pending"
				if !s.AppliedAt.IsZero() {
					applied = s.AppliedAt.Format("2006-01-02 15:04:05")
				}
				fmt.Fprintf(a.stdout, "%-8s %-8s %-20s %s\n", m.set.Name, s.State, applied, s.Source.Path)
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

// migrator runs one migration set.
type migrator struct {
	*goose.Provider
	set  syncmigrate.Set
	pool *pgxpool.Pool
	db   *sql.DB
}

// migrators returns a goose provider per set on pool, each with its version
// table (its schema created with it) and a session lock, so that two
// processes never migrate at once.
func (a *App) migrators(pool *pgxpool.Pool, sets []syncmigrate.Set) ([]*migrator, error) {
	var ms []*migrator
	for _, set := range sets {
		store, err := goosestore.New(set.Table())
		if err != nil {
			return ms, fmt.Errorf("migrations %s: %w", set.Name, err)
		}
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return ms, fmt.Errorf("migrations %s: session locker: %w", set.Name, err)
		}
		db := stdlib.OpenDBFromPool(pool)
		p, err := goose.NewProvider(goose.DialectCustom, db, set.FS, goose.WithStore(store), goose.WithSessionLocker(locker), goose.WithSlog(a.log))
		if err != nil {
			_ = db.Close()
			return ms, fmt.Errorf("load the migrations of %s: %w", set.Name, err)
		}
		ms = append(ms, &migrator{Provider: p, set: set, pool: pool, db: db})
	}
	return ms, nil
}

// down rolls back the set's latest migration, through the set's own Down
// when it has one (which gets force).
func (m *migrator) down(ctx context.Context, force bool) (*goose.MigrationResult, error) {
	if m.set.Down != nil {
		return m.set.Down(ctx, m.pool, force)
	}
	r, err := m.Down(ctx)
	if errors.Is(err, goose.ErrNoNextVersion) {
		return nil, errors.New("no migration to roll back")
	}
	return r, err
}

// MigrateUp applies every pending migration of every set of the binary on
// pool (the kit's own first) and returns how many it applied, for the
// binary's own commands (a demo on a throwaway database).
func (a *App) MigrateUp(ctx context.Context, pool *pgxpool.Pool) (applied int, err error) {
	ms, err := a.migrators(pool, a.sets())
	defer func() {
		for _, m := range ms {
			_ = m.db.Close()
		}
	}()
	if err != nil {
		return 0, err
	}
	for _, m := range ms {
		res, err := m.Up(ctx)
		applied += len(res)
		if err != nil {
			return applied, fmt.Errorf("migrate up %s: %w", m.set.Name, err)
		}
	}
	return applied, nil
}
