package repository_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/blog"
	"github.com/tvsync/tvsync/internal/expect"
	"github.com/tvsync/tvsync/internal/migrate"
	"github.com/tvsync/tvsync/internal/testdb"
	"github.com/tvsync/tvsync/repository"
	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/syncmigrate"
	"github.com/tvsync/tvsync/sync/syncuow"
)

// applicationTables are an application's own tables under the names tvsync
// once took in public: FraiseQL's CQRS blog's sync_log, and an outbox of
// another shape called sync_queue, each with rows.
const applicationTables = `
CREATE TABLE sync_log (
    id            bigserial PRIMARY KEY,
    entity_type   text        NOT NULL,
    entity_id     uuid,
    operation     text        NOT NULL,
    duration_ms   integer,
    success       boolean     NOT NULL,
    error_message text
);
CREATE TABLE sync_queue (
    id         bigserial   PRIMARY KEY,
    aggregate  text        NOT NULL,
    payload    jsonb       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT '2025-01-01 00:00:00+00'
);
INSERT INTO sync_log (entity_type, entity_id, operation, duration_ms, success, error_message)
VALUES ('post', 'a0000000-0000-0000-0000-000000000001', 'update', 12, true, NULL),
       ('user', NULL, 'delete', 3, false, 'gone');
INSERT INTO sync_queue (aggregate, payload) VALUES ('mail', '{"to": "ada"}'), ('search', '{"reindex": true}');`

// applicationState is the columns and rows of the application's public
// sync_log and sync_queue.
func applicationState(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `
		SELECT format('%s: %s', c.relname, string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum))
		FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
		WHERE c.oid IN ('public.sync_log'::regclass, 'public.sync_queue'::regclass)
		GROUP BY c.relname
		UNION ALL SELECT 'sync_log ' || to_jsonb(l)::text FROM public.sync_log l
		UNION ALL SELECT 'sync_queue ' || to_jsonb(q)::text FROM public.sync_queue q
		ORDER BY 1`)
	require.NoError(t, err)
	state, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return state
}

// exercise runs the blog's sync end to end on pool: a unit of work in every
// sync mode (creates, a comment, a like, a cascading rename, then a
// cascading delete), a Worker draining the deferred ones, a full sync of a
// truncated tv_post and of the rest, and a verify with repair of planted
// drift. Every document then matches an
// independent recomputation, the queue is empty and tvsync.sync_log holds
// the batches. owner is a pool allowed to plant the drift.
func exercise(t *testing.T, pool, owner *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	engine := blog.MustNewEngine(pool, tvsync.Config{})
	var posts []uuid.UUID
	for _, mode := range []syncuow.Timing{syncuow.AfterCommit, syncuow.Inline, syncuow.Deferred} {
		repo := repository.New(pool, engine, repository.Options{Sync: mode})
		var userID, postID uuid.UUID
		require.NoError(t, repo.InTx(ctx, func(uow *repository.UnitOfWork) error {
			var err error
			if userID, err = uow.CreateUser(ctx, "ada_"+mode.String(), "Ada"); err != nil {
				return err
			}
			if postID, err = uow.CreatePost(ctx, userID, "Notes "+mode.String(), "…", true); err != nil {
				return err
			}
			if _, err = uow.AddComment(ctx, postID, userID, "first"); err != nil {
				return err
			}
			return uow.LikePost(ctx, postID, userID)
		}), mode)
		require.NoError(t, repo.InTx(ctx, func(uow *repository.UnitOfWork) error {
			return uow.RenameUser(ctx, userID, "countess_"+mode.String(), "Ada Lovelace")
		}), mode)
		posts = append(posts, postID)
		if mode == syncuow.Deferred {
			n, err := must(tvsync.NewWorker(engine, pool, tvsync.WorkerConfig{})).Drain(ctx)
			require.NoError(t, err)
			assert.Positive(t, n.Synced, "the worker synced the deferred changes")
		}
		raw, err := repo.GetPost(ctx, postID)
		require.NoError(t, err, mode)
		assert.Contains(t, string(raw), `"username": "countess_`+mode.String()+`"`, "%s: the rename reached the post", mode)
	}
	repo := repository.New(pool, engine, repository.Options{})
	require.NoError(t, repo.InTx(ctx, func(uow *repository.UnitOfWork) error { return uow.DeletePost(ctx, posts[0]) }))

	diff, err := expect.Check(ctx, owner)
	require.NoError(t, err)
	assert.Empty(t, diff, "after the units of work, tv_ matches an independent recomputation")
	_, err = owner.Exec(ctx, "TRUNCATE tv_post")
	require.NoError(t, err)
	for _, entity := range engine.Entities() {
		_, err := engine.FullSync(ctx, entity, tvsync.FullOptions{})
		require.NoError(t, err, entity)
	}
	diff, err = expect.Check(ctx, owner)
	require.NoError(t, err)
	assert.Empty(t, diff, "after the full syncs, tv_ matches an independent recomputation")
	_, err = owner.Exec(ctx, `DELETE FROM tv_post WHERE id = $1`, posts[1])
	require.NoError(t, err)
	_, err = owner.Exec(ctx, `UPDATE tv_user SET data = '{}'`)
	require.NoError(t, err)
	for _, entity := range engine.Entities() {
		res, err := engine.Verify(ctx, entity, tvsync.VerifyOptions{Repair: true})
		require.NoError(t, err, entity)
		assert.Positive(t, res.Checked, entity)
		if entity == "user" || entity == "post" {
			assert.Positive(t, res.Missing+res.Stale, "%s: verify found the planted drift", entity)
		}
	}
	for _, entity := range engine.Entities() {
		res, err := engine.Verify(ctx, entity, tvsync.VerifyOptions{})
		require.NoError(t, err, entity)
		assert.Zero(t, res.Missing+res.Stale+res.Orphaned, "%s: repaired", entity)
	}

	diff, err = expect.Check(ctx, owner)
	require.NoError(t, err)
	assert.Empty(t, diff, "after verify --repair, tv_ matches an independent recomputation")
	var queued, logged int
	require.NoError(t, owner.QueryRow(ctx, "SELECT (SELECT count(*) FROM tvsync.sync_queue), (SELECT count(*) FROM tvsync.sync_log)").Scan(&queued, &logged))
	assert.Zero(t, queued, "tvsync's queue is drained")
	assert.Greater(t, logged, 10, "tvsync's log holds the batches")
}

// TestNamespace_NextToApplicationTablesOfTheSameNames is issue 14's done-when
// test: tvsync's migrations and the blog's apply to a database that already
// has application tables named sync_log and sync_queue of other shapes; the
// blog's sync runs end to end in every mode, with a worker and verify; the
// application's tables keep their columns and rows.
func TestNamespace_NextToApplicationTablesOfTheSameNames(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.Empty(t)
	_, err := pool.Exec(ctx, applicationTables)
	require.NoError(t, err)
	before := applicationState(t, pool)
	require.Len(t, before, 6)

	_, err = migrate.Up(ctx, pool, nil)
	require.NoError(t, err)
	exercise(t, pool, pool)

	assert.Equal(t, before, applicationState(t, pool), "the application's sync_log and sync_queue are untouched")
}

// newRole creates a login role for the test (dropped at its end, with its
// privileges in this database) and returns its name and a pool connected as
// it with searchPath, if not empty, as its search_path.
func newRole(t *testing.T, owner *pgxpool.Pool, searchPath string) (string, *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	var b [6]byte
	_, _ = rand.Read(b[:])
	role := "tvsync_app_" + hex.EncodeToString(b[:])
	var db string
	require.NoError(t, owner.QueryRow(ctx, "SELECT current_database()").Scan(&db))
	admin, err := pgx.Connect(ctx, testdb.ServerURL(db)) // a superuser, to create and drop roles
	require.NoError(t, err)
	_, err = admin.Exec(ctx, "CREATE ROLE "+role+" LOGIN")
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx := context.Background()
		_, _ = admin.Exec(ctx, "DROP OWNED BY "+role)
		_, _ = admin.Exec(ctx, "DROP ROLE "+role)
		_ = admin.Close(ctx)
	})
	u, err := url.Parse(owner.Config().ConnString())
	require.NoError(t, err)
	u.User = url.User(role)
	cfg, err := pgxpool.ParseConfig(u.String())
	require.NoError(t, err)
	if searchPath != "" {
		cfg.ConnConfig.RuntimeParams["search_path"] = searchPath
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	var who string
	require.NoError(t, pool.QueryRow(ctx, "SELECT current_user").Scan(&who))
	require.Equal(t, role, who)
	return role, pool
}

// readmeBlock returns the SQL between the README's <!-- name:begin --> and
// <!-- name:end --> markers, without the code fence.
func readmeBlock(t *testing.T, name string) string {
	t.Helper()
	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	m := regexp.MustCompile(`(?s)<!-- ` + name + `:begin -->\n` + "```sql\n(.*?)```\n<!-- " + name + `:end -->`).FindSubmatch(readme)
	require.NotNil(t, m, "README.md has no %s block", name)
	return string(m[1])
}

// grantApp gives role exactly the README's grants: tvsync's (as
// syncmigrate.GrantApp runs them) and the blog's tables'. It also revokes
// EXECUTE on tvsync.ts and on the blog's post document functions from
// PUBLIC, as a database hardened by default privileges would have it, so
// that only the grants make it work.
func grantApp(t *testing.T, owner *pgxpool.Pool, role string) {
	t.Helper()
	ctx := context.Background()
	_, err := owner.Exec(ctx, "REVOKE EXECUTE ON FUNCTION tvsync.ts(timestamptz), public.post_document, public.post_comment_element FROM PUBLIC")
	require.NoError(t, err)
	require.NoError(t, syncmigrate.GrantApp(ctx, owner, role, ""))
	_, err = owner.Exec(ctx, strings.ReplaceAll(readmeBlock(t, "grants:blog"), " TO app;", " TO "+role+";"))
	require.NoError(t, err)
}

// TestGrants_READMEListsWhatGrantAppRuns: the README's tvsync grants are
// syncmigrate.AppGrants, statement for statement.
func TestGrants_READMEListsWhatGrantAppRuns(t *testing.T) {
	t.Parallel()
	var want strings.Builder
	for _, stmt := range syncmigrate.AppGrants("app", "") {
		fmt.Fprintf(&want, "%s;\n", strings.ReplaceAll(stmt, `"app"`, "app"))
	}
	assert.Equal(t, want.String(), readmeBlock(t, "grants:tvsync"))
}

// TestGrants_AppRoleWithExactlyTheDocumentedGrants runs the whole sync as a
// role holding exactly the README's grants, and shows each of tvsync's
// grants is needed: without it, a unit of work fails. The role cannot read
// or prune tvsync.sync_log (operator commands).
func TestGrants_AppRoleWithExactlyTheDocumentedGrants(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	owner := testdb.New(t)
	role, app := newRole(t, owner, "")
	grantApp(t, owner, role)

	exercise(t, app, owner)
	_, err := app.Exec(ctx, "SELECT count(*) FROM tvsync.sync_log")
	assert.ErrorContains(t, err, "permission denied", "stats is an operator's command")

	engine := blog.MustNewEngine(app, tvsync.Config{})
	write := func() error {
		for _, mode := range []syncuow.Timing{syncuow.AfterCommit, syncuow.Inline, syncuow.Deferred} {
			repo := repository.New(app, engine, repository.Options{Sync: mode})
			if err := repo.InTx(ctx, func(uow *repository.UnitOfWork) error {
				_, err := uow.CreateUser(ctx, "probe_"+uuid.NewString()[:8], "")
				return err
			}); err != nil {
				return err
			}
		}
		_, err := must(tvsync.NewWorker(engine, app, tvsync.WorkerConfig{})).Drain(ctx)
		return err
	}
	require.NoError(t, write())
	for _, grant := range syncmigrate.AppGrants(role, "") {
		revoke := strings.Replace(strings.Replace(grant, "GRANT ", "REVOKE ", 1), " TO ", " FROM ", 1)
		denied := "permission denied"
		if strings.HasPrefix(grant, "INSERT INTO tvsync.namespace_role ") {
			// The namespace's row: without it, row-level security refuses
			// the role's queue rows.
			revoke, denied = "DELETE FROM tvsync.namespace_role WHERE role = '"+role+"'", "row-level security"
		}
		_, err := owner.Exec(ctx, revoke)
		require.NoError(t, err, revoke)
		assert.ErrorContains(t, write(), denied, "without %q", grant)
		_, err = owner.Exec(ctx, grant)
		require.NoError(t, err)
	}
	require.NoError(t, write(), "all granted again")
}

// TestNamespace_SearchPathCannotRedirect: the application role (the README's
// grants, plus CREATE on the database) creates a schema and puts it first on
// its search_path, holding a sync_queue and a sync_log of
// tvsync's exact shape and functions ts and tvsync_ts that would mark every
// document, and post_document and post_comment_element of the blog's
// signatures. Nothing tvsync runs reaches them: every statement names
// tvsync's objects schema-qualified, and the blog's post overrides call
// public.post_document and public.post_comment_element.
func TestNamespace_SearchPathCannotRedirect(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	owner := testdb.New(t)
	role, app := newRole(t, owner, "planted, public")
	grantApp(t, owner, role)
	_, err := owner.Exec(ctx, "DO $$ BEGIN EXECUTE format('GRANT CREATE ON DATABASE %I TO "+role+"', current_database()); END $$")
	require.NoError(t, err)
	_, err = app.Exec(ctx, `
		CREATE SCHEMA planted;
		CREATE TABLE planted.sync_queue (
		    entity text NOT NULL, entity_id uuid NOT NULL, cascade boolean NOT NULL DEFAULT false,
		    enqueued_at timestamptz NOT NULL DEFAULT now(), available_at timestamptz NOT NULL DEFAULT now(),
		    attempts integer NOT NULL DEFAULT 0, last_error text NOT NULL DEFAULT '', dead boolean NOT NULL DEFAULT false,
		    PRIMARY KEY (entity, entity_id));
		CREATE TABLE planted.sync_log (
		    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, entity text NOT NULL, mode text NOT NULL,
		    requested integer NOT NULL, upserted integer NOT NULL, unchanged integer NOT NULL, deleted integer NOT NULL,
		    failed integer NOT NULL, duration_us bigint NOT NULL, error text NOT NULL DEFAULT '', started_at timestamptz NOT NULL);
		CREATE FUNCTION planted.ts(timestamptz) RETURNS text LANGUAGE sql RETURN 'PLANTED';
		CREATE FUNCTION planted.tvsync_ts(timestamptz) RETURNS text LANGUAGE sql RETURN 'PLANTED';
		CREATE FUNCTION planted.post_document(uuid, text, text, boolean, timestamptz, uuid, text, text, bigint, bigint, jsonb)
		    RETURNS jsonb LANGUAGE sql STABLE RETURN '{"PLANTED": true}'::jsonb;
		CREATE FUNCTION planted.post_comment_element(uuid, text, timestamptz, uuid, text)
		    RETURNS jsonb LANGUAGE sql STABLE RETURN '{"PLANTED": true}'::jsonb`)
	require.NoError(t, err, "the application role can create these objects")
	var path string
	require.NoError(t, app.QueryRow(ctx, "SELECT current_setting('search_path')").Scan(&path))
	require.Equal(t, "planted, public", path)

	exercise(t, app, owner)

	var queued, logged, planted int
	require.NoError(t, app.QueryRow(ctx, `SELECT (SELECT count(*) FROM planted.sync_queue), (SELECT count(*) FROM planted.sync_log),
		(SELECT count(*) FROM tv_user WHERE data::text LIKE '%PLANTED%') + (SELECT count(*) FROM tv_post WHERE data::text LIKE '%PLANTED%')
		+ (SELECT count(*) FROM tv_comment WHERE data::text LIKE '%PLANTED%')`).Scan(&queued, &logged, &planted))
	assert.Zero(t, queued, "nothing was queued in the planted sync_queue")
	assert.Zero(t, logged, "nothing was logged in the planted sync_log")
	assert.Zero(t, planted, "no document called a planted function")
}
