package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/internal/testdb"
)

// legacyTriggerSQL is the seed pattern's "Before (triggers)": tv_post kept
// in step by a trigger, next to a trigger that writes no tv_ table.
const legacyTriggerSQL = `
CREATE FUNCTION sync_post_to_tv() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tv_post (id, data, updated_at)
    SELECT s.id, s.data, now() FROM tv_post_source s WHERE s.id = NEW.id
    ON CONFLICT (id) DO UPDATE SET data = EXCLUDED.data, updated_at = now();
    RETURN NEW;
END
$$;
CREATE TRIGGER sync_post_trigger AFTER INSERT OR UPDATE ON tb_post
FOR EACH ROW EXECUTE FUNCTION sync_post_to_tv();
CREATE FUNCTION touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.updated_at := now(); RETURN NEW; END
$$;
CREATE TRIGGER touch_post_updated_at BEFORE UPDATE ON tb_post
FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
`

func TestCLI_TriggersListsEmitsAppliesAndRollsBack(t *testing.T) {
	url := testdb.URL(t)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, url)
	require.NoError(t, err)
	defer pool.Close()

	code, out, errOut := runCLI(t, "--database-url", url, "triggers")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, "no triggers on tb_ tables write tv_ tables\n", out)

	_, err = pool.Exec(ctx, legacyTriggerSQL)
	require.NoError(t, err)
	code, out, errOut = runCLI(t, "--database-url", url, "triggers")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, ""+
		"TABLE    TRIGGER            FUNCTION                  EVENTS                               WRITES\n"+
		"tb_post  sync_post_trigger  public.sync_post_to_tv()  AFTER INSERT OR UPDATE FOR EACH ROW  tv_post\n", out)
	assert.NotContains(t, out, "touch_post_updated_at")

	dir := filepath.Join(t.TempDir(), "legacy")
	code, out, errOut = runCLI(t, "--database-url", url, "triggers", "--emit-migration", dir)
	require.Equal(t, 0, code, errOut)
	files, err := filepath.Glob(filepath.Join(dir, "*_drop_tv_sync_triggers.sql"))
	require.NoError(t, err)
	require.Len(t, files, 1)
	assert.Regexp(t, regexp.MustCompile(`^\d{14}_drop_tv_sync_triggers\.sql$`), filepath.Base(files[0]))
	assert.Contains(t, out, "wrote "+files[0]+"\n")
	assert.Contains(t, out, "tvsync triggers --apply "+dir+"\n")
	assert.Contains(t, out, `goose -dir `+dir+` -table tvsync_trigger_migrations postgres "$DATABASE_URL" up`)
	body, err := os.ReadFile(files[0])
	require.NoError(t, err)
	assert.Contains(t, string(body), `DROP TRIGGER IF EXISTS "sync_post_trigger" ON "public"."tb_post";`)
	assert.Equal(t, 1, countTrigger(t, pool), "emitting changes nothing in the database")

	code, out, errOut = runCLI(t, "--database-url", url, "triggers", "--apply", dir)
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "applied "+filepath.Base(files[0]))
	assert.Zero(t, countTrigger(t, pool))
	code, out, _ = runCLI(t, "--database-url", url, "triggers", "--apply", dir)
	require.Equal(t, 0, code)
	assert.Contains(t, out, "no triggers on tb_ tables write tv_ tables\n")
	assert.Contains(t, out, "no pending migrations in "+dir)

	code, out, errOut = runCLI(t, "--database-url", url, "triggers", "--emit-migration", t.TempDir())
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "nothing to drop")

	code, out, errOut = runCLI(t, "--database-url", url, "triggers", "--rollback", dir)
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "rolled back "+filepath.Base(files[0]))
	assert.Equal(t, 1, countTrigger(t, pool))
	assert.Equal(t, 1, countRowsCLI(t, pool, `SELECT count(*) FROM pg_trigger WHERE tgname = 'touch_post_updated_at'`))
}

func TestCLI_TriggersRejectsBadFlags(t *testing.T) {
	t.Setenv("DATABASE_URL", "")
	code, _, errOut := runCLI(t, "triggers")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "set DATABASE_URL or pass --database-url")
	code, _, errOut = runCLI(t, "--database-url", "postgres://x@127.0.0.1:1/x", "triggers", "--apply", "a", "--rollback", "a")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "at most one of --apply and --rollback")
}

func countTrigger(t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	return countRowsCLI(t, pool, `SELECT count(*) FROM pg_trigger WHERE tgname = 'sync_post_trigger'`)
}

func countRowsCLI(t *testing.T, pool *pgxpool.Pool, query string) int {
	t.Helper()
	var n int
	require.NoError(t, pool.QueryRow(context.Background(), query).Scan(&n))
	return n
}
