package syncgen_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/sync/syncgen"
)

// TestGenerate_NamedStatementsMustBeHandWritten: an override or look-up
// the declarations name must be a hand-written statement of the queries
// folder, of the right kind; a typo fails naming the entity and the field.
func TestGenerate_NamedStatementsMustBeHandWritten(t *testing.T) {
	dir := t.TempDir()
	decl, err := os.ReadFile(filepath.Join("testdata", "uuid.yaml"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "tvsync.yaml"), decl, 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "queries", "plans"), 0o755))
	for _, plan := range []string{"post_wide.sql", "post_range.sql"} {
		src, err := os.ReadFile(filepath.Join("testdata", "queries", "plans", plan))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, "queries", "plans", plan), src, 0o644))
	}
	hand := "-- name: CommentRangeRefresh :batchone\nSELECT 1;\n\n-- name: PostIDsLikedByUser :batchmany\nSELECT 1;\n"
	write := func(src string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, "queries", "post.sql"), []byte(src), 0o644))
	}
	write(hand)
	// A generated file of the same names does not count.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "queries", "x.gen.sql"), []byte("-- name: CommentRangeRefreshX :batchone\nSELECT 1;\n"), 0o644))
	_, err = syncgen.Generate(filepath.Join(dir, "tvsync.yaml"))
	require.NoError(t, err)

	write(strings.Replace(hand, "CommentRangeRefresh", "CommentRangeRefreshOld", 1))
	_, err = syncgen.Generate(filepath.Join(dir, "tvsync.yaml"))
	require.Error(t, err)
	assert.Equal(t, filepath.Join(dir, "tvsync.yaml")+`:32: entity "comment": overrides.refresh_range CommentRangeRefresh: no hand-written statement of that name in queries/*.sql`, err.Error())

	write(strings.Replace(hand, "PostIDsLikedByUser :batchmany", "PostIDsLikedByUser :many", 1))
	_, err = syncgen.Generate(filepath.Join(dir, "tvsync.yaml"))
	require.Error(t, err)
	assert.Equal(t, filepath.Join(dir, "tvsync.yaml")+`:12: entity "user": cascade 3 (to post): lookup PostIDsLikedByUser: is a :many statement, want :batchmany`, err.Error())

	write(strings.Replace(hand, "CommentRangeRefresh", "CommentRangeRefreshX", 1))
	_, err = syncgen.Generate(filepath.Join(dir, "tvsync.yaml"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `overrides.refresh_range CommentRangeRefresh: no hand-written statement`)
}
