package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/blog"
	"github.com/tvsync/tvsync/internal/testdb"
	tvsync "github.com/tvsync/tvsync/sync"
)

// runArgs runs the CLI in-process with the test's database URL first.
func runArgs(t *testing.T, url string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return runCLI(t, append([]string{"--database-url", url}, args...)...)
}

// statsDB returns a fresh database's URL and a pool on it.
func statsDB(t *testing.T) (string, *pgxpool.Pool) {
	t.Helper()
	url := testdb.URL(t)
	pool, err := pgxpool.New(context.Background(), url)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return url, pool
}

// insertSyncLog writes sync_log rows directly; each row is
// entity, mode, requested, upserted, unchanged, deleted, failed, duration_us, age.
func insertSyncLog(t *testing.T, pool *pgxpool.Pool, rows ...[]any) {
	t.Helper()
	for _, r := range rows {
		_, err := pool.Exec(context.Background(), `INSERT INTO tvsync.sync_log (entity, mode, requested, upserted, unchanged, deleted, failed, duration_us, error, started_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, CASE WHEN $7::int > 0 THEN 'boom' ELSE '' END, now() - $9::interval)`, r...)
		require.NoError(t, err)
	}
}

// knownSyncLog is 5 committed post batches and an isolated failure within
// the last hour, an older post batch, and one user batch.
//
// Committed post durations 1, 2, 3, 4, 10 ms: p50 = 3 ms; p95 at rank
// 0.95*4 = 3.8, 4 + 0.8*(10-4) = 8.8 ms; p99 at rank 3.96, 4 + 0.96*6 = 9.76 ms.
func knownSyncLog(t *testing.T, pool *pgxpool.Pool) {
	insertSyncLog(t, pool,
		[]any{"post", "incremental", 10, 6, 3, 1, 0, 4000, "10 minutes"},
		[]any{"post", "incremental", 5, 5, 0, 0, 0, 1000, "20 minutes"},
		[]any{"post", "incremental", 2, 0, 2, 0, 0, 10000, "5 minutes"},
		[]any{"post", "incremental", 1, 1, 0, 0, 0, 3000, "1 minute"},
		[]any{"post", "incremental", 7, 0, 0, 7, 0, 2000, "30 minutes"},
		[]any{"post", "incremental", 1, 0, 0, 0, 1, 0, "15 minutes"},
		[]any{"post", "incremental", 50, 50, 0, 0, 0, 999999, "2 hours"},
		[]any{"user", "full", 100, 100, 0, 0, 0, 500, "40 minutes"},
	)
}

func TestStats_TableShowsCountsAndPercentilesPerEntityAndMode(t *testing.T) {
	t.Parallel()
	url, pool := statsDB(t)
	knownSyncLog(t, pool)

	code, out, errOut := runArgs(t, url, "stats", "--since", "1h")
	require.Equal(t, 0, code, errOut)
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	require.Len(t, lines, 4, out)
	assert.Regexp(t, `^sync_log since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(last 1h0m0s\)$`, lines[0])
	fields := func(s string) []string { return regexp.MustCompile(`\s{2,}`).Split(strings.TrimSpace(s), -1) }
	assert.Equal(t, []string{"ENTITY", "MODE", "BATCHES", "REQUESTED", "UPSERTED", "UNCHANGED", "DELETED", "FAILED", "P50 MS", "P95 MS", "P99 MS", "MAX MS"}, fields(lines[1]))
	assert.Equal(t, []string{"post", "incremental", "5", "26", "12", "5", "8", "1", "3.000", "8.800", "9.760", "10.000"}, fields(lines[2]))
	assert.Equal(t, []string{"user", "full", "1", "100", "100", "0", "0", "0", "0.500", "0.500", "0.500", "0.500"}, fields(lines[3]))
	// Aligned: every column starts at the same offset on every line.
	for _, col := range []string{"MODE", "BATCHES", "P50 MS", "MAX MS"} {
		at := strings.Index(lines[1], col)
		assert.NotEqual(t, ' ', rune(lines[2][at]), col)
		assert.Equal(t, ' ', rune(lines[2][at-1]), col)
		assert.NotEqual(t, ' ', rune(lines[3][at]), col)
	}

	// A wider window takes in the 2-hour-old batch.
	code, out, errOut = runArgs(t, url, "stats", "--since", "3h")
	require.Equal(t, 0, code, errOut)
	assert.Regexp(t, `(?m)^post\s+incremental\s+6\s+76\s+62\s+5\s+8\s+1\s+3\.500\s+.*\s999\.999$`, out)
}

func TestStats_JSONHasStableSnakeCaseFieldsInMilliseconds(t *testing.T) {
	t.Parallel()
	url, pool := statsDB(t)
	knownSyncLog(t, pool)

	before := time.Now()
	code, out, errOut := runArgs(t, url, "stats", "--format", "json")
	require.Equal(t, 0, code, errOut)
	var got map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &got), out)
	since, err := time.Parse(time.RFC3339Nano, got["since"].(string))
	require.NoError(t, err)
	assert.WithinDuration(t, before.Add(-time.Hour), since, time.Minute, "--since defaults to 1h")
	delete(got, "since")
	entities, err := json.Marshal(got)
	require.NoError(t, err)
	assert.JSONEq(t, `{"entities": [
		{"entity": "post", "mode": "incremental", "batches": 5, "requested": 26, "upserted": 12, "unchanged": 5, "deleted": 8, "failed": 1,
		 "p50_ms": 3, "p95_ms": 8.8, "p99_ms": 9.76, "max_ms": 10},
		{"entity": "user", "mode": "full", "batches": 1, "requested": 100, "upserted": 100, "unchanged": 0, "deleted": 0, "failed": 0,
		 "p50_ms": 0.5, "p95_ms": 0.5, "p99_ms": 0.5, "max_ms": 0.5}
	]}`, string(entities))
}

func TestStats_EmptyWindow(t *testing.T) {
	t.Parallel()
	url, _ := statsDB(t)
	code, out, errOut := runArgs(t, url, "stats")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "no batches synced in that window")
	code, out, errOut = runArgs(t, url, "stats", "--format", "json")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, `"entities": []`, "an empty list, not null")
}

func TestSyncLogPrune_DeletesExactlyTheOldRows(t *testing.T) {
	t.Parallel()
	url, pool := statsDB(t)
	insertSyncLog(t, pool,
		[]any{"post", "old", 1, 0, 0, 0, 0, 1, "1000 hours"},
		[]any{"post", "old", 2, 0, 0, 0, 0, 1, "721 hours"},
		[]any{"user", "old", 3, 0, 0, 0, 0, 1, "720 hours 1 minute"},
		[]any{"post", "new", 4, 0, 0, 0, 0, 1, "719 hours"},
		[]any{"post", "new", 5, 0, 0, 0, 0, 1, "0 hours"},
	)
	code, out, errOut := runArgs(t, url, "sync-log", "prune", "--older-than", "720h")
	require.Equal(t, 0, code, errOut)
	assert.Regexp(t, `^deleted 3 sync_log rows started before \d{4}-\d\d-\d\dT\S+Z\n$`, out)
	var kept []int32
	require.NoError(t, pool.QueryRow(context.Background(), "SELECT array_agg(requested ORDER BY requested) FROM tvsync.sync_log").Scan(&kept))
	assert.Equal(t, []int32{4, 5}, kept)

	code, out, errOut = runArgs(t, url, "sync-log", "prune", "--older-than", "720h")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "deleted 0 sync_log rows")
}

func TestStatsAndPrune_RejectBadInputNamingTheValue(t *testing.T) {
	t.Parallel()
	url := "postgres://nobody@127.0.0.1:1/none" // never reached: usage is checked first
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"stats", "--since", "abc"}, `invalid argument "abc" for "--since" flag`},
		{[]string{"stats", "--since", "-5m"}, `--since -5m0s: want a positive duration`},
		{[]string{"stats", "--format", "yaml"}, `--format "yaml": want table or json`},
		{[]string{"stats", "extra"}, `unexpected arguments ["extra"]`},
		{[]string{"sync-log", "prune", "--older-than", "3x"}, `invalid argument "3x" for "--older-than" flag`},
		{[]string{"sync-log", "prune", "--older-than", "0s"}, `--older-than 0s: want a positive duration`},
		{[]string{"sync-log", "prune"}, "--older-than is required"},
		{[]string{"sync-log"}, "tvsync sync-log: missing subcommand: want prune"},
		{[]string{"sync-log", "drop"}, `tvsync sync-log: unknown subcommand "drop": want prune`},
		{[]string{"--namespace", "Billing", "stats"}, `--namespace: tvsync: invalid namespace "Billing"`},
		{[]string{"--namespace", "a-b", "status"}, `--namespace: tvsync: invalid namespace "a-b"`},
	} {
		code, out, errOut := runArgs(t, url, tc.args...)
		assert.Equal(t, 2, code, tc.args)
		assert.Empty(t, out, tc.args)
		assert.Contains(t, errOut, tc.want, tc.args)
	}
}

// get fetches url and returns the body.
func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	return string(body)
}

func metricsPosts(t *testing.T, pool *pgxpool.Pool, n int) []uuid.UUID {
	t.Helper()
	var ids []uuid.UUID
	require.NoError(t, pool.QueryRow(context.Background(), `WITH u AS (INSERT INTO tb_user (username) VALUES ('scraped') RETURNING id),
		p AS (INSERT INTO tb_post (author_id, title) SELECT u.id, 'post ' || g FROM u, generate_series(1, $1) g RETURNING id)
		SELECT array_agg(id) FROM p`, n).Scan(&ids))
	return ids
}

// startWorker runs the worker command with metrics on a free port until
// stop (or the end of the test), and returns its metrics URL and stderr.
func startWorker(t *testing.T, url string, args ...string) (metricsURL string, stderr *lockedBuffer, stop func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stderr = &lockedBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- execute(ctx, strings.NewReader(""), io.Discard, stderr,
			append([]string{"--database-url", url, "worker", "--metrics-addr", "127.0.0.1:0"}, args...)...)
	}()
	code, stopped := 0, false
	stop = func() int {
		if stopped {
			return code
		}
		cancel()
		select {
		case code = <-done:
			stopped = true
		case <-time.After(30 * time.Second):
			t.Fatal("the worker did not stop")
		}
		return code
	}
	t.Cleanup(func() { stop() })
	addr := regexp.MustCompile(`url=(http://127\.0\.0\.1:\d+/metrics)`)
	waitFor(t, "the metrics URL in the log", func() bool { return addr.MatchString(stderr.String()) })
	return addr.FindStringSubmatch(stderr.String())[1], stderr, stop
}

func TestWorkerMetrics_ServedOverHTTP(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url, pool := statsDB(t)
	_, err := pool.Exec(ctx, `INSERT INTO tvsync.sync_queue (entity, entity_id, enqueued_at, available_at, dead) VALUES
		('post', gen_random_uuid(), now() - interval '90 seconds', now() + interval '1 hour', false),
		('post', gen_random_uuid(), now(), now() + interval '1 hour', false),
		('user', gen_random_uuid(), now(), now(), true)`)
	require.NoError(t, err)
	metricsURL, _, _ := startWorker(t, url, "--poll", "1h")

	body := get(t, metricsURL)
	assert.Contains(t, body, "\ntvsync_queue_depth 2\n")
	assert.Contains(t, body, "\ntvsync_queue_dead 1\n")
	assert.Regexp(t, `\ntvsync_queue_oldest_age_seconds (9\d|1\d\d)(\.\d+)?(e\+\d+)?\n`, body)
	assert.Contains(t, body, "\ngo_goroutines ", "the Go runtime collector")
	assert.Contains(t, body, "\nprocess_cpu_seconds_total ", "the process collector")
}

func TestWorkerMetrics_EverySyncSeriesStartsAtZero(t *testing.T) {
	t.Parallel()
	url, _ := statsDB(t)
	metricsURL, _, _ := startWorker(t, url, "--poll", "1h")

	body := get(t, metricsURL)
	for _, entity := range []string{"user", "post", "comment"} {
		for _, mode := range []string{"incremental", "full", "deferred", "repair"} {
			assert.Contains(t, body, fmt.Sprintf("\ntvsync_sync_batches_total{entity=%q,mode=%q} 0\n", entity, mode))
			assert.Contains(t, body, fmt.Sprintf("\ntvsync_sync_duration_seconds_count{entity=%q,mode=%q} 0\n", entity, mode))
		}
		for _, outcome := range []string{"upserted", "unchanged", "deleted", "missing", "failed"} {
			assert.Contains(t, body, fmt.Sprintf("\ntvsync_sync_rows_total{entity=%q,outcome=%q} 0\n", entity, outcome))
		}
	}
}

// waitFor polls cond every 20ms until it holds, failing the test after 30s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestWorker_ServesMetricsWhileRunningAndStopsWithIt(t *testing.T) {
	t.Parallel()
	url, pool := statsDB(t)
	ids := metricsPosts(t, pool, 4)
	require.NoError(t, queueForWorker(context.Background(), pool, blog.MustNewEngine(pool, tvsync.Config{}), tvsync.Change{Entity: blog.EntityPost, IDs: tvsync.UUIDKeys(ids)}))

	metricsURL, stderr, stop := startWorker(t, url, "--poll", "50ms")
	upserted := "\n" + `tvsync_sync_rows_total{entity="post",outcome="upserted"} 4` + "\n"
	var body string
	// The engine reports a worker's batch to its observer before the
	// worker's transaction, which also removes the rows from the queue,
	// commits: wait for both.
	waitFor(t, "the queued posts to be synced and removed from the queue", func() bool {
		body = get(t, metricsURL)
		return strings.Contains(body, upserted) && strings.Contains(body, "\ntvsync_queue_depth 0\n")
	})
	assert.Contains(t, body, "\n"+`tvsync_sync_batches_total{entity="post",mode="deferred"} 1`+"\n")

	assert.Equal(t, 0, stop(), "a cancelled context (SIGTERM) stops the worker cleanly: "+stderr.String())
	assert.Contains(t, stderr.String(), "tvsync worker stopped")
	_, err := http.Get(metricsURL)
	assert.Error(t, err, "the metrics server stopped with the worker")
}

// TestStatsStatusAndPrune_SeeOnlyTheirNamespace: with two applications'
// sync_log and queue rows in one database, stats, status and sync-log
// prune with --namespace read and delete only that namespace's rows, and
// without it only the default namespace's.
func TestStatsStatusAndPrune_SeeOnlyTheirNamespace(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url, pool := statsDB(t)
	_, err := pool.Exec(ctx, `
		INSERT INTO tvsync.sync_log (namespace, entity, mode, requested, upserted, unchanged, deleted, failed, duration_us, started_at) VALUES
		    ('', 'post', 'incremental', 1, 1, 0, 0, 0, 1000, now() - interval '1000 hours'),
		    ('', 'post', 'incremental', 2, 2, 0, 0, 0, 1000, now()),
		    ('billing', 'post', 'incremental', 30, 30, 0, 0, 0, 1000, now() - interval '1000 hours'),
		    ('billing', 'user', 'full', 40, 40, 0, 0, 0, 1000, now());
		INSERT INTO tvsync.sync_queue (namespace, entity, entity_id) VALUES
		    ('billing', 'user', gen_random_uuid()), ('billing', 'user', gen_random_uuid()), ('', 'post', gen_random_uuid())`)
	require.NoError(t, err)

	type statsJSON struct {
		Entities []struct {
			Entity    string `json:"entity"`
			Requested int64  `json:"requested"`
		} `json:"entities"`
	}
	stats := func(args ...string) statsJSON {
		code, out, errOut := runArgs(t, url, append(args, "stats", "--since", "1h", "--format", "json")...)
		require.Equal(t, 0, code, errOut)
		var s statsJSON
		require.NoError(t, json.Unmarshal([]byte(out), &s), out)
		return s
	}
	b := stats("--namespace", "billing")
	require.Len(t, b.Entities, 1)
	assert.Equal(t, "user", b.Entities[0].Entity)
	assert.Equal(t, int64(40), b.Entities[0].Requested)
	d := stats()
	require.Len(t, d.Entities, 1)
	assert.Equal(t, int64(2), d.Entities[0].Requested, "the default namespace's only")

	code, out, errOut := runArgs(t, url, "--namespace", "billing", "status", "--format", "json")
	require.Equal(t, 0, code, errOut)
	var st struct {
		Pending int64 `json:"pending"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &st), out)
	assert.Equal(t, int64(2), st.Pending, "billing's two queued ids")

	code, out, errOut = runArgs(t, url, "--namespace", "billing", "sync-log", "prune", "--older-than", "720h")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "deleted 1 sync_log rows")
	var kept []int32
	require.NoError(t, pool.QueryRow(ctx, "SELECT array_agg(requested ORDER BY requested) FROM tvsync.sync_log").Scan(&kept))
	assert.Equal(t, []int32{1, 2, 40}, kept, "the default namespace's old row is not billing's to prune")
}
