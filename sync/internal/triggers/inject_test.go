package triggers_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/sync/internal/triggers"
)

// hostileFunction returns a trigger-based sync function of tv_post whose
// body holds extra, never-run lines.
func hostileFunction(extra string) string {
	return "CREATE FUNCTION evil_sync() RETURNS trigger LANGUAGE plpgsql AS $body$\n" +
		"BEGIN\n" +
		"    IF NEW.title = 'never' THEN\n" + extra + "    END IF;\n" +
		"    INSERT INTO tv_post (id, data, updated_at)\n" +
		"    SELECT s.id, s.data, now() FROM tv_post_source s WHERE s.id = NEW.id\n" +
		"    ON CONFLICT (id) DO UPDATE SET data = EXCLUDED.data, updated_at = now();\n" +
		"    RETURN NEW;\n" +
		"END\n" +
		"$body$;\n"
}

const plainTrigger = "CREATE TRIGGER evil_trigger AFTER INSERT OR UPDATE ON tb_post FOR EACH ROW EXECUTE FUNCTION evil_sync();\n"

// TestMigration_CatalogTextCannotInjectSQL plants triggers whose catalog
// text attacks the generated migration, emits it and applies it as `tvsync
// triggers --apply` does: no planted statement runs, Up drops the trigger
// and its function, and Down recreates both byte for byte, firing again.
func TestMigration_CatalogTextCannotInjectSQL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, sql string
	}{
		// Find reports the quoted identifier as a written tv_ table, which
		// the Up section printed on a "--" comment line: the statement after
		// its newline ran on --apply.
		{"identifier holding a statement in the function body", hostileFunction(
			"        INSERT INTO \"tv_x\nCREATE TABLE pwned (x int);\n\" VALUES (1);\n") + plainTrigger},
		// goose reads these lines as its own annotations: they ended the
		// Down statement early and switched on ${VAR} substitution; goose
		// also drops the carriage return before a newline.
		{"goose annotations and a carriage return in the function body", hostileFunction(
			"-- +goose StatementEnd\n-- +goose ENVSUB ON\n        PERFORM '${HOME}';\r\n-- +goose StatementBegin\n"+
				"-- +goose NO TRANSACTION\n        PERFORM 'CREATE TABLE pwned ();';\n") + plainTrigger},
		{"newline and goose annotation in the trigger name", hostileFunction("        NULL;\n") +
			"CREATE TRIGGER \"evil\n-- +goose Down\nCREATE TABLE pwned ();\" AFTER INSERT OR UPDATE ON tb_post\n" +
			"FOR EACH ROW EXECUTE FUNCTION evil_sync();\n"},
		{"newline and statement in the table name", hostileFunction("        NULL;\n") +
			"CREATE TABLE \"tb_x\nCREATE TABLE pwned ();\n\" (id int);\n" +
			"CREATE TRIGGER evil_trigger AFTER INSERT ON \"tb_x\nCREATE TABLE pwned ();\n\" FOR EACH ROW EXECUTE FUNCTION evil_sync();\n" +
			plainTrigger},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			pool, author := setup(t)
			_, err := pool.Exec(ctx, `DROP TRIGGER sync_post_trigger ON tb_post; DROP TRIGGER audit_sync ON audit_post; DROP FUNCTION sync_post_to_tv()`)
			require.NoError(t, err)
			_, err = pool.Exec(ctx, tc.sql)
			require.NoError(t, err)
			require.True(t, insertPost(t, pool, author, "before"), "the hostile trigger syncs tv_post")

			before, err := triggers.Find(ctx, pool)
			require.NoError(t, err)
			require.NotEmpty(t, before)
			dir := t.TempDir()
			path, err := triggers.EmitMigration(dir, before, time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC))
			require.NoError(t, err)
			body, err := os.ReadFile(path)
			require.NoError(t, err)
			t.Logf("migration:\n%s", body)

			db := stdlib.OpenDBFromPool(pool)
			t.Cleanup(func() { _ = db.Close() })
			p, err := triggers.NewProvider(db, dir, nil)
			require.NoError(t, err)
			planted := `SELECT count(*) FROM pg_class WHERE relname = 'pwned'`
			triggerCount := `SELECT count(*) FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid WHERE p.proname = 'evil_sync'`

			_, upErr := p.Up(ctx)
			assert.Zero(t, countRows(t, pool, planted), "no statement planted in the catalog ran on apply")
			require.NoError(t, upErr)
			assert.Zero(t, countRows(t, pool, `SELECT count(*) FROM pg_proc WHERE proname = 'evil_sync'`), "function dropped")
			assert.False(t, insertPost(t, pool, author, "after up"), "trigger dropped")

			_, err = p.Down(ctx)
			assert.Zero(t, countRows(t, pool, planted), "no statement planted in the catalog ran on rollback")
			require.NoError(t, err)
			assert.Equal(t, len(before), countRows(t, pool, triggerCount), "triggers recreated")
			assert.True(t, insertPost(t, pool, author, "after down"), "the recreated trigger fires again")

			again, err := triggers.Find(ctx, pool)
			require.NoError(t, err)
			require.Len(t, again, len(before))
			for i := range before {
				assert.Equal(t, before[i].Name, again[i].Name)
				assert.Equal(t, before[i].TriggerDef, again[i].TriggerDef)
				assert.Equal(t, before[i].FunctionDef, again[i].FunctionDef, "the function comes back byte for byte")
			}
		})
	}
}
