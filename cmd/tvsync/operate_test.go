package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/blog"
	"github.com/tvsync/tvsync/internal/seed"
	"github.com/tvsync/tvsync/internal/testdb"
	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/syncmigrate"
	"github.com/tvsync/tvsync/sync/syncuow"
)

// emptyDatabase creates a database with no tables on the test server and
// returns its URL; it is dropped when the test ends.
func emptyDatabase(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, testdb.ServerURL("postgres"))
	require.NoError(t, err)
	defer admin.Close(ctx)
	name := "empty_" + strings.ReplaceAll(uuid.NewString()[:13], "-", "")
	_, err = admin.Exec(ctx, "CREATE DATABASE "+name)
	require.NoError(t, err)
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), testdb.ServerURL("postgres"))
		if err == nil {
			_, _ = conn.Exec(context.Background(), "DROP DATABASE "+name+" WITH (FORCE)")
			conn.Close(context.Background())
		}
	})
	return testdb.ServerURL(name)
}

func TestCLI_UnmigratedDatabaseSaysToRunMigrateUp(t *testing.T) {
	t.Parallel()
	url := emptyDatabase(t)
	for _, args := range [][]string{
		{"status"}, {"stats"}, {"worker", "--once"}, {"queue", "retry"}, {"sync-log", "prune", "--older-than", "1h"},
		{"sync", "--entity", "post", "--all"}, {"verify"},
	} {
		code, _, errOut := runCLI(t, append([]string{"--database-url", url}, args...)...)
		assert.Equal(t, 1, code, args)
		assert.Contains(t, errOut, "does not exist", args)
		assert.Contains(t, errOut, "the database is not migrated: run `tvsync migrate up`", args)
	}
	code, out, errOut := runCLI(t, "--database-url", url, "migrate", "up")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "applied blog 00001_schema.sql")
	code, out, errOut = runCLI(t, "--database-url", url, "status")
	assert.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "queue depth:      0")
}

// TestCLI_MigrateRunsTvsyncsOwnSetFirstWithItsVersionTable: migrate up
// applies the kit's own set (schema tvsync, version table
// tvsync.tvsync_migrations) before the blog's (goose_db_version); status
// lists both; down of the kit's set refuses while the queue holds rows, and
// the blog's set rolls back on its own.
func TestCLI_MigrateRunsTvsyncsOwnSetFirstWithItsVersionTable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := emptyDatabase(t)
	code, out, errOut := runCLI(t, "--database-url", url, "migrate", "up")
	require.Equal(t, 0, code, errOut)
	own, err := fs.Glob(syncmigrate.FS, "*.sql")
	require.NoError(t, err)
	var applied strings.Builder
	ownVersions := []int64{0}
	for i, f := range own {
		fmt.Fprintf(&applied, `applied tvsync %s \(\S+\)\n`, regexp.QuoteMeta(f))
		ownVersions = append(ownVersions, int64(i+1))
	}
	assert.Regexp(t, `^`+applied.String()+`applied blog 00001_schema.sql `, out)

	pool, err := pgxpool.New(ctx, url)
	require.NoError(t, err)
	defer pool.Close()
	versions := func(table string) (v []int64) {
		require.NoError(t, pool.QueryRow(ctx, "SELECT array_agg(version_id ORDER BY id) FROM "+table).Scan(&v))
		return v
	}
	assert.Equal(t, ownVersions, versions("tvsync.tvsync_migrations"))
	assert.Equal(t, []int64{0, 1, 2, 3, 4, 5, 6}, versions("public.goose_db_version"))

	code, out, errOut = runCLI(t, "--database-url", url, "migrate", "status")
	require.Equal(t, 0, code, errOut)
	assert.Regexp(t, `(?m)^tvsync\s+applied\s+.*00001_tvsync.sql$`, out)
	assert.Regexp(t, `(?m)^tvsync\s+applied\s+.*00002_sync_queue_text_ids.sql$`, out)
	assert.Regexp(t, `(?m)^blog\s+applied\s+.*00005_move_public_sync_objects.sql$`, out)
	assert.Regexp(t, `(?m)^blog\s+applied\s+.*00006_post_document_functions.sql$`, out)

	_, err = pool.Exec(ctx, "INSERT INTO tvsync.sync_queue (entity, entity_id) VALUES ('post', gen_random_uuid())")
	require.NoError(t, err)
	code, _, errOut = runCLI(t, "--database-url", url, "migrate", "down", "--set", "tvsync")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "tvsync migrate down: migrate down tvsync: syncmigrate: tvsync.sync_queue still holds rows: 1 rows wait")
	assert.Equal(t, ownVersions, versions("tvsync.tvsync_migrations"), "nothing rolled back")

	code, out, errOut = runCLI(t, "--database-url", url, "migrate", "down", "--set", "blog")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "rolled back blog 00006_post_document_functions.sql")
	assert.Equal(t, ownVersions, versions("tvsync.tvsync_migrations"), "the blog's roll-back leaves tvsync's history alone")
}

// logField matches one key=value of a text log line; the value may be quoted.
var logField = regexp.MustCompile(`(\w+)=("(?:[^"\\]|\\.)*"|\S*)`)

// progressLines returns the fields of the progress lines (msg=progress or
// msg=finished) of task in a log.
func progressLines(log, task string) []map[string]string {
	var lines []map[string]string
	for _, line := range strings.Split(log, "\n") {
		f := map[string]string{}
		for _, m := range logField.FindAllStringSubmatch(line, -1) {
			if v, err := strconv.Unquote(m[2]); err == nil {
				m[2] = v
			}
			f[m[1]] = m[2]
		}
		if (f["msg"] == "progress" || f["msg"] == "finished") && f["task"] == task {
			f["line"] = line
			lines = append(lines, f)
		}
	}
	return lines
}

func atoi(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	require.NoError(t, err)
	return n
}

func TestCLI_ProgressLinesCarryTotalRateAndETA(t *testing.T) {
	t.Parallel()
	url, pool := statsDB(t)
	_, err := seed.Load(context.Background(), pool, seed.Options{Users: 100, Posts: 1000, Comments: 20000})
	require.NoError(t, err)

	code, _, errOut := runCLI(t, "--database-url", url, "--progress", "log", "--progress-interval", "10ms",
		"sync", "--entity", "comment", "--all", "--chunk", "100", "--workers", "1")
	require.Equal(t, 0, code, errOut)
	lines := progressLines(errOut, "sync comment")
	require.GreaterOrEqual(t, len(lines), 2, errOut)
	var midway bool
	for _, f := range lines {
		assert.Equal(t, "20000", f["total"], "the real total, counted before the sync: %s", f["line"])
		assert.NotEmpty(t, f["percent"], "a percentage: %s", f["line"])
		assert.NotEmpty(t, f["rate"], "a rate: %s", f["line"])
		assert.NotEmpty(t, f["eta"], "an ETA: %s", f["line"])
		if done := atoi(t, f["done"]); f["msg"] == "progress" && done > 0 && done < 20000 {
			midway = true
			assert.Positive(t, atoi(t, f["rate"]), "a rate: %s", f["line"])
			_, err := time.ParseDuration(f["eta"])
			assert.NoError(t, err, "an ETA as a duration: %s", f["line"])
		}
	}
	assert.True(t, midway, "at least one line midway: %s", errOut)
	last := lines[len(lines)-1]
	assert.Equal(t, []string{"finished", "20000", "20000", "100.0", "0s"}, []string{last["msg"], last["done"], last["total"], last["percent"], last["eta"]})

	// Verify and rebuild report over the real total too.
	code, _, errOut = runCLI(t, "--database-url", url, "--progress", "log", "verify", "--entity", "comment")
	require.Equal(t, 0, code, errOut)
	// The last line is the finished one; a loaded machine may print
	// progress lines before it, each over the same total.
	lastOf := func(what string) map[string]string {
		lines := progressLines(errOut, what)
		require.NotEmpty(t, lines, errOut)
		return lines[len(lines)-1]
	}
	f := lastOf("verify comment")
	assert.Equal(t, []string{"20000", "20000"}, []string{f["done"], f["total"]})
	code, _, errOut = runCLI(t, "--database-url", url, "--progress", "log", "rebuild", "--entity", "user")
	require.Equal(t, 0, code, errOut)
	f = lastOf("rebuild user")
	assert.Equal(t, []string{"100", "100"}, []string{f["done"], f["total"]})
}

func TestCLI_SeedRateCountsFromTheCommandStart(t *testing.T) {
	t.Parallel()
	url, _ := statsDB(t)
	start := time.Now()
	code, _, errOut := runCLI(t, "--database-url", url, "--progress", "log", "--progress-interval", "10ms",
		"seed", "--users", "60000", "--posts", "20000", "--comments", "60000", "--no-sync")
	require.Equal(t, 0, code, errOut)
	lines := progressLines(errOut, "seed")
	require.NotEmpty(t, lines, errOut)
	for _, f := range lines {
		assert.Equal(t, "140000", f["total"], "the total of every table: %s", f["line"])
	}
	assert.Equal(t, "140000", lines[len(lines)-1]["done"])
	// The first line with rows done: its elapsed time (and so its rate)
	// counts from the command's start, not from the first rows.
	for _, f := range lines {
		if f["done"] == "0" {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, f["time"])
		require.NoError(t, err)
		elapsed, err := time.ParseDuration(f["elapsed"])
		require.NoError(t, err)
		assert.GreaterOrEqual(t, elapsed, at.Sub(start)/2, "elapsed since the command started: %s", f["line"])
		break
	}
}

func TestCLI_FullSyncLogsNoSlowWarningButASlowIncrementalSyncDoes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url, pool := statsDB(t)
	seedSmall(t, pool)
	code, _, errOut := runCLI(t, "--database-url", url, "sync", "--entity", "post", "--all")
	require.Equal(t, 0, code, errOut)
	var id uuid.UUID
	require.NoError(t, pool.QueryRow(ctx, "SELECT id FROM tv_post ORDER BY id LIMIT 1").Scan(&id))

	// slowly runs the command while the tv_post row of id is locked for a
	// while, so that the batch that upserts it takes well over the 50ms
	// slow-sync threshold.
	slowly := func(args ...string) (int, string) {
		tx, err := pool.Begin(ctx)
		require.NoError(t, err)
		defer tx.Rollback(ctx)
		_, err = tx.Exec(ctx, "SELECT 1 FROM tv_post WHERE id = $1 FOR UPDATE", id)
		require.NoError(t, err)
		type result struct {
			code   int
			stderr string
		}
		done := make(chan result, 1)
		go func() {
			code, _, errOut := runCLI(t, append([]string{"--database-url", url}, args...)...)
			done <- result{code, errOut}
		}()
		waitForLockWait(t, pool)
		time.Sleep(200 * time.Millisecond)
		require.NoError(t, tx.Rollback(ctx))
		r := <-done
		return r.code, r.stderr
	}

	code, errOut = slowly("sync", "--entity", "post", "--all")
	require.Equal(t, 0, code, errOut)
	assert.NotContains(t, errOut, "level=WARN", "a full sync's chunks are not slow syncs")

	code, errOut = slowly("sync", "--entity", "post", "--ids", id.String())
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, errOut, `level=WARN msg="tvsync: slow sync" entity=post mode=incremental`)
}

func TestWorker_OnceReportsSyncedFailedAndLeft(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url, pool := statsDB(t)
	ids := metricsPosts(t, pool, 5)
	engine := blog.MustNewEngine(pool, tvsync.Config{})
	require.NoError(t, queueForWorker(ctx, pool, engine, tvsync.Change{Entity: blog.EntityPost, IDs: tvsync.UUIDKeys(ids)}))

	// One post cannot be synced: the query side refuses its title.
	_, err := pool.Exec(ctx, `UPDATE tb_post SET title = 'poison' WHERE id = $1`, ids[0])
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `ALTER TABLE tv_post ADD CONSTRAINT no_poison CHECK (data->>'title' <> 'poison')`)
	require.NoError(t, err)
	code, out, errOut := runCLI(t, "--database-url", url, "worker", "--once")
	assert.Equal(t, 1, code, "a row failed: "+errOut)
	assert.Equal(t, "took 5 queued rows: 4 synced, 1 failed, 0 parked dead, 0 kept (unknown entity or malformed id); 0 dependents queued\nleft in the queue: 1 pending (oldest ", out[:strings.Index(out, "(oldest ")+8])
	assert.Regexp(t, `\), 0 dead\n$`, out)
	assert.Contains(t, errOut, "tvsync worker: 1 of 5 rows were not synced (1 failed and are retried after a backoff, 0 parked dead, 0 kept for a worker that can sync them); see `tvsync status` and `tvsync queue`")

	// Once the post can be synced and its backoff is over, it drains.
	_, err = pool.Exec(ctx, `ALTER TABLE tv_post DROP CONSTRAINT no_poison; UPDATE tvsync.sync_queue SET available_at = now()`)
	require.NoError(t, err)
	code, out, errOut = runCLI(t, "--database-url", url, "worker", "--once")
	assert.Equal(t, 0, code, errOut)
	assert.Equal(t, "took 1 queued rows: 1 synced, 0 failed, 0 parked dead, 0 kept (unknown entity or malformed id); 0 dependents queued\nleft in the queue: 0 pending (oldest 0s), 0 dead\n", out)
}

// Issue 18, item 8: worker --once counts rows it parks dead and rows it
// keeps (an entity it does not register) as not synced, and exits 1.
func TestWorker_OnceReportsParkedAndKeptRowsAsNotSynced(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url, pool := statsDB(t)
	ids := metricsPosts(t, pool, 2)
	engine := blog.MustNewEngine(pool, tvsync.Config{})
	require.NoError(t, queueForWorker(ctx, pool, engine, tvsync.Change{Entity: blog.EntityPost, IDs: tvsync.UUIDKeys(ids)}))
	_, err := pool.Exec(ctx, `INSERT INTO tvsync.sync_queue (entity, entity_id) VALUES ('ghost', '42')`)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `UPDATE tb_post SET title = 'poison' WHERE id = $1`, ids[0])
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `ALTER TABLE tv_post ADD CONSTRAINT no_poison CHECK (data->>'title' <> 'poison')`)
	require.NoError(t, err)

	code, out, errOut := runCLI(t, "--database-url", url, "worker", "--once", "--max-attempts", "1")
	assert.Equal(t, 1, code, "rows were parked or kept: "+errOut)
	assert.True(t, strings.HasPrefix(out, "took 3 queued rows: 1 synced, 0 failed, 1 parked dead, 1 kept (unknown entity or malformed id); 0 dependents queued\n"), out)
	assert.Contains(t, errOut, "2 of 3 rows were not synced (0 failed and are retried after a backoff, 1 parked dead, 1 kept for a worker that can sync them)")
}

func TestCLI_SyncTakes100kIDsFromStdinOrAFile(t *testing.T) {
	t.Parallel()
	url, pool := statsDB(t)
	seedSmall(t, pool)
	var b strings.Builder
	for range 100_000 {
		var id uuid.UUID
		_, _ = rand.Read(id[:])
		b.WriteString(id.String())
		b.WriteByte('\n')
	}
	require.Greater(t, b.Len(), 128*1024, "more than one argument may hold")
	code, out, errOut := runBinary(t, nil, strings.NewReader(b.String()), "--database-url", url, "sync", "--entity", "comment", "--ids-file", "-")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "comment  mode=incremental requested=100000 upserted=0 unchanged=0 deleted=0 missing=100000 failed=0")

	// A file, two ids a line, comma separated, with real posts.
	rows, err := pool.Query(context.Background(), "SELECT id FROM tb_post ORDER BY id LIMIT 4")
	require.NoError(t, err)
	posts, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "ids")
	require.NoError(t, os.WriteFile(path, []byte(fmt.Sprintf("%s, %s\n%s,%s\n", posts[0], posts[1], posts[2], posts[3])), 0o600))
	code, out, errOut = runCLI(t, "--database-url", url, "sync", "--entity", "post", "--ids-file", path, "--mode", "repair")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "post     mode=repair      requested=4 upserted=4")

	require.NoError(t, os.WriteFile(path, []byte(posts[0].String()+"\nnot-a-uuid\n"), 0o600))
	code, _, errOut = runCLI(t, "--database-url", url, "sync", "--entity", "post", "--ids-file", path)
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, `--ids-file `+path+`, line 2: "not-a-uuid" is not a uuid (the key of entity "post")`)
}

// jsonKeys returns the keys of a JSON object.
func jsonKeys(t *testing.T, v any) []string {
	t.Helper()
	m, ok := v.(map[string]any)
	require.True(t, ok, "%v is an object", v)
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	return keys
}

func TestCLI_JSONFormatsHaveStableSnakeCaseFields(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url, pool := statsDB(t)
	seedSmall(t, pool)
	_, err := pool.Exec(ctx, `INSERT INTO tvsync.sync_queue (entity, entity_id, dead, attempts, last_error) VALUES ('post', gen_random_uuid(), true, 10, 'boom')`)
	require.NoError(t, err)

	decode := func(args ...string) (int, map[string]any) {
		t.Helper()
		code, out, errOut := runCLI(t, append([]string{"--database-url", url}, args...)...)
		var v map[string]any
		require.NoError(t, json.Unmarshal([]byte(out), &v), "%v: %s%s", args, out, errOut)
		return code, v
	}
	code, status := decode("status", "--format", "json")
	assert.Equal(t, 0, code)
	assert.ElementsMatch(t, []string{"pending", "oldest_age_seconds", "dead", "unregistered", "dead_items"}, jsonKeys(t, status))
	assert.Equal(t, float64(1), status["dead"])
	items := status["dead_items"].([]any)
	require.Len(t, items, 1)
	assert.ElementsMatch(t, []string{"entity", "id", "attempts", "last_error", "enqueued_at"}, jsonKeys(t, items[0]))
	assert.Equal(t, "boom", items[0].(map[string]any)["last_error"])

	code, verify := decode("verify", "--format", "json")
	assert.Equal(t, 1, code, "nothing is synced yet: drift")
	assert.ElementsMatch(t, []string{"entities", "unrepaired"}, jsonKeys(t, verify))
	assert.Equal(t, float64(30+200+600), verify["unrepaired"])
	post := verify["entities"].([]any)[1].(map[string]any)
	assert.ElementsMatch(t, []string{"entity", "checked", "missing", "stale", "orphaned", "samples", "duration_ms"}, jsonKeys(t, post))
	assert.Equal(t, "post", post["entity"])
	assert.Equal(t, float64(200), post["missing"])
	assert.ElementsMatch(t, []string{"missing", "stale", "orphaned"}, jsonKeys(t, post["samples"]))

	code, verify = decode("verify", "--repair", "--format", "json")
	assert.Equal(t, 0, code, "all drift repaired")
	assert.Equal(t, float64(0), verify["unrepaired"])
	assert.Equal(t, float64(200), verify["entities"].([]any)[1].(map[string]any)["repaired"])

	code, retry := decode("queue", "retry", "--format", "json")
	assert.Equal(t, 0, code)
	assert.Equal(t, map[string]any{"revived": float64(1)}, retry)
}

func TestDemo_RunsTwiceOnOneDatabase(t *testing.T) {
	t.Parallel()
	url := testdb.URL(t)
	for run := 1; run <= 2; run++ {
		code, out, errOut := runCLI(t, "--database-url", url, "demo", "--users", "10", "--posts", "40", "--comments", "80", "--likes", "10")
		require.Equal(t, 0, code, "run %d: %s", run, errOut)
		assert.Contains(t, out, "seeded 10 users, 40 posts, 80 comments, 10 likes", run)
		assert.Contains(t, out, "rename committed and cascaded", run)
	}
	pool, err := pgxpool.New(context.Background(), url)
	require.NoError(t, err)
	defer pool.Close()
	var users int
	require.NoError(t, pool.QueryRow(context.Background(), "SELECT count(*) FROM tv_user").Scan(&users))
	assert.Equal(t, 2*11, users, "each run added its own data set and its own user")

}

// queueForWorker queues changes for a worker, ready at once: a Deferred
// unit of work that records them and writes nothing.
func queueForWorker(ctx context.Context, pool *pgxpool.Pool, engine *tvsync.Engine, changes ...tvsync.Change) error {
	r, err := syncuow.New(pool, engine, syncuow.Options{Timing: syncuow.Deferred})
	if err != nil {
		return err
	}
	return r.Run(ctx, func(w *syncuow.Work) error {
		w.Record(changes...)
		return nil
	})
}
