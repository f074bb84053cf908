package seed

import (
	"context"
	"os"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/internal/testdb"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

var small = Options{Users: 50, Posts: 200, Comments: 1000, Likes: 300}

// tableCounts returns the row counts of the four command tables.
func tableCounts(t *testing.T, pool *pgxpool.Pool) Counts {
	t.Helper()
	var c Counts
	err := pool.QueryRow(context.Background(), `SELECT
		(SELECT count(*) FROM tb_user), (SELECT count(*) FROM tb_post),
		(SELECT count(*) FROM tb_comment), (SELECT count(*) FROM tb_post_like)`).
		Scan(&c.Users, &c.Posts, &c.Comments, &c.Likes)
	require.NoError(t, err)
	return c
}

// digests returns an md5 of each command table's full content.
func digests(t *testing.T, pool *pgxpool.Pool) map[string]string {
	t.Helper()
	out := map[string]string{}
	// tvsync.ts renders timestamps independently of the session time zone.
	for table, q := range map[string]string{
		"post": `SELECT md5(string_agg(id::text||title, ',' ORDER BY id)) FROM tb_post`,
		"user": `SELECT md5(string_agg(concat_ws('|', id, username, full_name,
			tvsync.ts(created_at), tvsync.ts(updated_at)), ',' ORDER BY id)) FROM tb_user`,
		"postAll": `SELECT md5(string_agg(concat_ws('|', id, author_id, title, content, published, view_count,
			tvsync.ts(created_at), tvsync.ts(updated_at)), ',' ORDER BY id)) FROM tb_post`,
		"comment": `SELECT md5(string_agg(concat_ws('|', id, post_id, author_id, content,
			tvsync.ts(created_at)), ',' ORDER BY id)) FROM tb_comment`,
		"like": `SELECT md5(string_agg(concat_ws('|', post_id, user_id,
			tvsync.ts(created_at)), ',' ORDER BY post_id, user_id)) FROM tb_post_like`,
	} {
		var s string
		require.NoError(t, pool.QueryRow(context.Background(), q).Scan(&s), table)
		out[table] = s
	}
	return out
}

func TestLoadCounts(t *testing.T) {
	pool := testdb.New(t)
	opts := small
	var mu sync.Mutex
	last := map[string][2]int{}
	calls := 0
	opts.Progress = func(table string, done, total int) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		last[table] = [2]int{done, total}
	}

	got, err := Load(context.Background(), pool, opts)
	require.NoError(t, err)
	want := Counts{Users: 50, Posts: 200, Comments: 1000, Likes: 300}
	assert.Equal(t, want, got)
	assert.Equal(t, want, tableCounts(t, pool))

	assert.Equal(t, 4, calls, "one final progress call per table")
	assert.Equal(t, map[string][2]int{
		"tb_user": {50, 50}, "tb_post": {200, 200}, "tb_comment": {1000, 1000}, "tb_post_like": {300, 300},
	}, last)

	ctx := context.Background()
	var bad int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM tb_comment c JOIN tb_post p ON p.id = c.post_id
		WHERE c.created_at <= p.created_at`).Scan(&bad))
	assert.Zero(t, bad, "comments must be later than their post")
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM tb_post p JOIN tb_user u ON u.id = p.author_id
		WHERE p.created_at <= u.created_at`).Scan(&bad))
	assert.Zero(t, bad, "posts must be later than their author")
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM tb_user
		WHERE created_at < '2025-01-01T00:00:00Z' OR id::text !~ '^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab]'`).Scan(&bad))
	assert.Zero(t, bad, "users: created_at after the base time, version-4 ids")

	// Foreign keys are spread over many rows, not all on one.
	var authors, likedPosts, likers int
	require.NoError(t, pool.QueryRow(ctx, `SELECT (SELECT count(DISTINCT author_id) FROM tb_post),
		(SELECT count(DISTINCT post_id) FROM tb_post_like), (SELECT count(DISTINCT user_id) FROM tb_post_like)`).
		Scan(&authors, &likedPosts, &likers))
	assert.Greater(t, authors, 40)
	assert.Greater(t, likedPosts, 100)
	assert.Greater(t, likers, 40)

	var username, title string
	require.NoError(t, pool.QueryRow(ctx, `SELECT min(username) FROM tb_user`).Scan(&username))
	assert.Regexp(t, `^user_\d+_\d+$`, username)
	require.NoError(t, pool.QueryRow(ctx, `SELECT title FROM tb_post ORDER BY title LIMIT 1`).Scan(&title))
	assert.Equal(t, "Post 0 title", title)
}

func TestLoadDeterministic(t *testing.T) {
	ctx := context.Background()
	a, b, c := testdb.New(t), testdb.New(t), testdb.New(t)
	_, err := Load(ctx, a, small)
	require.NoError(t, err)
	withDefault := small
	withDefault.Seed = DefaultSeed // Seed 0 means DefaultSeed
	_, err = Load(ctx, b, withDefault)
	require.NoError(t, err)
	other := small
	other.Seed = 42
	_, err = Load(ctx, c, other)
	require.NoError(t, err)

	da, db, dc := digests(t, a), digests(t, b), digests(t, c)
	assert.Equal(t, da, db, "same options must give identical data")
	for k := range da {
		assert.NotEqual(t, da[k], dc[k], "another seed must give other data (%s)", k)
	}
}

func TestLoadSecondSeedSameDatabase(t *testing.T) {
	ctx := context.Background()
	pool := testdb.New(t)
	_, err := Load(ctx, pool, small)
	require.NoError(t, err)
	other := small
	other.Seed = 7
	got, err := Load(ctx, pool, other)
	require.NoError(t, err)
	assert.Equal(t, Counts{Users: 50, Posts: 200, Comments: 1000, Likes: 300}, got)
	assert.Equal(t, Counts{Users: 100, Posts: 400, Comments: 2000, Likes: 600}, tableCounts(t, pool))
}

func TestLoadFailureRollsBack(t *testing.T) {
	ctx := context.Background()
	pool := testdb.New(t)
	_, err := Load(ctx, pool, small)
	require.NoError(t, err)
	// The same seed again collides on the very first user: the whole load
	// must be rolled back.
	more := small
	more.Users = 60
	_, err = Load(ctx, pool, more)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "tb_user")
	assert.Equal(t, Counts{Users: 50, Posts: 200, Comments: 1000, Likes: 300}, tableCounts(t, pool))
}

func TestLoadInvalidOptions(t *testing.T) {
	pool := testdb.New(t)
	for _, tc := range []struct {
		name    string
		opts    Options
		mention string
	}{
		{"negative users", Options{Users: -1}, "Users = -1"},
		{"negative posts", Options{Users: 1, Posts: -2}, "Posts = -2"},
		{"negative comments", Options{Users: 1, Posts: 1, Comments: -3}, "Comments = -3"},
		{"negative likes", Options{Users: 1, Posts: 1, Likes: -4}, "Likes = -4"},
		{"posts without users", Options{Posts: 5}, "Posts = 5"},
		{"comments without posts", Options{Users: 5, Comments: 6}, "Comments = 6"},
		{"too many likes", Options{Users: 3, Posts: 4, Likes: 13}, "Likes = 13"},
		{"likes without posts", Options{Users: 3, Likes: 1}, "Likes = 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(context.Background(), pool, tc.opts)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.mention)
			assert.Equal(t, Counts{}, tableCounts(t, pool))
		})
	}
}

func TestLoadAllLikePairs(t *testing.T) {
	// Likes == Users*Posts: every pair exactly once (the primary key would
	// reject a repeat).
	pool := testdb.New(t)
	got, err := Load(context.Background(), pool, Options{Users: 12, Posts: 10, Likes: 120, Seed: 3})
	require.NoError(t, err)
	assert.Equal(t, int64(120), got.Likes)
	assert.Equal(t, int64(120), tableCounts(t, pool).Likes)
}

func TestLoadEmpty(t *testing.T) {
	pool := testdb.New(t)
	got, err := Load(context.Background(), pool, Options{})
	require.NoError(t, err)
	assert.Equal(t, Counts{}, got)
}

func TestLikePairsDistinct(t *testing.T) {
	for users := 1; users <= 9; users++ {
		for posts := 1; posts <= 9; posts++ {
			for _, seed := range []uint64{0, 1, 99} {
				o := Options{Users: users, Posts: posts, Likes: users * posts, Seed: seed}
				require.NoError(t, o.validate())
				g := newGen(o)
				seen := map[[2]uint64]bool{}
				for k := 0; k < o.Likes; k++ {
					p, u := g.likePair(uint64(k))
					require.Less(t, p, uint64(posts))
					require.Less(t, u, uint64(users))
					require.False(t, seen[[2]uint64{p, u}], "repeat pair users=%d posts=%d k=%d", users, posts, k)
					seen[[2]uint64{p, u}] = true
				}
			}
		}
	}
}

func TestIDs(t *testing.T) {
	g := newGen(Options{})
	seen := make(map[[16]byte]bool, 200_000)
	for i := uint64(0); i < 100_000; i++ {
		for _, id := range [][16]byte{g.userID(i), g.postID(i)} {
			require.Equal(t, byte(0x40), id[6]&0xf0, "version 4")
			require.Equal(t, byte(0x80), id[8]&0xc0, "RFC 4122 variant")
			require.False(t, seen[id], "duplicate id at %d", i)
			seen[id] = true
		}
	}
	assert.Equal(t, g.postID(12345), newGen(Options{}).postID(12345), "ids are pure functions")
}

// BenchmarkLoad loads 10k posts (with 1k users, 50k comments, 20k likes) per
// iteration into one database, each iteration with its own seed.
func BenchmarkLoad(b *testing.B) {
	pool := testdb.New(b)
	opts := Options{Users: 1_000, Posts: 10_000, Comments: 50_000, Likes: 20_000}
	ctx := context.Background()
	rows := opts.Users + opts.Posts + opts.Comments + opts.Likes
	for b.Loop() {
		opts.Seed++
		if _, err := Load(ctx, pool, opts); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// TestLoadSameSeedTwiceSaysSo: two operators seeding one database with the
// same seed (at once or one after the other) must get an error that says
// what happened and what to do, not a raw duplicate key, and the database
// keeps exactly the first load.
func TestLoadSameSeedTwiceSaysSo(t *testing.T) {
	ctx := context.Background()
	pool := testdb.New(t)
	_, err := Load(ctx, pool, small)
	require.NoError(t, err)
	_, err = Load(ctx, pool, small)
	require.ErrorIs(t, err, ErrAlreadyLoaded)
	assert.Contains(t, err.Error(), "seed 0")
	assert.Contains(t, err.Error(), "--seed")
	assert.Equal(t, Counts{Users: 50, Posts: 200, Comments: 1000, Likes: 300}, tableCounts(t, pool))
}
