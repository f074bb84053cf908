package triggers_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/internal/testdb"
	"github.com/tvsync/tvsync/sync/internal/triggers"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

// legacySQL installs what a trigger-based deployment of the seed pattern
// has: sync_post_to_tv() upserting tv_post for NEW.id after every insert or
// update of tb_post, plus an unrelated trigger on tb_post (it writes no tv_
// table, only mentions one in a comment) and a trigger on a table that is
// not a tb_ table, even though its function writes tv_post.
const legacySQL = `
CREATE FUNCTION sync_post_to_tv() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tv_post (id, data, updated_at)
    SELECT s.id, s.data, now() FROM tv_post_source s WHERE s.id = NEW.id
    ON CONFLICT (id) DO UPDATE SET data = EXCLUDED.data, updated_at = now();
    RETURN NEW;
END
$$;
CREATE TRIGGER sync_post_trigger
AFTER INSERT OR UPDATE ON tb_post
FOR EACH ROW EXECUTE FUNCTION sync_post_to_tv();

CREATE FUNCTION touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- This used to INSERT INTO tv_post too; explicit sync does that now.
    NEW.updated_at := now();
    RETURN NEW;
END
$$;
CREATE TRIGGER touch_post_updated_at
BEFORE UPDATE ON tb_post
FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

CREATE TABLE audit_post (id uuid);
CREATE TRIGGER audit_sync AFTER INSERT ON audit_post
FOR EACH ROW EXECUTE FUNCTION sync_post_to_tv();
`

// setup returns a migrated database with the legacy triggers installed and
// one user to author posts.
func setup(t *testing.T) (*pgxpool.Pool, uuid.UUID) {
	t.Helper()
	pool := testdb.New(t)
	ctx := context.Background()
	_, err := pool.Exec(ctx, legacySQL)
	require.NoError(t, err)
	var userID uuid.UUID
	require.NoError(t, pool.QueryRow(ctx, `INSERT INTO tb_user (username) VALUES ('ada') RETURNING id`).Scan(&userID))
	return pool, userID
}

// insertPost inserts a post and reports whether tv_post got its row.
func insertPost(t *testing.T, pool *pgxpool.Pool, author uuid.UUID, title string) (synced bool) {
	t.Helper()
	ctx := context.Background()
	var id uuid.UUID
	require.NoError(t, pool.QueryRow(ctx, `INSERT INTO tb_post (author_id, title) VALUES ($1, $2) RETURNING id`, author, title).Scan(&id))
	var gotTitle string
	err := pool.QueryRow(ctx, `SELECT data->>'title' FROM tv_post WHERE id = $1`, id).Scan(&gotTitle)
	if errors.Is(err, pgx.ErrNoRows) {
		return false
	}
	require.NoError(t, err)
	assert.Equal(t, title, gotTitle)
	return true
}

func countRows(t *testing.T, pool *pgxpool.Pool, query string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, pool.QueryRow(context.Background(), query, args...).Scan(&n))
	return n
}

func TestFind_ListsOnlyTriggersOnTBTablesThatWriteTVTables(t *testing.T) {
	t.Parallel()
	pool, _ := setup(t)
	found, err := triggers.Find(context.Background(), pool)
	require.NoError(t, err)
	require.Len(t, found, 1, "%+v", found)
	got := found[0]
	assert.Equal(t, "sync_post_trigger", got.Name)
	assert.Equal(t, "public", got.Schema)
	assert.Equal(t, "tb_post", got.Table)
	assert.Equal(t, "public.sync_post_to_tv()", got.Function)
	assert.Equal(t, "AFTER", got.Timing)
	assert.Equal(t, "INSERT OR UPDATE", got.Events)
	assert.Equal(t, "ROW", got.Level)
	assert.Equal(t, "O", got.Enabled)
	assert.Equal(t, []string{"tv_post"}, got.WritesTables)
	assert.Equal(t, []string{"public.audit_post.audit_sync", "public.tb_post.sync_post_trigger"}, got.FunctionTriggers)
	assert.Equal(t, "CREATE TRIGGER sync_post_trigger AFTER INSERT OR UPDATE ON public.tb_post FOR EACH ROW EXECUTE FUNCTION sync_post_to_tv()", got.TriggerDef)
	assert.Contains(t, got.FunctionDef, "CREATE OR REPLACE FUNCTION public.sync_post_to_tv()")
	assert.Contains(t, got.FunctionDef, "INSERT INTO tv_post (id, data, updated_at)")
}

func TestFind_NoLegacyTriggersFindsNothing(t *testing.T) {
	t.Parallel()
	found, err := triggers.Find(context.Background(), testdb.New(t))
	require.NoError(t, err)
	assert.Empty(t, found)
}

// TestMigration_UpDropsTheTriggerDownRestoresIt is the whole move off
// triggers: find, emit, apply with goose, roll back with goose.
func TestMigration_UpDropsTheTriggerDownRestoresIt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, author := setup(t)
	_, err := pool.Exec(ctx, `DROP TRIGGER audit_sync ON audit_post`) // the function has one user left
	require.NoError(t, err)
	require.True(t, insertPost(t, pool, author, "before"), "the legacy trigger syncs tv_post")

	found, err := triggers.Find(ctx, pool)
	require.NoError(t, err)
	require.Len(t, found, 1)
	dir := t.TempDir()
	path, err := triggers.EmitMigration(dir, found, time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC))
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, "20260102150405_drop_tv_sync_triggers.sql"), path)

	db := stdlib.OpenDBFromPool(pool)
	t.Cleanup(func() { _ = db.Close() })
	p, err := triggers.NewProvider(db, dir, nil)
	require.NoError(t, err)
	res, err := p.Up(ctx)
	require.NoError(t, err)
	require.Len(t, res, 1)

	triggerCount := `SELECT count(*) FROM pg_trigger WHERE tgname = 'sync_post_trigger' AND tgrelid = 'tb_post'::regclass`
	funcCount := `SELECT count(*) FROM pg_proc WHERE proname = 'sync_post_to_tv'`
	assert.Zero(t, countRows(t, pool, triggerCount), "trigger dropped")
	assert.Zero(t, countRows(t, pool, funcCount), "function dropped")
	assert.Equal(t, 1, countRows(t, pool, `SELECT count(*) FROM pg_trigger WHERE tgname = 'touch_post_updated_at'`), "unrelated trigger kept")
	assert.False(t, insertPost(t, pool, author, "after up"), "tb_post writes no longer reach tv_post")
	embedded := countRows(t, pool, `SELECT count(*) FROM goose_db_version WHERE version_id > 0`)
	assert.Equal(t, 1, countRows(t, pool, `SELECT count(*) FROM `+triggers.VersionTable+` WHERE version_id = 20260102150405`))

	found, err = triggers.Find(ctx, pool)
	require.NoError(t, err)
	assert.Empty(t, found)

	_, err = p.Down(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, countRows(t, pool, triggerCount), "trigger recreated")
	assert.Equal(t, 1, countRows(t, pool, funcCount), "function recreated")
	assert.True(t, insertPost(t, pool, author, "after down"), "the recreated trigger fires again")
	assert.Equal(t, embedded, countRows(t, pool, `SELECT count(*) FROM goose_db_version WHERE version_id > 0`),
		"the embedded migrations' version table is untouched")

	again, err := triggers.Find(ctx, pool)
	require.NoError(t, err)
	require.Len(t, again, 1)
	assert.Equal(t, "CREATE TRIGGER sync_post_trigger AFTER INSERT OR UPDATE ON public.tb_post FOR EACH ROW EXECUTE FUNCTION sync_post_to_tv()", again[0].TriggerDef)
}

func TestMigration_KeepsAFunctionAnotherTriggerStillUses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, author := setup(t) // audit_sync on audit_post also runs sync_post_to_tv()
	_, err := pool.Exec(ctx, `ALTER TABLE tb_post DISABLE TRIGGER sync_post_trigger`)
	require.NoError(t, err)
	found, err := triggers.Find(ctx, pool)
	require.NoError(t, err)
	require.Len(t, found, 1)
	assert.Equal(t, "D", found[0].Enabled)

	dir := t.TempDir()
	path, err := triggers.EmitMigration(dir, found, time.Now())
	require.NoError(t, err)
	body, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.NotContains(t, string(body), "DROP FUNCTION")
	assert.Contains(t, string(body), "-- Function kept: public.sync_post_to_tv() (still used by public.audit_post.audit_sync).")

	db := stdlib.OpenDBFromPool(pool)
	t.Cleanup(func() { _ = db.Close() })
	p, err := triggers.NewProvider(db, dir, nil)
	require.NoError(t, err)
	_, err = p.Up(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, countRows(t, pool, `SELECT count(*) FROM pg_proc WHERE proname = 'sync_post_to_tv'`))
	_, err = p.Down(ctx)
	require.NoError(t, err)
	assert.Equal(t, "D", textRow(t, pool, `SELECT tgenabled::text FROM pg_trigger WHERE tgname = 'sync_post_trigger'`),
		"Down restores the trigger disabled, as it was")
	assert.False(t, insertPost(t, pool, author, "disabled"))
}

func textRow(t *testing.T, pool *pgxpool.Pool, query string) string {
	t.Helper()
	var s string
	require.NoError(t, pool.QueryRow(context.Background(), query).Scan(&s))
	return s
}

func TestEmitMigration_RefusesEmptyListsAndOverwrites(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, err := triggers.EmitMigration(dir, nil, time.Now())
	require.ErrorIs(t, err, triggers.ErrNothingToDrop)
	assert.Contains(t, err.Error(), "nothing to drop")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries, "no file written")

	tr := triggers.Trigger{
		Name: "sync_post_trigger", Schema: "public", Table: "tb_post", Function: "public.sync_post_to_tv()",
		Timing: "AFTER", Events: "INSERT", Level: "ROW", WritesTables: []string{"tv_post"},
		TriggerDef:  "CREATE TRIGGER sync_post_trigger AFTER INSERT ON public.tb_post FOR EACH ROW EXECUTE FUNCTION sync_post_to_tv()",
		FunctionDef: "CREATE OR REPLACE FUNCTION public.sync_post_to_tv()\n RETURNS trigger\n LANGUAGE plpgsql\nAS $function$BEGIN RETURN NEW; END$function$\n",
	}
	now := time.Date(2026, 1, 2, 15, 4, 5, 0, time.FixedZone("CET", 3600))
	path, err := triggers.EmitMigration(dir, []triggers.Trigger{tr}, now)
	require.NoError(t, err)
	assert.Equal(t, "20260102140405_drop_tv_sync_triggers.sql", filepath.Base(path), "version is UTC")
	want := `-- Drops the triggers that kept tv_ tables in step with tb_ tables, now that
-- the application syncs explicitly (written by tvsync triggers --emit-migration).
-- Down recreates the functions and triggers exactly as they were.

-- +goose Up
-- sync_post_trigger AFTER INSERT ON tb_post writes tv_post
DROP TRIGGER IF EXISTS "sync_post_trigger" ON "public"."tb_post";
DROP FUNCTION IF EXISTS public.sync_post_to_tv();

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION public.sync_post_to_tv()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$BEGIN RETURN NEW; END$function$;
-- +goose StatementEnd
CREATE TRIGGER sync_post_trigger AFTER INSERT ON public.tb_post FOR EACH ROW EXECUTE FUNCTION sync_post_to_tv();
`
	body, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, want, string(body))

	require.NoError(t, os.WriteFile(path, []byte("mine"), 0o644))
	_, err = triggers.EmitMigration(dir, []triggers.Trigger{tr}, now)
	require.ErrorIs(t, err, fs.ErrExist)
	body, err = os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "mine", string(body), "existing file untouched")

	_, err = triggers.EmitMigration(dir, []triggers.Trigger{{Name: "x", Table: "tb_x"}}, now.Add(time.Second))
	assert.ErrorContains(t, err, "lacks its definitions")
}

func TestWrittenTVTables(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, src string
		want      []string
	}{
		{"insert", "INSERT INTO tv_post (id) VALUES (NEW.id);", []string{"tv_post"}},
		{"lower case and newlines", "insert\n  into\ttv_user select 1", []string{"tv_user"}},
		{"update only", "UPDATE ONLY tv_comment SET data = '{}'", []string{"tv_comment"}},
		{"delete", "DELETE FROM tv_post WHERE id = OLD.id", []string{"tv_post"}},
		{"merge", "MERGE INTO tv_post t USING x ON true WHEN MATCHED THEN DELETE", []string{"tv_post"}},
		{"schema-qualified", "insert into public.tv_post select 1", []string{"public.tv_post"}},
		{"quoted", `UPDATE "app"."tv_Post" SET x = 1; UPDATE "TV_post" SET x = 1`, []string{"app.tv_Post"}},
		{"upper case folds", "INSERT INTO TV_POST VALUES (1)", []string{"tv_post"}},
		{"several, deduplicated and sorted", "UPDATE tv_user SET a=1; INSERT INTO tv_post VALUES (1); UPDATE tv_user SET a=2;", []string{"tv_post", "tv_user"}},
		{"dynamic SQL", "EXECUTE format('DELETE FROM tv_post WHERE id = %L', OLD.id);", []string{"tv_post"}},
		{"only reads", "SELECT data FROM tv_post; INSERT INTO tb_log SELECT * FROM tv_post;", nil},
		{"upsert clause is not a target", "INSERT INTO tb_x VALUES (1) ON CONFLICT (id) DO UPDATE SET tv_flag = true", nil},
		{"comments ignored", "-- INSERT INTO tv_post\n/* DELETE FROM tv_user\n */ RETURN NEW;", nil},
		{"prefix must be tv_", "INSERT INTO tvx_post VALUES (1); INSERT INTO my_tv_post VALUES (1)", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, triggers.WrittenTVTables(tc.src))
		})
	}
}

func TestGooseCommand_QuotesTheFolder(t *testing.T) {
	t.Parallel()
	assert.Equal(t, `goose -dir db/legacy -table tvsync_trigger_migrations postgres "$DATABASE_URL" up`, triggers.GooseCommand("db/legacy"))
	assert.Equal(t, `goose -dir 'my dir'\''s' -table tvsync_trigger_migrations postgres "$DATABASE_URL" up`, triggers.GooseCommand("my dir's"))
}
