package sync_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/blog"
	"github.com/tvsync/tvsync/internal/expect"
	"github.com/tvsync/tvsync/internal/seed"
	"github.com/tvsync/tvsync/internal/testdb"
	tvsync "github.com/tvsync/tvsync/sync"
)

// zeroRows plants a user, a post and a comment whose ids are all
// 00000000-0000-0000-0000-000000000000, among ordinary seeded rows.
func zeroRows(t *testing.T, ctx context.Context, pool *pgxpool.Pool) {
	t.Helper()
	_, err := seed.Load(ctx, pool, seed.Options{Users: 10, Posts: 40, Comments: 80, Likes: 30})
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `
		INSERT INTO tb_user (id, username, full_name) VALUES ('00000000-0000-0000-0000-000000000000', 'zero', 'Zero');
		INSERT INTO tb_post (id, author_id, title, published) VALUES ('00000000-0000-0000-0000-000000000000', '00000000-0000-0000-0000-000000000000', 'Zero post', true);
		INSERT INTO tb_comment (id, post_id, author_id, content)
			VALUES ('00000000-0000-0000-0000-000000000000', '00000000-0000-0000-0000-000000000000', '00000000-0000-0000-0000-000000000000', 'zero comment');
		INSERT INTO tb_comment (post_id, author_id, content)
			SELECT '00000000-0000-0000-0000-000000000000', id, 'on zero' FROM tb_user ORDER BY id LIMIT 3;
		INSERT INTO tb_post_like (post_id, user_id)
			SELECT '00000000-0000-0000-0000-000000000000', id FROM tb_user ORDER BY id LIMIT 4`)
	require.NoError(t, err)
}

// hasZero reports whether table holds a row with the all-zero id.
func hasZero(t *testing.T, ctx context.Context, pool *pgxpool.Pool, table string) bool {
	t.Helper()
	var ok bool
	require.NoError(t, pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM "+table+" WHERE id = '00000000-0000-0000-0000-000000000000')").Scan(&ok))
	return ok
}

// TestKeysetWalks_CoverTheAllZeroID plants rows whose id is uuid.Nil, the
// first keyset cursor: full sync must create, refresh and delete their tv_
// rows, verify must report them missing, stale and orphaned, and rebuild
// must keep them. Run by range statements (the blog entities) and by id
// lists (the same entities without range statements), with chunk sizes
// that end a page on the zero id.
func TestKeysetWalks_CoverTheAllZeroID(t *testing.T) {
	t.Parallel()
	byLists := blog.Entities()
	for i := range byLists {
		byLists[i].RefreshRange, byLists[i].DeleteMissingRange = nil, nil
	}
	for _, v := range []struct {
		name     string
		entities []tvsync.Entity
	}{{"by range", blog.Entities()}, {"by id lists", byLists}} {
		for _, chunk := range []int{1, 2, 1000} {
			t.Run(fmt.Sprintf("%s/chunk=%d", v.name, chunk), func(t *testing.T) {
				t.Parallel()
				ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
				defer cancel()
				pool := testdb.New(t)
				engine, err := tvsync.NewEngine(pool, tvsync.Config{}, v.entities...)
				require.NoError(t, err)
				zeroRows(t, ctx, pool)
				full := func() {
					t.Helper()
					for _, entity := range engine.Entities() {
						_, err := engine.FullSync(ctx, entity, tvsync.FullOptions{ChunkSize: chunk, Workers: 2})
						require.NoError(t, err, "full sync %s", entity)
					}
				}
				verify := func() map[string]tvsync.VerifyResult {
					t.Helper()
					out := map[string]tvsync.VerifyResult{}
					for _, entity := range engine.Entities() {
						res, err := engine.Verify(ctx, entity, tvsync.VerifyOptions{ChunkSize: chunk, Workers: 2})
						require.NoError(t, err, "verify %s", entity)
						out[entity] = res
					}
					return out
				}

				full()
				for _, table := range []string{"tv_user", "tv_post", "tv_comment"} {
					assert.True(t, hasZero(t, ctx, pool, table), "full sync creates the zero row of %s", table)
				}
				diff, err := expect.Check(ctx, pool)
				require.NoError(t, err)
				require.Empty(t, diff)

				// Drift on the zero ids only: missing, stale, orphaned.
				_, err = pool.Exec(ctx, `
					DELETE FROM tv_post WHERE id = '00000000-0000-0000-0000-000000000000';
					UPDATE tv_user SET data = '{"stale": true}' WHERE id = '00000000-0000-0000-0000-000000000000';
					DELETE FROM tb_comment WHERE id = '00000000-0000-0000-0000-000000000000'`)
				require.NoError(t, err)
				got := verify()
				zero := []tvsync.ID{tvsync.UUIDKey(uuid.Nil)}
				assert.Equal(t, 1, got[blog.EntityPost].Missing, "verify finds the zero post missing")
				assert.Equal(t, zero, got[blog.EntityPost].Samples[tvsync.DriftMissing])
				assert.Equal(t, 1, got[blog.EntityUser].Stale, "verify finds the zero user stale")
				assert.Equal(t, zero, got[blog.EntityUser].Samples[tvsync.DriftStale])
				assert.Equal(t, 1, got[blog.EntityComment].Orphaned, "verify finds the zero comment orphaned")
				assert.Equal(t, zero, got[blog.EntityComment].Samples[tvsync.DriftOrphaned])

				full()
				assert.True(t, hasZero(t, ctx, pool, "tv_post"), "full sync recreates the zero post")
				assert.False(t, hasZero(t, ctx, pool, "tv_comment"), "full sync deletes the orphaned zero comment")
				diff, err = expect.Check(ctx, pool)
				require.NoError(t, err)
				require.Empty(t, diff, "full sync repairs the zero rows")
				for entity, res := range verify() {
					assert.Zero(t, res.Drifted(), "%s: %+v", entity, res)
				}

				if v.name == "by range" {
					// Rebuild lists ids through IDsAfter, from uuid.Nil.
					for _, entity := range engine.Entities() {
						_, err := engine.Rebuild(ctx, entity, tvsync.RebuildOptions{ChunkSize: chunk})
						require.NoError(t, err, "rebuild %s", entity)
					}
					assert.True(t, hasZero(t, ctx, pool, "tv_user"), "rebuild keeps the zero user")
					assert.True(t, hasZero(t, ctx, pool, "tv_post"), "rebuild keeps the zero post")
					diff, err = expect.Check(ctx, pool)
					require.NoError(t, err)
					require.Empty(t, diff, "rebuild keeps the zero rows")
				}
			})
		}
	}
}
