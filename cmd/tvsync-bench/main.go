// Command tvsync-bench runs tvsync's side-by-side benchmark suite
// (internal/bench) on a throwaway PostgreSQL, or on databases of its own on
// the server of --database-url (or DATABASE_URL), prints the markdown report
// and writes it with its chart to --out. `make bench` runs it at the main
// scale; `go run ./cmd/tvsync-bench --scale 1m` measures the scale table.
//
// It is a command of its own so that the operator CLI, cmd/tvsync, links
// neither the suite nor its plotting (gonum/plot, fonts, PDF, LaTeX). The
// peak-memory measurements run the real tvsync executable as a child: the
// one of --tvsync-bin, else one it builds from ./cmd/tvsync with `go build`
// (run it from the tvsync module).
//
// Exit status: 0 on success and for --help, 1 when the suite fails, 2 for a
// usage error (reported before connecting), 130 when interrupted. Passwords
// of database URLs are never printed.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/tvsync/tvsync/internal/bench"
	"github.com/tvsync/tvsync/sync/synccli"
)

// name is the program name in help and messages.
const name = "tvsync-bench"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second signal gets the default behaviour: exit at once
	}()
	code := execute(ctx, os.Stdout, os.Stderr, os.Args[1:])
	stop()
	os.Exit(code)
}

// flags are the command line of one run.
type flags struct {
	scale, out, dataDir, databaseURL, logLevel, tvsyncBin, only string
}

// usageError is a wrong command line: exit status 2, before any connection.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// usagef returns a usage error with the formatted message.
func usagef(format string, args ...any) error { return &usageError{msg: fmt.Sprintf(format, args...)} }

// execute runs the command line args (without the program name) and
// returns the exit status. Cancelling ctx interrupts the suite.
func execute(ctx context.Context, stdout, stderr io.Writer, args []string) int {
	var f flags
	started := false
	cmd := &cobra.Command{
		Use:   name + " [--scale main|1m|tiny] [--out DIR] [--data-dir DIR] [--tvsync-bin PATH]",
		Short: "tvsync's side-by-side benchmark suite (a throwaway PostgreSQL, or databases of its own on --database-url's server)",
		Long: "tvsync's side-by-side benchmark suite: a throwaway PostgreSQL, or databases of its own on the server of\n" +
			"--database-url or DATABASE_URL (the role needs CREATEDB). Prints the markdown report and writes it with its\n" +
			"chart to --out. Exit status: 0 on success or help, 1 when the suite fails, 2 for a usage error (reported\n" +
			"before connecting), 130 when interrupted.",
		Args:                  cobra.NoArgs,
		SilenceErrors:         true,
		SilenceUsage:          true,
		CompletionOptions:     cobra.CompletionOptions{DisableDefaultCmd: true},
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			started = true
			return run(cmd.Context(), stdout, stderr, f)
		},
	}
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	cmd.SetArgs(args)
	fl := cmd.Flags()
	fl.StringVar(&f.scale, "scale", "main", "data set: main (10k users, 100k posts, 500k comments; every measurement), 1m (the scale table: 100k against 1M posts) or tiny (smoke test)")
	fl.StringVar(&f.dataDir, "data-dir", "", "kept PostgreSQL data directory whose seeded data sets later runs clone (default /var/tmp/tvsync-bench-1m for --scale 1m, none otherwise)")
	fl.StringVar(&f.out, "out", "docs/benchmarks", "directory for latest.md and latest.png (latest-SCALE.* for other scales); empty to only print")
	fl.StringVar(&f.databaseURL, "database-url", "", "PostgreSQL URL of a server to create the suite's databases on (default: $DATABASE_URL, else a throwaway server; its password is never printed)")
	fl.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fl.StringVar(&f.tvsyncBin, "tvsync-bin", "", "tvsync executable for the peak-memory child (default: built from ./cmd/tvsync with go build)")
	fl.StringVar(&f.only, "only", "", "run only these measurements, comma-separated: batch, write, full, read, lag, wide (default: every one of the scale's)")

	err := cmd.ExecuteContext(ctx)
	switch {
	case err == nil:
		return 0
	case ctx.Err() != nil:
		fmt.Fprintf(stderr, "%s: interrupted\n", name)
		return 130
	case !started || errors.As(err, new(*usageError)):
		fmt.Fprintf(stderr, "%s: %s\nRun '%s --help' for usage.\n", name, synccli.Redact(err.Error()), name)
		return 2
	}
	fmt.Fprintf(stderr, "%s: %s\n", name, synccli.Redact(err.Error()))
	return 1
}

// run checks the flags, then runs the suite.
func run(ctx context.Context, stdout, stderr io.Writer, f flags) error {
	scale, err := bench.ParseScale(f.scale)
	if err != nil {
		return usagef("--scale %q: want main, 1m or tiny", f.scale)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return usagef("--log-level %q: want debug, info, warn or error", f.logLevel)
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level, ReplaceAttr: redactAttr}))
	databaseURL := f.databaseURL
	if databaseURL == "" {
		databaseURL = os.Getenv("DATABASE_URL")
	}
	dataDir := f.dataDir
	if dataDir == "" {
		dataDir = bench.DefaultDataDir(scale)
	}
	plan := bench.DefaultPlan(scale)
	if f.only != "" {
		if err := plan.Only(strings.Split(f.only, ",")); err != nil {
			return usagef("--only %q: %v", f.only, err)
		}
	}

	bin := f.tvsyncBin
	if bin == "" && (plan.PeakRSS || len(plan.ScaleSets) > 0) {
		dir, err := os.MkdirTemp("", "tvsync-bench-bin-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		if bin, err = buildTvsync(ctx, dir, logger); err != nil {
			return err
		}
	}

	admin, replica, stop, err := bench.StartServerWithReplica(ctx, databaseURL, dataDir, logger)
	if err != nil {
		return err
	}
	defer stop()
	res, err := bench.Run(ctx, bench.Config{AdminURL: admin, Scale: scale, Plan: &plan, TvsyncBin: bin, Logger: logger, KeepTemplates: dataDir != "", Replica: replica})
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, res.Markdown())
	if f.out == "" {
		return nil
	}
	md, png, err := res.WriteFiles(f.out)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s and %s\n", md, png)
	return nil
}

// buildTvsync builds the tvsync command of the current module into dir
// and returns the executable's path.
func buildTvsync(ctx context.Context, dir string, logger *slog.Logger) (string, error) {
	bin := filepath.Join(dir, "tvsync")
	logger.InfoContext(ctx, "bench: building the tvsync executable for the peak-memory child", slog.String("bin", bin))
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/tvsync/tvsync/cmd/tvsync").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("build the tvsync executable for the peak-memory child (run from the tvsync module, or give --tvsync-bin): %w\n%s",
			err, strings.TrimSpace(string(out)))
	}
	return bin, nil
}

// redactAttr is the logger's ReplaceAttr: it redacts passwords in strings
// and errors.
func redactAttr(_ []string, attr slog.Attr) slog.Attr {
	switch attr.Value.Kind() {
	case slog.KindString:
		attr.Value = slog.StringValue(synccli.Redact(attr.Value.String()))
	case slog.KindAny:
		if err, ok := attr.Value.Any().(error); ok {
			attr.Value = slog.StringValue(synccli.Redact(err.Error()))
		}
	}
	return attr
}
