package sync_test

import (
	"context"
	"fmt"
	"slices"
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
		check, err := tvsync.CheckPlansForTest(context.Background(), engine, entity)
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

	check, err := tvsync.CheckPlansForTest(ctx, engine, blog.EntityPost)
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
	assert.Equal(t, liked[:5], wide.Samples[tvsync.PlanStale])
	assert.Equal(t, []tvsync.ID{tvsync.UUIDKey(extra)}, wide.Samples[tvsync.PlanExtra])
	// Given every other post, it builds the same wrong documents of the
	// liked ones, and writes the extra id, which it was not given.
	given, _ := everyOther(sqlIDs(t, pool, "SELECT id FROM tv_post_source ORDER BY id"))
	var likedGiven []tvsync.ID
	for _, id := range liked {
		if slices.Contains(given, id) {
			likedGiven = append(likedGiven, id)
		}
	}
	require.NotEmpty(t, likedGiven)
	assert.Equal(t, len(likedGiven), wide.SubsetStale)
	assert.Equal(t, 1, wide.Outside)
	assert.Zero(t, wide.SubsetMissing)
	assert.Equal(t, likedGiven[:min(5, len(likedGiven))], wide.Samples[tvsync.PlanSubsetStale])
	assert.Equal(t, []tvsync.ID{tvsync.UUIDKey(extra)}, wide.Samples[tvsync.PlanOutside])
	assert.Equal(t, len(liked)+1+len(likedGiven)+1, wide.Differing())
	assert.Contains(t, check.String(), fmt.Sprintf("refresh-wide: %d ids differ", len(liked)+1))
	assert.Contains(t, check.String(), liked[0].String())

	others, err := tvsync.CheckPlansForTest(ctx, engine, blog.EntityUser)
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

	_, err = tvsync.CheckPlansForTest(context.Background(), engine, blog.EntityComment)
	require.ErrorIs(t, err, tvsync.ErrNoSource)
	assert.Contains(t, err.Error(), `"comment"`)
	_, err = tvsync.CheckPlansForTest(context.Background(), engine, "widget")
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

// postEntitiesWith returns the blog's entities with post's RefreshWide
// (when wide is set) or RefreshRange (when rng is set) replaced by a plan
// that queues the given statement: wide takes the ids as $1, rng takes
// after, upto and ids as $1, $2, $3.
func postEntitiesWith(wide, rng string) []tvsync.Entity {
	entities := blog.Entities()
	for i := range entities {
		if entities[i].Name != blog.EntityPost {
			continue
		}
		if wide != "" {
			entities[i].RefreshWide = func(p *tvsync.Pipeline, ids []tvsync.ID) func() (tvsync.RefreshResult, error) {
				b := &pgx.Batch{}
				b.Queue(wide, tvsync.UUIDs(ids))
				br := p.SendBatch(context.Background(), b)
				return func() (tvsync.RefreshResult, error) {
					_, err := br.Exec()
					return tvsync.RefreshResult{Found: len(ids), Upserted: len(ids)}, err
				}
			}
		}
		if rng != "" {
			entities[i].RefreshRange = func(p *tvsync.Pipeline, after, upto tvsync.ID, ids []tvsync.ID) func() (tvsync.RefreshResult, error) {
				b := &pgx.Batch{}
				b.Queue(rng, after.UUID(), upto.UUID(), tvsync.UUIDs(ids))
				br := p.SendBatch(context.Background(), b)
				return func() (tvsync.RefreshResult, error) {
					_, err := br.Exec()
					return tvsync.RefreshResult{Found: len(ids), Upserted: len(ids)}, err
				}
			}
		}
	}
	return entities
}

// everyOther splits ids (in id order) into those at odd positions (the
// second, the fourth, …: the ids CheckPlans gives a plan in its subset
// pass) and the others.
func everyOther(ids []tvsync.ID) (given, others []tvsync.ID) {
	for i, id := range ids {
		if i%2 == 1 {
			given = append(given, id)
		} else {
			others = append(others, id)
		}
	}
	return given, others
}

// TestCheckPlans_PlanWritingOutsideItsIDsIsReported: a wide plan that
// ignores the ids it is given and writes the (right) document of every post
// builds the right tv_post when given every id, but, given every other id,
// writes the others too (outside the batch's locks, in production): the
// check reports them, and leaves tv_post unchanged.
func TestCheckPlans_PlanWritingOutsideItsIDsIsReported(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := seededBlog(t)
	before := tvSnapshot(t, pool)
	engine, err := tvsync.NewEngine(pool, tvsync.Config{BatchSize: 70}, postEntitiesWith(`
		INSERT INTO tv_post (id, data) SELECT s.id, s.data FROM tv_post_source s
		WHERE cardinality($1::uuid[]) > 0
		ON CONFLICT (id) DO UPDATE SET data = EXCLUDED.data`, "")...)
	require.NoError(t, err)
	posts := sqlIDs(t, pool, "SELECT id FROM tv_post_source ORDER BY id")
	require.Len(t, posts, 200)
	given, others := everyOther(posts)

	check, err := tvsync.CheckPlansForTest(ctx, engine, blog.EntityPost)
	require.NoError(t, err)
	assert.False(t, check.OK(), check.String())
	assert.Equal(t, 200, check.IDs)
	assert.Equal(t, len(given), check.SubsetIDs)
	require.Len(t, check.Plans, 3)
	assert.Equal(t, tvsync.PlanResult{Plan: tvsync.PlanRefresh, Samples: map[string][]tvsync.ID{}}, check.Plans[0])
	assert.Equal(t, tvsync.PlanResult{Plan: tvsync.PlanRefreshRange, Samples: map[string][]tvsync.ID{}}, check.Plans[2])
	assert.Equal(t, tvsync.PlanResult{
		Plan:    tvsync.PlanRefreshWide,
		Outside: len(others),
		Samples: map[string][]tvsync.ID{tvsync.PlanOutside: others[:5]},
	}, check.Plans[1], "the documents are right: only the ids differ")
	assert.Equal(t, len(others), check.Plans[1].Differing())
	assert.Contains(t, check.String(), fmt.Sprintf("%d ids written outside the ids it was given (first %v)", len(others), others[:5]))
	assert.Equal(t, before, tvSnapshot(t, pool), "the check rolls back: no tv_ row changed")

	rec := &recordingTB{TB: t}
	syncdbtest.RequirePlansMatchSource(rec, engine, blog.EntityPost)
	require.Len(t, rec.errors, 1)
	assert.Contains(t, rec.errors[0], "refresh-wide")
	assert.Contains(t, rec.errors[0], "written outside the ids it was given")
	assert.Contains(t, rec.errors[0], others[0].String())
}

// TestCheckPlans_RangePlanIgnoringItsIDsIsReported: a range plan that
// writes every document of its keyset range, not only the chunk's listed
// ids (the `@ids` restriction left out), is reported when its chunks list
// only every other id of their range.
func TestCheckPlans_RangePlanIgnoringItsIDsIsReported(t *testing.T) {
	t.Parallel()
	pool := seededBlog(t)
	before := tvSnapshot(t, pool)
	engine, err := tvsync.NewEngine(pool, tvsync.Config{BatchSize: 70}, postEntitiesWith("", `
		INSERT INTO tv_post (id, data) SELECT s.id, s.data FROM tv_post_source s
		WHERE s.id >= $1::uuid AND (s.id > $1::uuid OR s.id = '00000000-0000-0000-0000-000000000000') AND s.id <= $2::uuid
		  AND $3::uuid[] IS NOT NULL
		ON CONFLICT (id) DO UPDATE SET data = EXCLUDED.data`)...)
	require.NoError(t, err)
	_, others := everyOther(sqlIDs(t, pool, "SELECT id FROM tv_post_source ORDER BY id"))

	check, err := tvsync.CheckPlansForTest(context.Background(), engine, blog.EntityPost)
	require.NoError(t, err)
	assert.False(t, check.OK(), check.String())
	require.Len(t, check.Plans, 3)
	assert.Zero(t, check.Plans[0].Differing())
	assert.Zero(t, check.Plans[1].Differing())
	rng := check.Plans[2]
	assert.Equal(t, tvsync.PlanRefreshRange, rng.Plan)
	assert.Equal(t, len(others), rng.Outside)
	assert.Equal(t, others[:5], rng.Samples[tvsync.PlanOutside])
	assert.Zero(t, rng.Missing+rng.Stale+rng.Extra+rng.SubsetMissing+rng.SubsetStale, check.String())
	assert.Equal(t, before, tvSnapshot(t, pool), "the check rolls back: no tv_ row changed")
}

// TestCheckPlans_PlanMissingSomeOfASubsetIsReported: a wide plan that
// assumes its batch is a dense run of ids (the documents of as many posts
// as it was given, from the first) is right given every id; given every
// other id it misses the last ones it was given and writes others: both are
// reported, with ids of the right kind.
func TestCheckPlans_PlanMissingSomeOfASubsetIsReported(t *testing.T) {
	t.Parallel()
	pool := seededBlog(t)
	engine, err := tvsync.NewEngine(pool, tvsync.Config{BatchSize: 70}, postEntitiesWith(`
		INSERT INTO tv_post (id, data)
		SELECT s.id, s.data FROM tv_post_source s
		WHERE s.id >= ($1::uuid[])[1] ORDER BY s.id LIMIT cardinality($1::uuid[])
		ON CONFLICT (id) DO UPDATE SET data = EXCLUDED.data`, "")...)
	require.NoError(t, err)
	given, others := everyOther(sqlIDs(t, pool, "SELECT id FROM tv_post_source ORDER BY id"))

	check, err := tvsync.CheckPlansForTest(context.Background(), engine, blog.EntityPost)
	require.NoError(t, err)
	assert.False(t, check.OK(), check.String())
	require.Len(t, check.Plans, 3)
	wide := check.Plans[1]
	assert.Zero(t, wide.Missing+wide.Stale+wide.Extra, "right given every id")
	assert.Positive(t, wide.SubsetMissing)
	assert.Positive(t, wide.Outside)
	assert.Zero(t, wide.SubsetStale)
	assert.Subset(t, given, wide.Samples[tvsync.PlanSubsetMissing], "missing: ids it was given")
	assert.Subset(t, others, wide.Samples[tvsync.PlanOutside], "outside: ids it was not given")
	assert.Contains(t, check.String(), fmt.Sprintf("%d of those given missing", wide.SubsetMissing))
}

// TestCheckPlans_BigintKeysAreWalkedInNumericOrder: the check lists a
// bigint entity's ids in numeric order (1, 2, …, 10, not 1, 10, 11, …, 2),
// so that its batches and keyset ranges cover every id once, and the ids a
// subset pass gives are those it compares with: the right plans of 30
// items, in batches of 7, pass.
func TestCheckPlans_BigintKeysAreWalkedInNumericOrder(t *testing.T) {
	t.Parallel()
	pool, _, _, ids := itemSetup(t, bigintSeq, true, 30, tvsync.Config{})
	require.Len(t, ids, 30)
	item := itemEntity(bigintSeq, true)
	item.Source = "tv_item_source"
	engine, err := tvsync.NewEngine(pool, tvsync.Config{BatchSize: 7}, item)
	require.NoError(t, err)

	check, err := tvsync.CheckPlansForTest(context.Background(), engine, "item")
	require.NoError(t, err)
	assert.True(t, check.OK(), check.String())
	assert.Equal(t, 30, check.IDs)
	assert.Equal(t, 15, check.SubsetIDs)
	require.Len(t, check.Plans, 2)
	assert.Equal(t, tvsync.PlanRefreshRange, check.Plans[1].Plan)
}

// TestCheckPlans_SourceHoldingAnIDTwiceIsAnError: a Source view that holds
// an id twice defines no document for it; the check fails naming the entity
// and the view, and changes nothing.
func TestCheckPlans_SourceHoldingAnIDTwiceIsAnError(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _, _, _ := itemSetup(t, bigintSeq, true, 4, tvsync.Config{})
	_, err := pool.Exec(ctx, `
		INSERT INTO tv_item (id, data) VALUES (1, '{"kept": true}');
		CREATE VIEW tv_item_twice AS SELECT id, data FROM tv_item_source UNION ALL SELECT id, data FROM tv_item_source WHERE id = 2`)
	require.NoError(t, err)
	item := itemEntity(bigintSeq, true)
	item.Source = "tv_item_twice"
	engine, err := tvsync.NewEngine(pool, tvsync.Config{}, item)
	require.NoError(t, err)

	_, err = tvsync.CheckPlansForTest(ctx, engine, "item")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `entity "item"`)
	assert.Contains(t, err.Error(), "tv_item_twice")
	assert.Contains(t, err.Error(), "twice")
	assert.Equal(t, 1, countRows(t, pool, `SELECT count(*) FROM tv_item WHERE id = 1 AND data = '{"kept": true}'`))
}
