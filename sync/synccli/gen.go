package synccli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tvsync/tvsync/sync/syncgen"
)

// genCommand is gen: the generator of package syncgen, offline.
func (a *App) genCommand() *cobra.Command {
	var file string
	var check bool
	cmd := &cobra.Command{
		Use:   "gen [--file tvsync.yaml] [--check]",
		Short: "write each declared entity's sync statements and the Go registration (offline)",
		Long: strings.TrimSpace(`
Generate, from the declarations of --file, each entity's mechanical sync statements as
<sql.out>/<entity>.gen.sql (for sqlc to compile: run sqlc generate next) and the Go
registration <go.out> (func Entities). Paths are relative to the declaration file.
An entity's plan files (plans: wide, range: hand-written document queries) are wrapped in
its generated XWideRefresh and XRangeRefresh; a changed plan file makes its .gen.sql stale.
Offline: it never connects. With --check, write nothing and fail (exit status 1), naming each
generated file that is stale or missing, like sqlc diff.`),
		RunE: func(cmd *cobra.Command, _ []string) error {
			files, err := syncgen.Generate(file)
			if err != nil {
				return err
			}
			if check {
				stale, err := syncgen.Stale(files)
				if err != nil {
					return err
				}
				if len(stale) > 0 {
					return &ExitError{Code: ExitFailure, Err: fmt.Errorf("stale or missing, run '%s gen': %s", a.name, strings.Join(stale, ", "))}
				}
				return nil
			}
			written, err := syncgen.Write(files)
			for _, w := range written {
				verb := "wrote"
				for _, f := range files {
					if f.Path == w && f.Remove {
						verb = "removed"
					}
				}
				fmt.Fprintf(a.stdout, "%s %s\n", verb, w)
			}
			return err
		},
	}
	cmd.Flags().StringVar(&file, "file", "tvsync.yaml", "the declaration file")
	cmd.Flags().BoolVar(&check, "check", false, "write nothing; exit 1 naming each stale or missing generated file")
	return cmd
}
