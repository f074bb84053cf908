package syncvet_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/sync/syncvet"
)

// fakeSQLC returns a command standing in for sqlc: a shell script that
// prints its arguments and $APP_DB, then $OUTPUT, and exits with status.
func fakeSQLC(status string) []string {
	return []string{"sh", "-c", `echo "args: $*"; echo "APP_DB=$APP_DB"; printf '%s' "$OUTPUT"; exit ` + status, "sqlc"}
}

func TestVet_RunsTheCommandWithTheDatabaseInTheConfigsVariable(t *testing.T) {
	config, _ := app(t, appConfig)
	t.Setenv("OUTPUT", "")
	t.Setenv("APP_DB", "postgres://from-the-environment/wrong")
	t.Chdir(filepath.Dir(filepath.Dir(config))) // a relative config path names it from here
	out, err := syncvet.Vet(context.Background(), fakeSQLC("0"), filepath.Join("app", "sqlc.yaml"), "postgres://127.0.0.1:5432/vet")
	require.NoError(t, err, out)
	assert.Equal(t, "args: -f "+config+" vet\nAPP_DB=postgres://127.0.0.1:5432/vet\n", out,
		"sqlc gets the absolute configuration path (a tools module's go -C changes folder) and the URL in the uri's variable")
}

func TestVet_TellsFiredRulesFromFailures(t *testing.T) {
	config, _ := app(t, appConfig)
	ctx := context.Background()
	for name, c := range map[string]struct {
		output, status string
		fired          bool // the error wraps ErrRulesFired
	}{
		"a rule fired":                 {"bad.sql: Q: no-star: the query selects every column\n", "1", true},
		"a query was not explained":    {"bad.sql: Q: no-seq: error explaining query: boom\n", "1", false},
		"the configuration is invalid": {"error validating sqlc.yaml: invalid engine\n", "1", false},
		"sqlc crashed":                 {"bad.sql: Q: no-star: the query selects every column\npanic: boom\n", "2", false},
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv("OUTPUT", c.output)
			out, err := syncvet.Vet(ctx, fakeSQLC(c.status), config, "postgres://db")
			require.Error(t, err)
			assert.True(t, strings.HasSuffix(out, c.output), out)
			assert.Equal(t, c.fired, errors.Is(err, syncvet.ErrRulesFired), err.Error())
			var exit *exec.ExitError
			require.ErrorAs(t, err, &exit, "the error wraps sqlc's exit")
			assert.Equal(t, c.status, strconv.Itoa(exit.ExitCode()))
			assert.Contains(t, err.Error(), config)
		})
	}
}

func TestVet_RefusesBeforeRunningAnything(t *testing.T) {
	config, root := app(t, strings.Replace(appConfig, "${APP_DB}", "postgres://localhost/app", 1))
	ran := filepath.Join(root, "ran")
	touch := []string{"touch", ran}
	ctx := context.Background()

	_, err := syncvet.Vet(ctx, touch, config, "postgres://db")
	assert.ErrorContains(t, err, "database.uri must be an environment variable alone")
	good, _ := app(t, appConfig)
	_, err = syncvet.Vet(ctx, touch, good, "")
	assert.ErrorContains(t, err, "empty database URL")
	_, err = syncvet.Vet(ctx, nil, good, "postgres://db")
	assert.ErrorContains(t, err, "no sqlc command")
	_, err = syncvet.Vet(ctx, touch, filepath.Join(root, "missing.yaml"), "postgres://db")
	assert.ErrorIs(t, err, os.ErrNotExist)
	assert.NoFileExists(t, ran, "no command ran")
}

func TestFixtures_VetChecksWhatSqlcReports(t *testing.T) {
	config, root := app(t, appConfig)
	f := syncvet.Fixtures{
		Config:     config,
		Queries:    []string{filepath.Join(root, "app", "testdata", "vetfixtures")},
		Want:       map[string]string{"VetFixtureStar": "no-star"},
		StarTables: []string{"tv_thing"},
		StarRule:   "no-star",
	}
	ctx := context.Background()
	var dir string
	run := func(output, status string) (string, error) {
		t.Helper()
		t.Setenv("OUTPUT", output)
		dir = t.TempDir()
		return f.Vet(ctx, fakeSQLC(status), "postgres://db", dir)
	}

	out, err := run("bad.sql: VetFixtureStar: no-star: m\nstars.sql: VetStarTvThing: no-star: m\n", "1")
	require.NoError(t, err, out)
	assert.Contains(t, out, "args: -f "+filepath.Join(dir, "sqlc.yaml")+" vet\n", "sqlc ran on the copy")

	_, err = run("bad.sql: VetFixtureStar: no-star: m\nstars.sql: VetStarTvThing: no-star: m\nbad.sql: VetFixtureSearch: no-seq: m\n", "1")
	assert.ErrorContains(t, err, "VetFixtureSearch: no rule may fire, got [no-seq]")
	assert.NotErrorIs(t, err, syncvet.ErrRulesFired, "rules firing is what fixtures expect")

	_, err = run("", "0")
	assert.ErrorContains(t, err, "VetFixtureStar: no-star did not fire (got [])", "a passing vet is a rule that missed its fixture")

	_, err = run("error validating sqlc.yaml: invalid engine\n", "1")
	var exit *exec.ExitError
	assert.ErrorAs(t, err, &exit, "a failure of sqlc itself comes back as it is")
}
