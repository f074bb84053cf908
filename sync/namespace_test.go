package sync_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/blog"
	"github.com/tvsync/tvsync/internal/expect"
	"github.com/tvsync/tvsync/internal/testdb"
	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/syncmigrate"
)

// queueRow is a tvsync.sync_queue row as the database holds it.
type queueRow struct {
	Seq        int64
	Namespace  string
	Entity     string
	EntityID   string
	Attempts   int
	Dead       bool
	LastError  string
	Available  string
	Scheduled  bool
	CascadeSet bool
}

// rowsOfIDs reads the tvsync.sync_queue rows of the given ids (whatever
// their namespace), by seq.
func rowsOfIDs(t *testing.T, pool *pgxpool.Pool, ids ...uuid.UUID) []queueRow {
	t.Helper()
	texts := make([]string, len(ids))
	for i, id := range ids {
		texts[i] = id.String()
	}
	return queueRowsWhere(t, pool, "entity_id = ANY($1)", texts)
}

// queueRowsWhere reads the tvsync.sync_queue rows that satisfy cond, by seq.
func queueRowsWhere(t *testing.T, pool *pgxpool.Pool, cond string, args ...any) []queueRow {
	t.Helper()
	rows, err := pool.Query(context.Background(), `
		SELECT seq, namespace, entity, entity_id, attempts, dead, last_error, available_at::text, scheduled, cascade
		FROM tvsync.sync_queue WHERE `+cond+` ORDER BY seq`, args...)
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (queueRow, error) {
		var q queueRow
		err := r.Scan(&q.Seq, &q.Namespace, &q.Entity, &q.EntityID, &q.Attempts, &q.Dead, &q.LastError, &q.Available, &q.Scheduled, &q.CascadeSet)
		return q, err
	})
	require.NoError(t, err)
	return out
}

// TestNamespace_AppsInOneDatabaseNeverTakeEachOthersRows: two applications
// share one database (here the blog's tables, with engines of namespaces
// app_a and app_b). B queues five users and parks a sixth as dead; A's
// worker drains: it claims, syncs, fails and deletes only A's rows, every
// one of B's rows is exactly as it was, and B's users have no document.
// A's QueueStats, DeadItems and RetryDead see only A's rows, and its
// sync_log rows carry its namespace. B's worker then syncs all of B's.
// Before namespaces, A's worker took B's rows (the issue: with the same
// entity names it synced them against its own tables and deleted them).
func TestNamespace_AppsInOneDatabaseNeverTakeEachOthersRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	engA := blog.MustNewEngine(pool, tvsync.Config{Namespace: "app_a"})
	engB := blog.MustNewEngine(pool, tvsync.Config{Namespace: "app_b"})
	usersA := queueUsers(t, pool, engA, "a1", "a2")
	usersB := queueUsers(t, pool, engB, "b1", "b2", "b3", "b4", "b5")
	parked := queueUsers(t, pool, engB, "b_dead")
	_, err := pool.Exec(ctx, "UPDATE tvsync.sync_queue SET dead = true, attempts = 25, last_error = 'boom' WHERE entity_id = $1", parked[0].String())
	require.NoError(t, err)
	idsB := append(slices.Clone(usersB), parked...)
	beforeB := rowsOfIDs(t, pool, idsB...)
	require.Len(t, beforeB, 6)

	stA, err := engA.QueueStats(ctx)
	require.NoError(t, err)
	assert.Equal(t, tvsync.QueueStats{Pending: 2}, tvsync.QueueStats{Pending: stA.Pending, Dead: stA.Dead, Unregistered: stA.Unregistered}, "A counts only its own rows")
	deadA, err := engA.DeadItems(ctx, 10)
	require.NoError(t, err)
	assert.Empty(t, deadA, "B's parked row is not A's")
	n, err := engA.RetryDead(ctx)
	require.NoError(t, err)
	assert.Zero(t, n, "A revives none of B's parked rows")

	res, err := must(tvsync.NewWorker(engA, pool, tvsync.WorkerConfig{})).Drain(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, res.Claimed, "A's worker claims A's two rows only")
	assert.Equal(t, 2, res.Synced)
	assert.Empty(t, rowsOfIDs(t, pool, usersA...))
	assert.Equal(t, beforeB, rowsOfIDs(t, pool, idsB...), "B's rows are untouched: not claimed, acked, failed nor deleted")
	assert.Equal(t, 2, countRows(t, pool, "SELECT count(*) FROM tv_user"), "only A's users have a document")
	for _, id := range usersA {
		assert.Equal(t, 1, countRows(t, pool, "SELECT count(*) FROM tv_user WHERE id = '"+id.String()+"'"))
	}
	assert.Positive(t, countRows(t, pool, "SELECT count(*) FROM tvsync.sync_log WHERE namespace = 'app_a'"), "A's batches are logged in its namespace")
	assert.Zero(t, countRows(t, pool, "SELECT count(*) FROM tvsync.sync_log WHERE namespace <> 'app_a'"))

	stB, err := engB.QueueStats(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(5), stB.Pending)
	assert.Equal(t, int64(1), stB.Dead)
	deadB, err := engB.DeadItems(ctx, 10)
	require.NoError(t, err)
	require.Len(t, deadB, 1)
	assert.Equal(t, parked[0].String(), deadB[0].ID)

	res, err = must(tvsync.NewWorker(engB, pool, tvsync.WorkerConfig{})).Drain(ctx)
	require.NoError(t, err)
	assert.Equal(t, 5, res.Synced, "B's worker syncs B's five ready rows; its parked row waits for a retry")
	for _, id := range usersB {
		assert.Equal(t, 1, countRows(t, pool, "SELECT count(*) FROM tv_user WHERE id = '"+id.String()+"'"))
	}
	n, err = engB.RetryDead(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(1), n, "B revives its own parked row")
	_, err = must(tvsync.NewWorker(engB, pool, tvsync.WorkerConfig{})).Drain(ctx)
	require.NoError(t, err)
	assert.Zero(t, countRows(t, pool, "SELECT count(*) FROM tvsync.sync_queue"))
	assert.Positive(t, countRows(t, pool, "SELECT count(*) FROM tvsync.sync_log WHERE namespace = 'app_b'"))
	diff, err := expect.Check(ctx, pool)
	require.NoError(t, err)
	assert.Empty(t, diff)
}

// TestNamespace_SyncOfAnIdLeavesAnotherAppsRowOfIt: a unit of work's sync of
// an id acknowledges the rows it queued; another application's row of the
// same (entity, id), queued in its own namespace, stays for its worker.
func TestNamespace_SyncOfAnIdLeavesAnotherAppsRowOfIt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	engA := blog.MustNewEngine(pool, tvsync.Config{Namespace: "app_a"})
	engB := blog.MustNewEngine(pool, tvsync.Config{Namespace: "app_b"})
	ids := queueUsers(t, pool, engB, "shared")
	beforeB := rowsOfIDs(t, pool, ids...)
	require.Len(t, beforeB, 1)
	q, err := engA.Enqueue(ctx, pool, 0, false, tvsync.Change{Entity: blog.EntityUser, IDs: tvsync.UUIDKeys(ids)})
	require.NoError(t, err)
	require.Len(t, rowsOfIDs(t, pool, ids...), 2)

	_, err = engA.SyncQueued(ctx, tvsync.ModeIncremental, q)
	require.NoError(t, err)
	assert.Equal(t, beforeB, rowsOfIDs(t, pool, ids...), "A's sync acknowledged A's row and left B's row of the same id")
}

// TestNamespace_ConfigIsValidated: a namespace that is not a short plain
// identifier is refused by NewEngine, with an error naming the field and
// the value.
func TestNamespace_ConfigIsValidated(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	for _, bad := range []string{"App", "1app", "app-b", "a b", "x'; DROP TABLE tb_user; --", "abcdefghijklmnopqrstuvwxyz0123456"} {
		_, err := tvsync.NewEngine(pool, tvsync.Config{Namespace: bad}, blog.Entities()...)
		require.Error(t, err, bad)
		assert.True(t, errors.Is(err, tvsync.ErrInvalidNamespace), bad)
		assert.ErrorContains(t, err, "Config.Namespace")
		assert.ErrorContains(t, err, bad)
	}
	for _, good := range []string{"", "a", "app_b", "tenant_42", "abcdefghijklmnopqrstuvwxyz012345"} {
		_, err := tvsync.NewEngine(pool, tvsync.Config{Namespace: good}, blog.Entities()...)
		assert.NoError(t, err, good)
	}
}

// TestNamespace_LockKeysAndChannelsDiffer: engines of two namespaces take
// different advisory locks for the same (entity, id), and different
// rebuild locks, unless a prefix is set explicitly; the default namespace
// keeps the default prefix and channel.
func TestNamespace_LockKeysAndChannelsDiffer(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	def := blog.MustNewEngine(pool, tvsync.Config{})
	engA := blog.MustNewEngine(pool, tvsync.Config{Namespace: "app_a"})
	engB := blog.MustNewEngine(pool, tvsync.Config{Namespace: "app_b"})
	ids := tvsync.UUIDKeys([]uuid.UUID{uuid.New(), uuid.New()})
	keys := func(e *tvsync.Engine) []int64 { return tvsync.LockKeysForTest(e, blog.EntityUser, ids) }

	for _, k := range keys(def) {
		assert.Equal(t, int64(tvsync.DefaultAdvisoryLockPrefix), k>>32, "the default namespace keeps the default prefix")
	}
	seen := map[int64]string{}
	for name, e := range map[string]*tvsync.Engine{"default": def, "app_a": engA, "app_b": engB} {
		for _, k := range append(keys(e), tvsync.RebuildKeyForTest(e, blog.EntityUser)) {
			other, dup := seen[k]
			assert.False(t, dup, "%s shares the lock key %x with %s", name, k, other)
			seen[k] = name
		}
	}
	assert.NotEqual(t, tvsync.NamespaceLockPrefix("app_a"), tvsync.NamespaceLockPrefix("app_b"))
	pinned := blog.MustNewEngine(pool, tvsync.Config{Namespace: "app_a", AdvisoryLockPrefix: 42})
	for _, k := range keys(pinned) {
		assert.Equal(t, int64(42), k>>32, "an explicit prefix wins")
	}

	assert.Equal(t, tvsync.QueueChannel, def.QueueChannel())
	assert.Equal(t, tvsync.QueueChannel+"_app_a", engA.QueueChannel())
	assert.NotEqual(t, engA.QueueChannel(), engB.QueueChannel())
}

// TestNamespace_RoleGrantedOneNamespaceCannotTouchAnother: a least
// privileged role granted namespace app_a only (syncmigrate.GrantApp, plus
// the blog's table grants) syncs app_a's rows as usual; app_b's rows are
// invisible to it: reading, updating and deleting them affects nothing, and
// inserting a row into app_b, by hand or through an engine of app_b, fails
// (row-level security). The rows of app_b are exactly as they were.
func TestNamespace_RoleGrantedOneNamespaceCannotTouchAnother(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	owner := testdb.New(t)
	role, roleURL := createLoginRole(t, owner, "tvsync_ns")
	su := superuserPool(t, owner)
	require.NoError(t, syncmigrate.GrantApp(ctx, su, role, "app_a"))
	_, err := su.Exec(ctx, "GRANT USAGE ON SCHEMA public TO "+pgx.Identifier{role}.Sanitize()+";"+
		readmeBlogGrants(t, role))
	require.NoError(t, err)

	ownerB := blog.MustNewEngine(owner, tvsync.Config{Namespace: "app_b"})
	usersB := queueUsers(t, owner, ownerB, "b1", "b2", "b3")
	beforeB := rowsOfIDs(t, owner, usersB...)
	require.Len(t, beforeB, 3)

	app := rolePool(t, roleURL)
	engA := blog.MustNewEngine(app, tvsync.Config{Namespace: "app_a"})
	usersA := queueUsers(t, app, engA, "a1", "a2")
	var seen int
	require.NoError(t, app.QueryRow(ctx, "SELECT count(*) FROM tvsync.sync_queue").Scan(&seen))
	assert.Equal(t, 2, seen, "the role sees its namespace's rows only")
	for _, stmt := range []string{
		"UPDATE tvsync.sync_queue SET dead = true WHERE namespace = 'app_b'",
		"UPDATE tvsync.sync_queue SET namespace = 'app_a' WHERE namespace = 'app_b'",
		"DELETE FROM tvsync.sync_queue WHERE namespace = 'app_b'",
		"DELETE FROM tvsync.sync_queue WHERE entity_id IN (SELECT entity_id FROM tvsync.sync_queue)" +
			" AND namespace <> 'app_a'",
	} {
		tag, err := app.Exec(ctx, stmt)
		require.NoError(t, err, stmt)
		assert.Zero(t, tag.RowsAffected(), stmt)
	}
	_, err = app.Exec(ctx, "UPDATE tvsync.sync_queue SET namespace = 'app_b' WHERE namespace = 'app_a'")
	assert.ErrorContains(t, err, "row-level security", "moving its own rows into another namespace")
	_, err = app.Exec(ctx, "INSERT INTO tvsync.sync_queue (namespace, entity, entity_id) VALUES ('app_b', 'user', $1)", uuid.NewString())
	assert.ErrorContains(t, err, "row-level security", "inserting into another namespace")
	_, err = app.Exec(ctx, "INSERT INTO tvsync.sync_log (namespace, entity, mode, requested, upserted, unchanged, deleted, failed, duration_us, started_at) VALUES ('app_b', 'user', 'full', 0, 0, 0, 0, 0, 0, now())")
	assert.ErrorContains(t, err, "row-level security", "logging into another namespace")
	engB := blog.MustNewEngine(app, tvsync.Config{Namespace: "app_b"})
	_, err = engB.Enqueue(ctx, app, 0, false, tvsync.Change{Entity: blog.EntityUser, IDs: tvsync.UUIDKeys(usersA)})
	assert.ErrorContains(t, err, "row-level security", "an engine of a namespace the role was not granted")
	n, err := engB.RetryDead(ctx)
	require.NoError(t, err)
	assert.Zero(t, n)

	res, err := must(tvsync.NewWorker(engA, app, tvsync.WorkerConfig{})).Drain(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, res.Synced, "the role's own namespace works as usual")
	assert.Empty(t, rowsOfIDs(t, owner, usersA...))
	assert.Equal(t, beforeB, rowsOfIDs(t, owner, usersB...), "app_b's rows are untouched")
}

// readmeBlogGrants returns the README's grants on the blog's tables (its
// grants:blog block), for role.
func readmeBlogGrants(t *testing.T, role string) string {
	t.Helper()
	raw, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	_, rest, ok := strings.Cut(string(raw), "<!-- grants:blog:begin -->")
	require.True(t, ok, "README.md has a grants:blog block")
	return strings.ReplaceAll(sqlBlock(t, rest), " app;", " "+pgx.Identifier{role}.Sanitize()+";")
}
