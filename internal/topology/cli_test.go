package topology_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/blog"
	"github.com/tvsync/tvsync/migrations"
	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/synccli"
	"github.com/tvsync/tvsync/sync/syncdbtest"
	"github.com/tvsync/tvsync/sync/syncmigrate"
)

// cli runs the blog's CLI with args and returns its exit status and output.
func cli(t *testing.T, ctx context.Context, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	c, err := synccli.New(synccli.Config{
		Name:       "tvsync",
		NewEngine:  func(pool *pgxpool.Pool, cfg tvsync.Config) (*tvsync.Engine, error) { return blog.NewEngine(pool, cfg) },
		Migrations: []syncmigrate.Set{{Name: "blog", FS: migrations.FS}},
		Stdout:     &out, Stderr: &out, Stdin: strings.NewReader(""),
	})
	require.NoError(t, err)
	code := c.Execute(ctx, args)
	return code, out.String()
}

// TestPgBouncer_CLISessionCommandsTakeTheDirectURL: with --database-url
// through pgbouncer, migrate and rebuild fail at once naming the pooler and
// --direct-url; given --direct-url they work, and sync and verify work
// through pgbouncer alone.
func TestPgBouncer_CLISessionCommandsTakeTheDirectURL(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	direct := syncdbtest.URL(t)
	pooled := syncdbtest.PgBouncerURL(t, direct)

	for _, args := range [][]string{{"migrate", "up", "--set", "blog"}, {"rebuild", "--entity", "post"}} {
		code, out := cli(t, ctx, append([]string{"--database-url", pooled}, args...)...)
		assert.Equal(t, 1, code, "%v through pgbouncer: %s", args, out)
		assert.Contains(t, out, "transaction pooler", args)
		assert.Contains(t, out, "--direct-url", args)

		code, out = cli(t, ctx, append([]string{"--database-url", pooled, "--direct-url", direct}, args...)...)
		assert.Equal(t, 0, code, "%v with --direct-url: %s", args, out)
	}
	for _, args := range [][]string{{"sync", "--all"}, {"verify"}} {
		code, out := cli(t, ctx, append([]string{"--database-url", pooled}, args...)...)
		assert.Equal(t, 0, code, "%v through pgbouncer: %s", args, out)
	}
}
