package main

import (
	"context"
	"fmt"

	"github.com/tvsync/tvsync/internal/migrate"
)

func init() {
	commands["migrate"] = command{"run the goose migrations: migrate up|down|status|redo", runMigrate}
}

func runMigrate(ctx context.Context, a *app, args []string) error {
	fs := a.flags("migrate")
	fs.Usage = func() {
		fmt.Fprintln(a.stderr, "usage: tvsync migrate up|down|status|redo [--force] [--database-url URL]")
		fs.PrintDefaults()
	}
	if len(args) == 0 {
		return fmt.Errorf("%w: migrate needs one of up, down, status, redo", errUsage)
	}
	verb := args[0]
	force := fs.Bool("force", false, "down/redo: roll back even while sync_queue holds rows (they are lost)")
	if err := parse(fs, args[1:], 0); err != nil {
		return err
	}
	pool, err := a.connect(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	m, err := migrate.New(pool, nil)
	if err != nil {
		return err
	}
	defer m.Close()
	switch verb {
	case "up":
		res, err := m.Up(ctx)
		for _, r := range res {
			fmt.Fprintf(a.stdout, "applied %s (%s)\n", r.Source.Path, r.Duration)
		}
		if err == nil && len(res) == 0 {
			fmt.Fprintln(a.stdout, "no migrations to apply")
		}
		return err
	case "down":
		r, err := m.Down(ctx, *force)
		if r != nil {
			fmt.Fprintf(a.stdout, "rolled back %s (%s)\n", r.Source.Path, r.Duration)
		}
		return err
	case "redo":
		r, err := m.Down(ctx, *force)
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "rolled back %s\n", r.Source.Path)
		r, err = m.UpByOne(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "applied %s\n", r.Source.Path)
		return nil
	case "status":
		status, err := m.Status(ctx)
		if err != nil {
			return err
		}
		for _, s := range status {
			applied := "pending"
			if !s.AppliedAt.IsZero() {
				applied = s.AppliedAt.Format("2006-01-02 15:04:05")
			}
			fmt.Fprintf(a.stdout, "%-8s %-20s %s\n", s.State, applied, s.Source.Path)
		}
		return nil
	}
	return fmt.Errorf("%w: migrate %q: want up, down, status or redo", errUsage, verb)
}
