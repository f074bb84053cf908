package synccli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/internal/triggers"
	"github.com/tvsync/tvsync/sync/syncmigrate"
)

// widgets registers one entity that is not tvsync's blog; its statements
// are never run by these tests.
func widgets(pool *pgxpool.Pool, cfg tvsync.Config) (*tvsync.Engine, error) {
	return tvsync.NewEngine(pool, cfg, tvsync.Entity{
		Name:          "widget",
		Refresh:       func(*tvsync.Pipeline, []tvsync.ID) func() (tvsync.RefreshResult, error) { panic("not run") },
		DeleteMissing: func(*tvsync.Pipeline, []tvsync.ID) func() (tvsync.DeleteResult, error) { panic("not run") },
		IDsAfter: func(context.Context, tvsync.DB, tvsync.ID, int) ([]tvsync.ID, error) {
			return nil, errors.New("not run")
		},
		ViewIDsAfter: func(context.Context, tvsync.DB, tvsync.ID, int) ([]tvsync.ID, error) {
			return nil, errors.New("not run")
		},
	})
}

// execute runs a CLI named "shop" over widgets with extra commands.
func execute(ctx context.Context, t *testing.T, extra func(*App) []*cobra.Command, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	cli, err := New(Config{Name: "shop", NewEngine: widgets, Commands: extra, Stdout: &out, Stderr: &errOut, Stdin: strings.NewReader("")})
	require.NoError(t, err)
	code = cli.Execute(ctx, args)
	return code, out.String(), errOut.String()
}

func TestExecute_EntitiesComeFromTheEngineFactory(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"sync", "--entity", "post", "--all"}, {"verify", "--entity", "post"}, {"rebuild", "--entity", "post"}, {"explain", "--entity", "post"},
	} {
		code, out, errOut := execute(context.Background(), t, nil, append([]string{"--database-url", "postgres://x@127.0.0.1:1/x"}, args...)...)
		assert.Equal(t, ExitUsage, code, args)
		assert.Empty(t, out)
		assert.Equal(t, fmt.Sprintf("shop %s: --entity \"post\": unknown entity (registered: widget)\nRun 'shop %s --help' for usage.\n", args[0], args[0]), errOut)
	}
}

func TestExecute_MapsErrorsToExitStatuses(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	extra := func(app *App) []*cobra.Command {
		cmd := func(name string, err error) *cobra.Command {
			return &cobra.Command{Use: name, Short: "returns " + name, RunE: func(cmd *cobra.Command, _ []string) error {
				fmt.Fprintln(app.Stdout(), "ran", name)
				return err
			}}
		}
		return []*cobra.Command{
			cmd("ok", nil),
			cmd("bad-input", Usagef("--size %d: want 1 to 10", 11)),
			cmd("broken", fmt.Errorf("load widgets: %w", errors.New("tvsync: disk on fire"))),
			cmd("custom", &ExitError{Code: 3, Err: errors.New("3 widgets out of stock")}),
			{Use: "interrupted", Short: "stopped by a signal", RunE: func(*cobra.Command, []string) error {
				cancel()
				return context.Canceled
			}},
		}
	}
	for _, tc := range []struct {
		name   string
		code   int
		stderr string
	}{
		{"ok", ExitOK, ""},
		{"bad-input", ExitUsage, "shop bad-input: --size 11: want 1 to 10\nRun 'shop bad-input --help' for usage.\n"},
		{"broken", ExitFailure, "shop broken: load widgets: tvsync: disk on fire\n"},
		{"custom", 3, "shop custom: 3 widgets out of stock\n"},
		{"interrupted", ExitInterrupted, "shop interrupted: interrupted\n"},
	} {
		code, out, errOut := execute(ctx, t, extra, tc.name)
		assert.Equal(t, tc.code, code, tc.name)
		assert.Equal(t, tc.stderr, errOut, tc.name)
		if tc.name != "interrupted" {
			assert.Equal(t, "ran "+tc.name+"\n", out, tc.name)
		}
		code, out, errOut = execute(context.Background(), t, extra, tc.name, "--help")
		assert.Equal(t, ExitOK, code, "help of %s", tc.name)
		assert.Contains(t, out, "Usage:\n  shop "+tc.name)
		assert.Empty(t, errOut)
	}
	code, out, _ := execute(context.Background(), t, extra, "--help")
	assert.Equal(t, ExitOK, code)
	assert.Contains(t, out, "Commands of shop:\n")
}

func TestRedact_HidesPasswordsOfURLsAndKeyValueStrings(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"connect to postgres://app:s3cr3t@db:5432/prod failed":        "connect to postgres://app:xxxxx@db:5432/prod failed",
		"postgresql://app:p%40ss@db/prod?sslmode=require":             "postgresql://app:xxxxx@db/prod?sslmode=require",
		"two: postgres://a:one@h/d and postgres://b:two@h/d":          "two: postgres://a:xxxxx@h/d and postgres://b:xxxxx@h/d",
		"host=db user=app password=s3cr3t dbname=prod":                "host=db user=app password=xxxxx dbname=prod",
		"host=db password='se cr3t' dbname=prod":                      "host=db password=xxxxx dbname=prod",
		"postgres://app@db:5432/prod (no password)":                   "postgres://app@db:5432/prod (no password)",
		"postgres://db:5432/prod":                                     "postgres://db:5432/prod",
		`level=ERROR error="dial postgres://u:hunter2@127.0.0.1:1/x"`: `level=ERROR error="dial postgres://u:xxxxx@127.0.0.1:1/x"`,
	} {
		assert.Equal(t, want, Redact(in), in)
	}
}

func TestProgress_BarShowsTotalCountRateAndETA(t *testing.T) {
	t.Parallel()
	var errOut bytes.Buffer
	a := newApp(Config{Name: "shop", NewEngine: widgets, Stderr: &errOut})
	a.progress = "bar"
	require.NoError(t, a.setup())
	p := a.Progress("sync widget", 1000)
	p.Set(400)
	time.Sleep(150 * time.Millisecond) // past the bar's redraw throttle
	p.Set(500)
	p.Set(1000)
	p.Finish()
	out := errOut.String()
	assert.Contains(t, out, "sync widget")
	assert.Regexp(t, `50% \|█+ +\| \(500/1000, \d+ rows/s\) \[\d+s:\d+s\]`, out, "count, total, rate, elapsed and time left")
	assert.Contains(t, out, "100% |", "finished")
	assert.Contains(t, out, "(1000/1000, ")
	assert.True(t, strings.HasSuffix(out, "]\n"), "the finished bar ends its line: %q", out)

	// A bar stopped midway stays where it was, on a line of its own.
	errOut.Reset()
	p = a.Progress("verify widget", 1000)
	p.Set(300)
	p.Finish()
	out = errOut.String()
	assert.Contains(t, out, "(0/1000, ")
	assert.NotContains(t, out, "100%")
	assert.True(t, strings.HasSuffix(out, "]\n"), "one line end: %q", out)
}

func TestPrintTriggers_CatalogNamesCannotForgeLinesOrDriveTheTerminal(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, printTriggers(&out, []triggers.Trigger{{
		Schema: "public", Table: "tb_x\nFAKE\tline", Name: "t\x1b[2J", Function: "f()",
		Timing: "AFTER", Events: "INSERT", Level: "ROW", WritesTables: []string{"tv_x\r"},
	}}))
	assert.Equal(t, 2, strings.Count(out.String(), "\n"), "one header line and one trigger line: %q", out.String())
	assert.NotContains(t, out.String(), "\x1b")
	assert.NotContains(t, out.String(), "\r")
	assert.Contains(t, out.String(), `"tb_x\nFAKE\tline"`)
}

// TestNew_RejectsInvalidConfigNamingTheField: each invalid Config is an
// error naming its field, and no CLI.
func TestNew_RejectsInvalidConfigNamingTheField(t *testing.T) {
	t.Parallel()
	valid := Config{Name: "shop", NewEngine: widgets}
	with := func(change func(*Config)) Config {
		c := valid
		change(&c)
		return c
	}
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{with(func(c *Config) { c.Name = "" }), "synccli: Config.Name is required"},
		{with(func(c *Config) { c.Name = "my shop" }), `synccli: Config.Name "my shop": want one word`},
		{with(func(c *Config) { c.NewEngine = nil }), "synccli: Config.NewEngine is required"},
		{with(func(c *Config) { c.Migrations = []syncmigrate.Set{{Name: "tvsync", FS: shopMigrations.FS}} }), `synccli: Config.Migrations: syncmigrate: migration set name "tvsync" is taken`},
		{with(func(c *Config) {
			c.Commands = func(*App) []*cobra.Command { return []*cobra.Command{{Use: "sync"}} }
		}), `synccli: Config.Commands: command "sync" is one of the kit's`},
		{with(func(c *Config) {
			c.Commands = func(*App) []*cobra.Command { return []*cobra.Command{{Use: "seed"}, {Use: "seed"}} }
		}), `synccli: Config.Commands: command "seed" is one of the kit's`},
		{with(func(c *Config) { c.Commands = func(*App) []*cobra.Command { return []*cobra.Command{nil} } }), "synccli: Config.Commands: command 0 is nil"},
	} {
		cli, err := New(tc.cfg)
		assert.ErrorContains(t, err, tc.want)
		assert.Nil(t, cli)
	}
	cli, err := New(with(func(c *Config) {
		c.Commands = func(*App) []*cobra.Command { return []*cobra.Command{{Use: "seed"}} }
	}))
	require.NoError(t, err)
	assert.NotNil(t, cli)
}
