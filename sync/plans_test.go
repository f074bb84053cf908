package sync_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/blog"
	"github.com/tvsync/tvsync/internal/seed"
	"github.com/tvsync/tvsync/internal/testdb"
	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/syncdbtest"
)

// seededBlog returns a database seeded with a small blog whose tv_ tables
// are synced.
func seededBlog(t *testing.T) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	pool := testdb.New(t)
	_, err := seed.Load(ctx, pool, seed.Options{Users: 30, Posts: 200, Comments: 800, Likes: 120})
	require.NoError(t, err)
	engine := blog.MustNewEngine(pool, tvsync.Config{})
	for _, entity := range engine.Entities() {
		_, err := engine.FullSync(ctx, entity, tvsync.FullOptions{})
		require.NoError(t, err)
	}
	return pool
}

// tvSnapshot returns every row of the tv_ tables, updated_at and the
// row's physical version (xmin) included, as text.
func tvSnapshot(t *testing.T, pool *pgxpool.Pool) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, table := range []string{"tv_user", "tv_post", "tv_comment"} {
		var s string
		require.NoError(t, pool.QueryRow(context.Background(), fmt.Sprintf(
			"SELECT coalesce(string_agg(id::text || xmin::text || data::text || updated_at::text, ',' ORDER BY id), '') FROM %s", table)).Scan(&s))
		out[table] = s
	}
	return out
}

func sqlIDs(t *testing.T, pool *pgxpool.Pool, sql string) []tvsync.ID {
	t.Helper()
	rows, err := pool.Query(context.Background(), sql)
	require.NoError(t, err)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	require.NoError(t, err)
	return tvsync.UUIDKeys(ids)
}

// TestCheckPlans_BlogPlansMatchTheirSources: every plan of every blog
// entity, run in batches smaller than the tables, builds exactly the
// documents of the entity's Source view; the check leaves the tv_ tables
// untouched.
func TestCheckPlans_BlogPlansMatchTheirSources(t *testing.T) {
	t.Parallel()
	pool := seededBlog(t)
	before := tvSnapshot(t, pool)
	engine := blog.MustNewEngine(pool, tvsync.Config{BatchSize: 70})

	syncdbtest.RequirePlansMatchSource(t, engine)

	want := map[string]struct {
		ids   int
		plans []string
	}{
		blog.EntityUser:    {30, []string{tvsync.PlanRefresh, tvsync.PlanRefreshRange}},
		blog.EntityPost:    {200, []string{tvsync.PlanRefresh, tvsync.PlanRefreshWide, tvsync.PlanRefreshRange}},
		blog.EntityComment: {800, []string{tvsync.PlanRefresh, tvsync.PlanRefreshRange}},
	}
	for entity, w := range want {
		check, err := engine.CheckPlans(context.Background(), entity)
		require.NoError(t, err, entity)
		assert.Equal(t, w.ids, check.IDs, entity)
		var plans []string
		for _, p := range check.Plans {
			plans = append(plans, p.Plan)
			assert.Zero(t, p.Differing(), "%s %s", entity, p.Plan)
		}
		assert.Equal(t, w.plans, plans, entity)
		assert.True(t, check.OK(), entity)
	}
	assert.Equal(t, before, tvSnapshot(t, pool), "the checks roll back: no tv_ row changed")
}

// brokenPostEntities returns the blog's entities with post's RefreshWide
// replaced by an override that drops likeCount from the documents of liked
// posts and writes a document for an id no post has.
func brokenPostEntities(extra uuid.UUID) []tvsync.Entity {
	entities := blog.Entities()
	for i := range entities {
		if entities[i].Name != blog.EntityPost {
			continue
		}
		entities[i].RefreshWide = func(p *tvsync.Pipeline, ids []tvsync.ID) func() (tvsync.RefreshResult, error) {
			b := &pgx.Batch{}
			b.Queue(`
				WITH docs AS (
					SELECT id, CASE WHEN (data->>'likeCount')::int > 0 THEN data - 'likeCount' ELSE data END AS data
					FROM tv_post_source WHERE id = ANY($1)
					UNION ALL SELECT $2, '{}'::jsonb
				)
				INSERT INTO tv_post (id, data) SELECT id, data FROM docs
				ON CONFLICT (id) DO UPDATE SET data = EXCLUDED.data`, tvsync.UUIDs(ids), extra)
			br := p.SendBatch(context.Background(), b)
			return func() (tvsync.RefreshResult, error) {
				_, err := br.Exec()
				return tvsync.RefreshResult{Found: len(ids), Upserted: len(ids)}, err
			}
		}
	}
	return entities
}

// TestCheckPlans_BrokenOverrideIsReported: an override that builds other
// documents than the Source view is reported with its plan, the number of
// differing ids and the first of them; the entity's other plans are clean,
// and nothing is left in tv_post.
func TestCheckPlans_BrokenOverrideIsReported(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := seededBlog(t)
	before := tvSnapshot(t, pool)
	extra := uuid.New()
	engine, err := tvsync.NewEngine(pool, tvsync.Config{BatchSize: 70}, brokenPostEntities(extra)...)
	require.NoError(t, err)
	liked := sqlIDs(t, pool, "SELECT post_id FROM tb_post_like GROUP BY post_id ORDER BY post_id")
	require.Greater(t, len(liked), 5)
	require.Less(t, len(liked), 200, "some posts have no like: their documents stay right")

	check, err := engine.CheckPlans(ctx, blog.EntityPost)
	require.NoError(t, err)
	assert.False(t, check.OK())
	assert.Equal(t, 200, check.IDs)
	require.Len(t, check.Plans, 3)
	assert.Equal(t, tvsync.PlanResult{Plan: tvsync.PlanRefresh, Samples: map[string][]tvsync.ID{}}, check.Plans[0])
	assert.Equal(t, tvsync.PlanResult{Plan: tvsync.PlanRefreshRange, Samples: map[string][]tvsync.ID{}}, check.Plans[2])
	wide := check.Plans[1]
	assert.Equal(t, tvsync.PlanRefreshWide, wide.Plan)
	assert.Equal(t, len(liked), wide.Stale)
	assert.Equal(t, 1, wide.Extra)
	assert.Zero(t, wide.Missing)
	assert.Equal(t, len(liked)+1, wide.Differing())
	assert.Equal(t, liked[:5], wide.Samples[tvsync.PlanStale])
	assert.Equal(t, []tvsync.ID{tvsync.UUIDKey(extra)}, wide.Samples[tvsync.PlanExtra])
	assert.Contains(t, check.String(), fmt.Sprintf("refresh-wide: %d ids differ", len(liked)+1))
	assert.Contains(t, check.String(), liked[0].String())

	others, err := engine.CheckPlans(ctx, blog.EntityUser)
	require.NoError(t, err)
	assert.True(t, others.OK(), others.String())
	assert.Equal(t, before, tvSnapshot(t, pool), "the checks roll back: no tv_ row changed")

	// The one-line helper fails the test, naming the plan and the ids.
	rec := &recordingTB{TB: t}
	syncdbtest.RequirePlansMatchSource(rec, engine, blog.EntityUser, blog.EntityPost)
	assert.True(t, rec.failedNow)
	require.Len(t, rec.errors, 1, "only post differs")
	assert.Contains(t, rec.errors[0], "refresh-wide")
	assert.Contains(t, rec.errors[0], liked[0].String())
	assert.Contains(t, rec.errors[0], extra.String())
}

// TestCheckPlans_EntityWithoutSourceIsAnError: an entity registered without
// Source, or not registered, cannot be checked; the error names it.
func TestCheckPlans_EntityWithoutSourceIsAnError(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	entities := blog.Entities()
	for i := range entities {
		if entities[i].Name == blog.EntityComment {
			entities[i].Source = ""
		}
	}
	engine, err := tvsync.NewEngine(pool, tvsync.Config{}, entities...)
	require.NoError(t, err)

	_, err = engine.CheckPlans(context.Background(), blog.EntityComment)
	require.ErrorIs(t, err, tvsync.ErrNoSource)
	assert.Contains(t, err.Error(), `"comment"`)
	_, err = engine.CheckPlans(context.Background(), "widget")
	require.ErrorIs(t, err, tvsync.ErrUnknownEntity)
	assert.Contains(t, err.Error(), `"widget"`)

	rec := &recordingTB{TB: t}
	syncdbtest.RequirePlansMatchSource(rec, engine)
	assert.True(t, rec.failedNow)
	require.Len(t, rec.errors, 1, "user and post are checked and clean")
	assert.Contains(t, rec.errors[0], `"comment"`)
}

// recordingTB records the failures of a helper under test instead of
// failing the test.
type recordingTB struct {
	testing.TB
	errors    []string
	failedNow bool
}

func (r *recordingTB) Helper() {}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func (r *recordingTB) FailNow() { r.failedNow = true }
