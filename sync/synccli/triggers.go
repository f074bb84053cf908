package synccli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/spf13/cobra"

	"github.com/tvsync/tvsync/sync/internal/triggers"
)

func (a *App) triggersCommand() *cobra.Command {
	var dir, applyDir, rollbackDir string
	cmd := &cobra.Command{
		Use:   "triggers [--emit-migration DIR] [--apply DIR | --rollback DIR]",
		Short: "list triggers on tb_ tables that write tv_ tables; emit, apply or roll back a migration dropping them",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runTriggers(cmd.Context(), dir, applyDir, rollbackDir)
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "emit-migration", "", "write a goose migration into `DIR` that drops the listed triggers (its Down recreates them)")
	f.StringVar(&applyDir, "apply", "", "apply the pending migrations of `DIR` (version table "+triggers.VersionTable+")")
	f.StringVar(&rollbackDir, "rollback", "", "roll back the last applied migration of `DIR`, recreating its triggers")
	return cmd
}

func (a *App) runTriggers(ctx context.Context, dir, applyDir, rollbackDir string) error {
	if applyDir != "" && rollbackDir != "" {
		return Usagef("give at most one of --apply and --rollback")
	}
	for flag, d := range map[string]string{"apply": applyDir, "rollback": rollbackDir} {
		if d == "" {
			continue
		}
		if st, err := os.Stat(d); err != nil || !st.IsDir() {
			return Usagef("--%s %s: not a directory", flag, shellArg(d))
		}
	}
	pool, err := a.Connect(ctx)
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
	} else if err := printTriggers(a.stdout, found); err != nil {
		return err
	}
	if dir != "" {
		if len(found) == 0 {
			return fmt.Errorf("--emit-migration %s: %w", dir, triggers.ErrNothingToDrop)
		}
		path, err := triggers.EmitMigration(dir, found, time.Now())
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "\nwrote %s\n", path)
		if applyDir == "" {
			fmt.Fprintf(a.stdout, "apply it once every mutation syncs explicitly: %s triggers --apply %s\n", a.name, shellArg(dir))
			fmt.Fprintf(a.stdout, "  or with goose: %s\n", triggers.GooseCommand(dir))
		}
	}
	if applyDir == "" && rollbackDir == "" {
		return nil
	}

	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	migDir := applyDir + rollbackDir
	p, err := triggers.NewProvider(db, migDir, a.log)
	if err != nil {
		return fmt.Errorf("migrations of %s: %w", migDir, err)
	}
	if rollbackDir != "" {
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
		fmt.Fprintf(a.stdout, "undo with: %s triggers --rollback %s\n", a.name, shellArg(migDir))
	}
	return nil
}

// printTriggers prints triggers as an aligned table.
func printTriggers(w io.Writer, found []triggers.Trigger) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
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
		writes := make([]string, len(t.WritesTables))
		for i, w := range t.WritesTables {
			writes[i] = printable(w)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", printable(table), printable(t.Name), printable(t.Function), events, strings.Join(writes, ", "))
	}
	return tw.Flush()
}

// printable returns a catalog name as it can be shown on a terminal: as is
// when every rune is printable, Go-quoted otherwise, so that a name holding a
// newline or an escape sequence can neither forge output lines nor drive the
// terminal.
func printable(s string) string {
	if strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) {
		return strconv.Quote(s)
	}
	return s
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
