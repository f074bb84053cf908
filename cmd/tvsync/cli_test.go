package main

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/internal/testdb"
)

func TestDemo_PrintsAPostAndTheSyncMetrics(t *testing.T) {
	t.Setenv("DATABASE_URL", "")
	code, out, errOut := runCLI(t, "demo", "--users", "20", "--posts", "100", "--comments", "300", "--likes", "50")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "starting a throwaway PostgreSQL")
	start := strings.Index(out, "\n{")
	end := strings.Index(out, "\n}\n")
	require.True(t, start > 0 && end > start, out)
	var post map[string]any
	require.NoError(t, json.Unmarshal([]byte(out[start+1:end+2]), &post))
	assert.Equal(t, "Explicit sync beats hidden triggers", post["title"])
	assert.Regexp(t, `^amazing_grace_[0-9a-f]{8}$`, post["author"].(map[string]any)["username"], "the rename cascaded")
	assert.Equal(t, float64(3), post["commentCount"])
	assert.Equal(t, float64(1), post["likeCount"])
	assert.Regexp(t, regexp.MustCompile(`(?m)^post\s+full\s+\d+\s+100\s+100\s`), out, "sync metrics per entity and mode")
	assert.Regexp(t, regexp.MustCompile(`(?m)^comment\s+incremental\s`), out)
}

func TestCLI_LastingDatabaseCommandsNeedAURL(t *testing.T) {
	t.Setenv("DATABASE_URL", "")
	for _, args := range [][]string{{"sync", "--entity", "post", "--all"}, {"verify"}, {"status"}, {"migrate", "up"}, {"worker", "--once"}} {
		code, _, errOut := runCLI(t, args...)
		assert.Equal(t, 2, code, args)
		assert.Contains(t, errOut, "set DATABASE_URL or pass --database-url", args)
	}
}

func TestCLI_SyncRejectsBadInputAndChangesNothing(t *testing.T) {
	url := testdb.URL(t)
	code, _, errOut := runCLI(t, "--database-url", url, "sync", "--entity", "post", "--ids", "5b7c1c1e-8a4e-4a43-9a57-2f5c8d4c9a11,not-a-uuid")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, `"not-a-uuid" is not a uuid (the key of entity "post")`)
	code, _, errOut = runCLI(t, "--database-url", url, "sync", "--entity", "postz", "--all")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, `--entity "postz": unknown entity (registered: comment, post, user)`)
	code, _, errOut = runCLI(t, "--database-url", url, "sync", "--entity", "post")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "exactly one of --ids (or --ids-file) and --all")

	pool, err := pgxpool.New(context.Background(), url)
	require.NoError(t, err)
	defer pool.Close()
	var logged int
	require.NoError(t, pool.QueryRow(context.Background(), "SELECT count(*) FROM tvsync.sync_log").Scan(&logged))
	assert.Zero(t, logged, "rejected commands synced nothing")
}

func TestCLI_SeedSyncVerifyRepair(t *testing.T) {
	url := testdb.URL(t)
	code, out, errOut := runCLI(t, "--database-url", url, "seed", "--users", "30", "--posts", "200", "--comments", "600", "--likes", "100")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "seeded 30 users, 200 posts, 600 comments, 100 likes")

	code, out, errOut = runCLI(t, "--database-url", url, "verify")
	require.Equal(t, 0, code, out+errOut)
	assert.Contains(t, out, "post     checked=200 missing=0 stale=0 orphaned=0")

	pool, err := pgxpool.New(context.Background(), url)
	require.NoError(t, err)
	defer pool.Close()
	ctx := context.Background()
	// Drift of every kind: a stale row, a missing row, an orphan.
	_, err = pool.Exec(ctx, `
		UPDATE tv_post SET data = jsonb_set(data, '{title}', '"tampered"') WHERE id = (SELECT id FROM tv_post ORDER BY id LIMIT 1);
		DELETE FROM tv_post WHERE id = (SELECT id FROM tv_post ORDER BY id DESC LIMIT 1);
		INSERT INTO tv_comment (id, data) VALUES (gen_random_uuid(), '{}');`)
	require.NoError(t, err)

	code, out, _ = runCLI(t, "--database-url", url, "verify")
	assert.Equal(t, 1, code, "drift is exit status 1")
	assert.Contains(t, out, "post     checked=200 missing=1 stale=1 orphaned=0")
	assert.Contains(t, out, "comment  checked=600 missing=0 stale=0 orphaned=1")

	code, out, _ = runCLI(t, "--database-url", url, "verify", "--repair")
	assert.Equal(t, 0, code, out)
	assert.Contains(t, out, "repaired=2")
	code, out, _ = runCLI(t, "--database-url", url, "verify")
	assert.Equal(t, 0, code, out)

	var repairs int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM tvsync.sync_log WHERE mode = 'repair'").Scan(&repairs))
	assert.Equal(t, 2, repairs, "one repair batch per drifted entity")

	code, out, errOut = runCLI(t, "--database-url", url, "sync", "--entity", "user", "--all")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "requested=30 upserted=0 unchanged=30")
	code, out, errOut = runCLI(t, "--database-url", url, "rebuild", "--entity", "comment")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "rebuilt tv_comment: 600 rows")
	code, out, _ = runCLI(t, "--database-url", url, "verify", "--entity", "comment")
	assert.Equal(t, 0, code, out)

	code, out, _ = runCLI(t, "--database-url", url, "status")
	require.Equal(t, 0, code)
	assert.Contains(t, out, "queue depth:      0")
}
