package syncdbtest_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The team's module: its own goose set (testdata/widgets, whose view calls
// tvsync.ts) in a version table of its own, and two tests on the kit.
const (
	externalMigrationsGo = `// Package migrations holds the widget team's goose migrations.
package migrations

import "embed"

// FS holds the migration files.
//
//go:embed *.sql
var FS embed.FS
`
	externalTestGo = `package widgets_test

import (
	"context"
	"os"
	"testing"

	"github.com/tvsync/tvsync/sync/syncdbtest"
	"github.com/tvsync/tvsync/sync/syncmigrate"

	"example.com/widgets/migrations"
)

func TestMain(m *testing.M) {
	os.Exit(syncdbtest.Main(m, syncdbtest.Options{
		Migrations: []syncmigrate.Set{{Name: "widgets", FS: migrations.FS, VersionTable: "widget_migrations"}},
	}))
}

// checkWidgets asserts that New gives a database holding schema tvsync and
// the widget tables, then writes a row both tests write: only isolated
// databases let both succeed.
func checkWidgets(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := syncdbtest.New(t)
	var db string
	var queue, tb, tv bool
	var version int64
	if err := pool.QueryRow(ctx, ` + "`" + `SELECT current_database(),
		to_regclass('tvsync.sync_queue') IS NOT NULL,
		to_regclass('public.tb_widget') IS NOT NULL,
		to_regclass('public.tv_widget') IS NOT NULL,
		(SELECT max(version_id) FROM widget_migrations WHERE is_applied)` + "`" + `).Scan(&db, &queue, &tb, &tv, &version); err != nil {
		t.Fatal(err)
	}
	if !queue || !tb || !tv || version != 1 {
		t.Fatalf("database %s: tvsync.sync_queue %t, tb_widget %t, tv_widget %t, widget version %d", db, queue, tb, tv, version)
	}
	if _, err := pool.Exec(ctx, "INSERT INTO tb_widget (name) VALUES ('gear')"); err != nil {
		t.Fatalf("database %s: %v", db, err)
	}
	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM tb_widget").Scan(&n); err != nil || n != 1 {
		t.Fatalf("database %s: %d widgets (%v), want the test's own 1", db, n, err)
	}
	t.Logf("widgets database %s", db)
}

func TestWidgetA(t *testing.T) { checkWidgets(t) }
func TestWidgetB(t *testing.T) { checkWidgets(t) }
`
)

// TestExternalModule_TestsItsOwnEntitiesWithTheKit builds a team's module
// outside this one (a replace to the repository), with its own goose
// migration (tb_widget, tv_widget) and tests on the public kit only, and
// runs its tests: each gets a database migrated with schema tvsync and the
// widget tables, and the two get different, isolated databases.
func TestExternalModule_TestsItsOwnEntitiesWithTheKit(t *testing.T) {
	t.Parallel()
	root := moduleRoot(t)
	dir := t.TempDir()
	goVersion := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(readFile(t, filepath.Join(root, "go.mod")))
	require.NotNil(t, goVersion, "go directive of %s/go.mod", root)
	widgetSQL := readFile(t, filepath.Join("testdata", "widgets", "00001_widget.sql"))
	for name, data := range map[string][]byte{
		"go.mod": []byte("module example.com/widgets\n\ngo " + string(goVersion[1]) + "\n\n" +
			"require github.com/tvsync/tvsync v0.0.0-00010101000000-000000000000\n\n" +
			"replace github.com/tvsync/tvsync => " + strconv.Quote(root) + "\n"),
		// The repository's checksums: every module the kit needs is there.
		"go.sum":                      readFile(t, filepath.Join(root, "go.sum")),
		"migrations/migrations.go":    []byte(externalMigrationsGo),
		"migrations/00001_widget.sql": widgetSQL,
		"widgets_test.go":             []byte(externalTestGo),
	} {
		path := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, data, 0o644))
	}

	args := []string{"test", "-count=1", "-v"}
	if raceEnabled { // the same flags as this test: the build cache serves the kit's packages
		args = append(args, "-race")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", append(args, "./...")...)
	cmd.Dir = dir
	cmd.Env = externalEnv()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	begin := time.Now()
	err := cmd.Run()
	t.Logf("go %s in the external module: %s", strings.Join(args, " "), time.Since(begin).Round(time.Millisecond))
	require.NoError(t, err, "go test in the external module:\n%s", out.String())

	output := out.String()
	assert.Contains(t, output, "--- PASS: TestWidgetA")
	assert.Contains(t, output, "--- PASS: TestWidgetB")
	assert.Regexp(t, `(?m)^ok\s+example.com/widgets\s`, output)
	dbs := regexp.MustCompile(`widgets database (\S+)`).FindAllStringSubmatch(output, -1)
	require.Len(t, dbs, 2, output)
	assert.NotEqual(t, dbs[0][1], dbs[1][1], "the two tests must get different databases")
}

// externalEnv is this process's environment (GOPROXY, GOFLAGS, the caches)
// for a go command in a module outside any workspace, allowed to complete
// its go.mod (-mod=mod) from the module cache.
func externalEnv() []string {
	var env, flags []string
	for _, kv := range os.Environ() {
		switch {
		case strings.HasPrefix(kv, "GOFLAGS="):
			for _, f := range strings.Fields(strings.TrimPrefix(kv, "GOFLAGS=")) {
				if !strings.HasPrefix(f, "-mod=") {
					flags = append(flags, f)
				}
			}
		case strings.HasPrefix(kv, "GOWORK="):
		default:
			env = append(env, kv)
		}
	}
	return append(env, "GOFLAGS="+strings.Join(append(flags, "-mod=mod"), " "), "GOWORK=off")
}

// moduleRoot returns the directory of this repository's go.mod.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	require.NoError(t, err)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		} else if !errors.Is(err, os.ErrNotExist) {
			require.NoError(t, err)
		}
		parent := filepath.Dir(dir)
		require.NotEqual(t, dir, parent, "no go.mod above the test's directory")
		dir = parent
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}
