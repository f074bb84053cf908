package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/stdlib"

	"github.com/tvsync/tvsync/internal/triggers"
)

func init() {
	commands["triggers"] = command{"list triggers on tb_ tables that write tv_ tables: triggers [--emit-migration DIR] [--apply DIR | --rollback DIR]", runTriggers}
}

func runTriggers(ctx context.Context, a *app, args []string) error {
	fs := a.flags("triggers")
	dir := fs.String("emit-migration", "", "write a goose migration into `DIR` that drops the listed triggers (its Down recreates them)")
	applyDir := fs.String("apply", "", "apply the pending migrations of `DIR` (version table "+triggers.VersionTable+")")
	rollbackDir := fs.String("rollback", "", "roll back the last applied migration of `DIR`, recreating its triggers")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if *applyDir != "" && *rollbackDir != "" {
		return fmt.Errorf("%w: give at most one of --apply and --rollback", errUsage)
	}
	pool, err := a.connect(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()

	found, err := triggers.Find(ctx, pool)
	if err != nil {
		return err
	}
	if len(found) == 0 {
		fmt.Fprintln(a.stdout, "no triggers on tb_ tables write tv_ tables")
	} else if err := printTriggers(a, found); err != nil {
		return err
	}
	if *dir != "" {
		if len(found) == 0 {
			return fmt.Errorf("--emit-migration %s: %w", *dir, triggers.ErrNothingToDrop)
		}
		path, err := triggers.EmitMigration(*dir, found, time.Now())
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "\nwrote %s\n", path)
		if *applyDir == "" {
			fmt.Fprintf(a.stdout, "apply it once every mutation syncs explicitly: tvsync triggers --apply %s\n", shellArg(*dir))
			fmt.Fprintf(a.stdout, "  or with goose: %s\n", triggers.GooseCommand(*dir))
		}
	}
	if *applyDir == "" && *rollbackDir == "" {
		return nil
	}

	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	migDir := *applyDir + *rollbackDir
	p, err := triggers.NewProvider(db, migDir, a.log)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if *rollbackDir != "" {
		r, err := p.Down(ctx)
		if err != nil {
			return fmt.Errorf("roll back the last migration of %s: %w", migDir, err)
		}
		fmt.Fprintf(a.stdout, "rolled back %s (%s)\n", r.Source.Path, r.Duration.Round(time.Millisecond))
		return nil
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("apply the migrations of %s: %w", migDir, err)
	}
	if len(results) == 0 {
		fmt.Fprintf(a.stdout, "no pending migrations in %s\n", migDir)
	}
	for _, r := range results {
		fmt.Fprintf(a.stdout, "applied %s (%s)\n", r.Source.Path, r.Duration.Round(time.Millisecond))
	}
	if len(results) > 0 {
		fmt.Fprintf(a.stdout, "undo with: tvsync triggers --rollback %s\n", shellArg(migDir))
	}
	return nil
}

// printTriggers prints triggers as an aligned table.
func printTriggers(a *app, found []triggers.Trigger) error {
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tTRIGGER\tFUNCTION\tEVENTS\tWRITES")
	for _, t := range found {
		table := t.Table
		if t.Schema != "public" {
			table = t.Schema + "." + t.Table
		}
		events := fmt.Sprintf("%s %s FOR EACH %s", t.Timing, t.Events, t.Level)
		if t.Enabled == "D" {
			events += " (disabled)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", table, t.Name, t.Function, events, strings.Join(t.WritesTables, ", "))
	}
	return tw.Flush()
}

// shellArg quotes s for a POSIX shell when it needs it.
func shellArg(s string) string {
	if s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+=:,@", r))
	}) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
