package sync_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/blog"
	"github.com/tvsync/tvsync/internal/expect"
	"github.com/tvsync/tvsync/internal/seed"
	"github.com/tvsync/tvsync/internal/testdb"
	"github.com/tvsync/tvsync/repository"
	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/syncuow"
)

// TestRebuild_ReadersNeverMissARowAndNoWriteIsLost rebuilds tv_post while
// readers read every post continuously and a writer keeps editing posts and
// adding new ones; no read may miss a row or fail, and afterwards verify
// must find zero drift (writes made during the rebuild are in the new table).
func TestRebuild_ReadersNeverMissARowAndNoWriteIsLost(t *testing.T) {
	ctx := context.Background()
	pool := testdb.New(t)
	engine := blog.MustNewEngine(pool, tvsync.Config{})
	repo := repository.New(pool, engine, repository.Options{})
	_, err := seed.Load(ctx, pool, seed.Options{Users: 100, Posts: 3000, Comments: 6000, Likes: 1000})
	require.NoError(t, err)
	_, err = pool.Exec(ctx, "ANALYZE")
	require.NoError(t, err)
	for _, entity := range engine.Entities() {
		_, err := engine.FullSync(ctx, entity, tvsync.FullOptions{})
		require.NoError(t, err)
	}
	rows, err := pool.Query(ctx, "SELECT id FROM tb_post")
	require.NoError(t, err)
	postIDs, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	require.NoError(t, err)
	// Drift the rebuild must fix: one stale row.
	_, err = pool.Exec(ctx, "UPDATE tv_post SET data = '{}' WHERE id = $1", postIDs[0])
	require.NoError(t, err)

	oid := countRows(t, pool, "SELECT 'tv_post'::regclass::oid::int")

	stop := make(chan struct{})
	var reads, missing, failed atomic.Int64
	var firstErr atomic.Value
	var wg gosync.WaitGroup
	for r := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(r), 7))
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, err := repo.GetPost(ctx, postIDs[rng.IntN(len(postIDs))])
				reads.Add(1)
				switch {
				case errors.Is(err, repository.ErrNotFound):
					missing.Add(1)
				case err != nil:
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
			}
		})
	}
	var writes atomic.Int64
	wg.Go(func() {
		rng := rand.New(rand.NewPCG(99, 7))
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			err := repo.InTx(ctx, func(uow *repository.UnitOfWork) error {
				if i%3 == 0 {
					id, err := uow.CreatePost(ctx, uuid.Nil, "", "", false) // rejected: bad input mid-rebuild changes nothing
					_ = id
					if err == nil {
						return errors.New("an empty title was accepted")
					}
				}
				return uow.UpdatePost(ctx, postIDs[rng.IntN(len(postIDs))], fmt.Sprintf("edited during rebuild %d", i), "")
			})
			if err != nil {
				firstErr.CompareAndSwap(nil, err)
				return
			}
			writes.Add(1)
		}
	})

	time.Sleep(50 * time.Millisecond)
	res, err := engine.Rebuild(ctx, blog.EntityPost, tvsync.RebuildOptions{ChunkSize: 500})
	time.Sleep(50 * time.Millisecond)
	close(stop)
	wg.Wait()
	require.NoError(t, err)
	if v := firstErr.Load(); v != nil {
		require.NoError(t, v.(error))
	}
	t.Logf("rebuild: %d rows built in %s, %d differing applied in %s (%d rewritten, %d removed), locks held at most %s (%d attempt(s)); %d reads, %d writes during it",
		res.Rows, res.Build.Round(time.Millisecond), res.Differing, res.Apply.Round(time.Millisecond), res.CaughtUp, res.Removed,
		res.LockHeld.Round(time.Microsecond), res.Attempts, reads.Load(), writes.Load())

	assert.Equal(t, 3000, res.Rows)
	assert.Zero(t, missing.Load(), "no read saw a missing row")
	assert.Zero(t, failed.Load(), "no read failed")
	assert.Positive(t, writes.Load(), "writes happened during the rebuild")
	assert.Positive(t, reads.Load())
	diff, err := expect.Check(ctx, pool)
	require.NoError(t, err)
	assert.Empty(t, diff, "the stale row is fixed and no write made during the rebuild is lost")
	assert.Equal(t, oid, countRows(t, pool, "SELECT 'tv_post'::regclass::oid::int"), "tv_post is the same table")
	assert.Equal(t, 3000, countRows(t, pool, "SELECT count(*) FROM tv_post"))
}

// seeded returns a pool on a fresh database seeded with users, posts,
// comments and likes, every tv_ table fully synced, and its engine.
func seeded(t *testing.T, opts seed.Options) (*pgxpool.Pool, *tvsync.Engine) {
	t.Helper()
	ctx := context.Background()
	pool := testdb.New(t)
	engine := blog.MustNewEngine(pool, tvsync.Config{})
	_, err := seed.Load(ctx, pool, opts)
	require.NoError(t, err)
	for _, entity := range engine.Entities() {
		_, err := engine.FullSync(ctx, entity, tvsync.FullOptions{})
		require.NoError(t, err)
	}
	return pool, engine
}

// listIDs lists the ids a query returns, in the query's order.
func listIDs(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) []uuid.UUID {
	t.Helper()
	rows, err := pool.Query(context.Background(), sql, args...)
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	require.NoError(t, err)
	return out
}

// noDrift checks every tv_ row against the independent Go recomputation.
func noDrift(t *testing.T, pool *pgxpool.Pool, msg string) {
	t.Helper()
	diff, err := expect.Check(context.Background(), pool)
	require.NoError(t, err)
	assert.Empty(t, diff, msg)
}

// TestRebuild_SecondRebuildOfAnEntityIsRefusedWhileOneRuns starts a second
// rebuild of tv_post, from another pool (another process), while the first
// one is between two build chunks: it must be refused with
// ErrRebuildRunning and touch nothing, and the first must finish with every
// row. Before the fix the second dropped the first one's shadow table and
// the first swapped in a partial table.
func TestRebuild_SecondRebuildOfAnEntityIsRefusedWhileOneRuns(t *testing.T) {
	ctx := context.Background()
	pool, engine := seeded(t, seed.Options{Users: 20, Posts: 60, Comments: 60, Likes: 30})
	otherPool, err := pgxpool.NewWithConfig(ctx, pool.Config().Copy())
	require.NoError(t, err)
	t.Cleanup(otherPool.Close)
	other := blog.MustNewEngine(otherPool, tvsync.Config{})
	_, err = pool.Exec(ctx, "UPDATE tv_post SET data = '{}' WHERE id = (SELECT min(id::text)::uuid FROM tb_post)")
	require.NoError(t, err)

	var secondErr error
	calls := 0
	res, err := engine.Rebuild(ctx, blog.EntityPost, tvsync.RebuildOptions{ChunkSize: 10, Progress: func(int) {
		calls++
		if calls == 2 {
			_, secondErr = other.Rebuild(ctx, blog.EntityPost, tvsync.RebuildOptions{ChunkSize: 10})
		}
	}})
	require.NoError(t, err)
	require.ErrorIs(t, secondErr, tvsync.ErrRebuildRunning)
	assert.Contains(t, secondErr.Error(), "post")
	assert.Equal(t, 60, res.Rows)
	assert.Equal(t, 60, countRows(t, pool, "SELECT count(*) FROM tv_post"))
	noDrift(t, pool, "the first rebuild kept every row and fixed the stale one")

	// Once the first is done, the lock is free again.
	_, err = other.Rebuild(ctx, blog.EntityPost, tvsync.RebuildOptions{})
	require.NoError(t, err)
}

// TestRebuild_NoWriteMadeDuringTheBuildIsLost interleaves writes with the
// build deterministically (from the Progress hook, between build chunks):
// post P is liked after the first chunk and unliked after its own chunk was
// built from the liked state, and only then synced by a worker (a no-op for
// the live table, whose updated_at does not move); meanwhile other posts are
// edited, created and deleted, before and after their chunk was built.
// Afterwards every tv_ row must match the independent recomputation. Before
// the fix P's in-between likeCount was resurrected.
func TestRebuild_NoWriteMadeDuringTheBuildIsLost(t *testing.T) {
	ctx := context.Background()
	pool, engine := seeded(t, seed.Options{Users: 20, Posts: 40, Comments: 60, Likes: 0})
	posts := listIDs(t, pool, "SELECT id FROM tb_post ORDER BY id")
	users := listIDs(t, pool, "SELECT id FROM tb_user ORDER BY id")
	afterCommit := repository.New(pool, engine, repository.Options{})
	deferred := afterCommit.WithTiming(syncuow.Deferred)
	worker := must(tvsync.NewWorker(engine, pool, tvsync.WorkerConfig{}))
	const chunk = 10
	liked, edited, deletedBuilt, deletedLater := posts[chunk+2], posts[3], posts[5], posts[3*chunk+1]
	likes := func() float64 { return postDoc(t, pool, liked)["likeCount"].(float64) }
	before := likes()

	var created uuid.UUID
	var hookErr error
	calls := 0
	run := func(fn func(uow *repository.UnitOfWork) error, repo *repository.Repository) {
		if hookErr == nil {
			hookErr = repo.InTx(ctx, fn)
		}
	}
	res, err := engine.Rebuild(ctx, blog.EntityPost, tvsync.RebuildOptions{ChunkSize: chunk, Progress: func(int) {
		calls++
		switch calls {
		case 1: // chunk 1 built; P's chunk (2) not yet
			run(func(uow *repository.UnitOfWork) error { return uow.LikePost(ctx, liked, users[0]) }, deferred)
			run(func(uow *repository.UnitOfWork) error {
				return uow.UpdatePost(ctx, edited, "edited during the build", "")
			}, afterCommit)
			run(func(uow *repository.UnitOfWork) error { return uow.DeletePost(ctx, deletedBuilt) }, afterCommit)
			run(func(uow *repository.UnitOfWork) error {
				var err error
				created, err = uow.CreatePost(ctx, users[1], "created during the build", "", true)
				return err
			}, afterCommit)
		case 2: // P's chunk was built from the liked state
			run(func(uow *repository.UnitOfWork) error { return uow.UnlikePost(ctx, liked, users[0]) }, deferred)
			run(func(uow *repository.UnitOfWork) error { return uow.DeletePost(ctx, deletedLater) }, afterCommit)
			if hookErr == nil {
				_, hookErr = worker.Drain(ctx) // like and unlike synced together: a no-op
			}
		}
	}})
	require.NoError(t, hookErr)
	require.NoError(t, err)
	t.Logf("rebuild: %+v", res)
	assert.Equal(t, before, likes(), "the undone like is not resurrected")
	assert.Equal(t, "edited during the build", postDoc(t, pool, edited)["title"])
	assert.Equal(t, "created during the build", postDoc(t, pool, created)["title"])
	assert.Zero(t, countRows(t, pool, fmt.Sprintf("SELECT count(*) FROM tv_post WHERE id IN ('%s', '%s')", deletedBuilt, deletedLater)))
	noDrift(t, pool, "no write made during the rebuild is lost")
}

// TestRebuild_APlantedShadowSchemaCannotEscalate replays the attack:
// a role with only CONNECT and CREATE on the database creates schema
// tvsync_shadow with its own tvsync_shadow.tvsync_ts(timestamptz), which
// records that it ran and makes the role superuser. A superuser (and then
// the owner) rebuilds tv_post: the rebuild must be unaffected, the planted
// function must never run, and the role must not be superuser.
func TestRebuild_APlantedShadowSchemaCannotEscalate(t *testing.T) {
	ctx := context.Background()
	pool, engine := seeded(t, seed.Options{Users: 10, Posts: 600, Comments: 600, Likes: 100})
	su := superuserPool(t, pool)
	mallory, malloryURL := createLoginRole(t, pool, "mallory")
	_, err := su.Exec(ctx, fmt.Sprintf("GRANT CONNECT, CREATE ON DATABASE %s TO %s",
		pgx.Identifier{databaseName(t, pool)}.Sanitize(), pgx.Identifier{mallory}.Sanitize()))
	require.NoError(t, err)
	attacker := rolePool(t, malloryURL)
	_, err = attacker.Exec(ctx, fmt.Sprintf(`
		CREATE SCHEMA tvsync_shadow;
		GRANT USAGE ON SCHEMA tvsync_shadow TO PUBLIC;
		CREATE TABLE tvsync_shadow.pwned (by_role text);
		GRANT INSERT ON tvsync_shadow.pwned TO PUBLIC;
		CREATE FUNCTION tvsync_shadow.tvsync_ts(ts timestamptz) RETURNS text LANGUAGE plpgsql AS $f$
		BEGIN
			INSERT INTO tvsync_shadow.pwned VALUES (current_user);
			BEGIN
				ALTER ROLE %s SUPERUSER;
			EXCEPTION WHEN OTHERS THEN NULL;
			END;
			RETURN to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
		END $f$;`, pgx.Identifier{mallory}.Sanitize()))
	require.NoError(t, err)

	for _, run := range []struct {
		name string
		e    *tvsync.Engine
	}{{"superuser", blog.MustNewEngine(su, tvsync.Config{})}, {"owner", engine}} {
		name, e := run.name, run.e
		_, err := e.Rebuild(ctx, blog.EntityPost, tvsync.RebuildOptions{}) // chunks large enough for the wide refresh, which calls tvsync_ts
		require.NoError(t, err, "rebuild as %s", name)
		var super bool
		require.NoError(t, su.QueryRow(ctx, "SELECT rolsuper FROM pg_roles WHERE rolname = $1", mallory).Scan(&super))
		assert.False(t, super, "the planted function made %s superuser through a rebuild run as %s", mallory, name)
		assert.Zero(t, countRows(t, su, "SELECT count(*) FROM tvsync_shadow.pwned"), "the planted function ran in a rebuild as %s", name)
	}
	noDrift(t, pool, "the rebuilds are correct")
}

// sqlEntity registers an entity "x" over tb_x (id, name) and tv_x whose
// statements are plain SQL naming the tv_ table as tvTable: the way an
// application outside this module registers its own entity.
func sqlEntity(tvTable string) tvsync.Entity {
	queue := func(p *tvsync.Pipeline, sql string, args ...any) pgx.BatchResults {
		b := &pgx.Batch{}
		b.Queue(sql, args...)
		return p.SendBatch(context.Background(), b)
	}
	list := func(table string) func(context.Context, tvsync.DB, tvsync.ID, int) ([]tvsync.ID, error) {
		return func(ctx context.Context, conn tvsync.DB, after tvsync.ID, limit int) ([]tvsync.ID, error) {
			rows, err := conn.Query(ctx, "SELECT id FROM "+table+" WHERE id > $1 ORDER BY id LIMIT $2", after.UUID(), limit)
			if err != nil {
				return nil, err
			}
			return tvsync.Keys(pgx.CollectRows(rows, pgx.RowTo[uuid.UUID]))
		}
	}
	return tvsync.Entity{
		Name: "x",
		View: "tv_x",
		Refresh: func(p *tvsync.Pipeline, ids []tvsync.ID) func() (tvsync.RefreshResult, error) {
			br := queue(p, `
				WITH src AS (SELECT id, jsonb_build_object('name', name) AS data FROM tb_x WHERE id = ANY($1)),
				up AS (
					INSERT INTO `+tvTable+` AS v (id, data, updated_at) SELECT id, data, clock_timestamp() FROM src
					ON CONFLICT (id) DO UPDATE SET data = EXCLUDED.data, updated_at = EXCLUDED.updated_at
						WHERE v.data IS DISTINCT FROM EXCLUDED.data
					RETURNING v.id)
				SELECT (SELECT count(*) FROM src)::int, (SELECT count(*) FROM up)::int, clock_timestamp()`, tvsync.UUIDs(ids))
			return func() (r tvsync.RefreshResult, err error) {
				err = br.QueryRow().Scan(&r.Found, &r.Upserted, &r.FinishedAt)
				return r, err
			}
		},
		DeleteMissing: func(p *tvsync.Pipeline, ids []tvsync.ID) func() (tvsync.DeleteResult, error) {
			br := queue(p, `
				WITH d AS (DELETE FROM `+tvTable+` v WHERE v.id = ANY($1) AND NOT EXISTS (SELECT 1 FROM tb_x t WHERE t.id = v.id) RETURNING v.id)
				SELECT count(*)::int, clock_timestamp() FROM d`, tvsync.UUIDs(ids))
			return func() (r tvsync.DeleteResult, err error) {
				err = br.QueryRow().Scan(&r.Deleted, &r.FinishedAt)
				return r, err
			}
		},
		IDsAfter:     list("tb_x"),
		ViewIDsAfter: list("tv_x"),
	}
}

// TestRebuild_RefusesAShadowItsRefreshDidNotWrite registers an entity from
// outside the module. With an unqualified refresh the rebuild fixes its
// table; with a refresh naming public.tv_x, which writes the live table and
// leaves the shadow empty, the rebuild must fail with an error saying so and
// leave every live row in place. Before the fix it swapped in an empty table
// and reported success.
func TestRebuild_RefusesAShadowItsRefreshDidNotWrite(t *testing.T) {
	for _, tc := range []struct {
		name, table string
		ok          bool
	}{{"unqualified refresh rebuilds", "tv_x", true}, {"schema-qualified refresh is refused", "public.tv_x", false}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			pool := testdb.New(t)
			_, err := pool.Exec(ctx, `
				CREATE TABLE tb_x (id uuid PRIMARY KEY, name text NOT NULL);
				CREATE TABLE tv_x (id uuid PRIMARY KEY, data jsonb NOT NULL, updated_at timestamptz NOT NULL DEFAULT now());
				INSERT INTO tb_x SELECT gen_random_uuid(), 'x' || g FROM generate_series(1, 25) g;`)
			require.NoError(t, err)
			engine, err := tvsync.NewEngine(pool, tvsync.Config{}, sqlEntity(tc.table))
			require.NoError(t, err)
			_, err = engine.Sync(ctx, tvsync.ModeIncremental, tvsync.Change{Entity: "x", IDs: tvsync.UUIDKeys(listIDs(t, pool, "SELECT id FROM tb_x"))})
			require.NoError(t, err)
			_, err = pool.Exec(ctx, "UPDATE tv_x SET data = '{}' WHERE id = (SELECT min(id::text)::uuid FROM tb_x)")
			require.NoError(t, err)

			res, err := engine.Rebuild(ctx, "x", tvsync.RebuildOptions{ChunkSize: 10})
			if tc.ok {
				require.NoError(t, err)
				assert.Equal(t, 25, res.Rows)
				assert.Zero(t, countRows(t, pool, "SELECT count(*) FROM tv_x v JOIN tb_x t USING (id) WHERE v.data <> jsonb_build_object('name', t.name)"), "the stale row is fixed")
			} else {
				require.Error(t, err)
				assert.Contains(t, err.Error(), "tv_x")
				t.Log(err)
			}
			assert.Equal(t, 25, countRows(t, pool, "SELECT count(*) FROM tv_x"), "every live row is still there")
		})
	}
}

// TestRebuild_KeepsTheLiveTable gives tv_post what an operator adds to a
// table (a grant, a comment, row-level security with a policy, a trigger, a
// publication, a view over it) and rebuilds it: the table must keep its
// identity (the same oid) and all of these. Before the fix the swap dropped
// the table, which the view forbids, and without the view lost the rest.
func TestRebuild_KeepsTheLiveTable(t *testing.T) {
	ctx := context.Background()
	pool, engine := seeded(t, seed.Options{Users: 10, Posts: 30, Comments: 30, Likes: 10})
	reader, _ := createLoginRole(t, pool, "reader")
	r := pgx.Identifier{reader}.Sanitize()
	_, err := pool.Exec(ctx, `
		GRANT SELECT ON tv_post TO `+r+`;
		COMMENT ON TABLE tv_post IS 'kept by rebuild';
		ALTER TABLE tv_post ENABLE ROW LEVEL SECURITY;
		CREATE POLICY published_only ON tv_post FOR SELECT TO `+r+` USING ((data->>'published')::boolean);
		CREATE TABLE post_audit (id uuid);
		CREATE FUNCTION post_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO post_audit VALUES (NEW.id); RETURN NEW; END $$;
		CREATE TRIGGER post_audit AFTER INSERT OR UPDATE ON tv_post FOR EACH ROW EXECUTE FUNCTION post_audit();
		CREATE PUBLICATION tv_post_pub FOR TABLE tv_post;
		CREATE VIEW published_posts AS SELECT id, data FROM tv_post WHERE (data->>'published')::boolean;
		UPDATE tv_post SET data = '{}' WHERE id = (SELECT min(id::text)::uuid FROM tb_post);
		TRUNCATE post_audit;`)
	require.NoError(t, err)
	identity := func() string {
		var s string
		require.NoError(t, pool.QueryRow(ctx, `
			SELECT format('oid=%s owner=%s acl=%s rls=%s comment=%s policies=%s triggers=%s publications=%s',
				c.oid, c.relowner::regrole, c.relacl, c.relrowsecurity, obj_description(c.oid, 'pg_class'),
				(SELECT string_agg(polname, ',') FROM pg_policy WHERE polrelid = c.oid),
				(SELECT string_agg(tgname, ',') FROM pg_trigger WHERE tgrelid = c.oid AND NOT tgisinternal),
				(SELECT string_agg(p.pubname, ',') FROM pg_publication_rel pr JOIN pg_publication p ON p.oid = pr.prpubid WHERE pr.prrelid = c.oid))
			FROM pg_class c WHERE c.oid = 'public.tv_post'::regclass`).Scan(&s))
		return s
	}
	before := identity()

	_, err = engine.Rebuild(ctx, blog.EntityPost, tvsync.RebuildOptions{ChunkSize: 10})
	require.NoError(t, err)
	assert.Equal(t, before, identity())
	assert.Equal(t, 1, countRows(t, pool, "SELECT count(*) FROM post_audit"), "the trigger fired for the one row the rebuild fixed, and only for it")
	assert.Equal(t, countRows(t, pool, "SELECT count(*) FROM tb_post WHERE published"), countRows(t, pool, "SELECT count(*) FROM published_posts"))
	noDrift(t, pool, "the rebuild fixed the stale row")
}

// TestRebuild_NeverWaitsForOrBlocksReaders holds a reader's lock on tv_post
// (ACCESS SHARE, in an open transaction) for the whole rebuild: the rebuild
// must finish without ever needing a lock that conflicts with it. Before the
// fix the swap's ACCESS EXCLUSIVE lock timed out on every attempt (and while
// it waited, every new reader queued behind it).
func TestRebuild_NeverWaitsForOrBlocksReaders(t *testing.T) {
	ctx := context.Background()
	pool, engine := seeded(t, seed.Options{Users: 10, Posts: 30, Comments: 30, Likes: 10})
	_, err := pool.Exec(ctx, "UPDATE tv_post SET data = '{}' WHERE id = (SELECT min(id::text)::uuid FROM tb_post)")
	require.NoError(t, err)
	reader, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = reader.Rollback(ctx) }()
	_, err = reader.Exec(ctx, "SELECT count(*) FROM tv_post")
	require.NoError(t, err)

	res, err := engine.Rebuild(ctx, blog.EntityPost, tvsync.RebuildOptions{ChunkSize: 10, LockTimeout: 100 * time.Millisecond, Attempts: 3})
	require.NoError(t, err)
	require.NoError(t, reader.Rollback(ctx))
	t.Logf("rebuild: %+v", res)
	noDrift(t, pool, "the rebuild fixed the stale row while a reader held its lock")
}

// TestRebuild_TakesItsLocksInTheOrderLiveSyncsDo: a live sync holds the
// advisory locks of post X (as every sync does before it writes) while the
// rebuild needs X (its row is missing from tv_post); once the rebuild waits
// for X, the live sync writes tv_post and commits. Both must succeed. Before
// the fix the rebuild held tv_post's ACCESS EXCLUSIVE lock while it waited
// for X's advisory lock, and the live sync's write closed a deadlock. The
// live sync takes its locks once the build is done (from the Progress hook).
func TestRebuild_TakesItsLocksInTheOrderLiveSyncsDo(t *testing.T) {
	ctx := context.Background()
	pool, engine := seeded(t, seed.Options{Users: 10, Posts: 30, Comments: 30, Likes: 10})
	posts := listIDs(t, pool, "SELECT id FROM tb_post ORDER BY id")
	x, y := posts[7], posts[20]
	_, err := pool.Exec(ctx, "DELETE FROM tv_post WHERE id = $1", x)
	require.NoError(t, err)

	live, err := pgx.Connect(ctx, testdb.ServerURL(databaseName(t, pool)))
	require.NoError(t, err)
	defer func() { _ = live.Close(ctx) }()
	var livePID int
	require.NoError(t, live.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&livePID))
	var tx pgx.Tx
	lockLikeALiveSync := func() error { // once the build is done
		var err error
		if tx, err = live.Begin(ctx); err != nil {
			return err
		}
		for _, k := range tvsync.LockKeysForTest(engine, blog.EntityPost, tvsync.UUIDKeys([]uuid.UUID{x, y})) {
			if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", k); err != nil {
				return err
			}
		}
		return nil
	}

	locked := make(chan error, 1)
	done := make(chan error, 1)
	go func() {
		_, err := engine.Rebuild(ctx, blog.EntityPost, tvsync.RebuildOptions{ChunkSize: 10, LockTimeout: 30 * time.Second, Progress: func(n int) {
			if n == len(posts) {
				locked <- lockLikeALiveSync()
			}
		}})
		done <- err
	}()
	require.NoError(t, <-locked)
	eventually(t, "the rebuild waits for X's advisory lock", func() bool {
		return countRows(t, pool, fmt.Sprintf(`SELECT count(*) FROM pg_stat_activity
			WHERE wait_event_type = 'Lock' AND wait_event = 'advisory' AND pid <> %d AND datname = current_database()`, livePID)) == 1
	})
	_, err = tx.Exec(ctx, "UPDATE tv_post SET updated_at = clock_timestamp() WHERE id = $1", y)
	require.NoError(t, err, "the live sync's write")
	require.NoError(t, tx.Commit(ctx))
	require.NoError(t, <-done)
	noDrift(t, pool, "the rebuild restored X")
}

// TestRebuild_CoversTheNilID: a post whose id is the all-zero uuid, with a
// stale tv_post row, must be rebuilt, not dropped or left stale.
func TestRebuild_CoversTheNilID(t *testing.T) {
	ctx := context.Background()
	pool, engine := seeded(t, seed.Options{Users: 5, Posts: 20, Comments: 20, Likes: 5})
	author := listIDs(t, pool, "SELECT id FROM tb_user ORDER BY id LIMIT 1")
	_, err := pool.Exec(ctx, `INSERT INTO tb_post (id, author_id, title) VALUES ($1, $2, 'nil')`, uuid.Nil, author[0])
	require.NoError(t, err)
	_, err = engine.Sync(ctx, tvsync.ModeIncremental, tvsync.Change{Entity: blog.EntityPost, IDs: []tvsync.ID{tvsync.UUIDKey(uuid.Nil)}},
		tvsync.Change{Entity: blog.EntityUser, IDs: tvsync.UUIDKeys(author)})
	require.NoError(t, err)
	_, err = pool.Exec(ctx, "UPDATE tv_post SET data = '{}' WHERE id = $1", uuid.Nil)
	require.NoError(t, err)

	res, err := engine.Rebuild(ctx, blog.EntityPost, tvsync.RebuildOptions{ChunkSize: 7})
	require.NoError(t, err)
	assert.Equal(t, 21, res.Rows)
	assert.Equal(t, "nil", postDoc(t, pool, uuid.Nil)["title"])
	noDrift(t, pool, "the nil post is rebuilt")
}

// TestRebuild_RepeatsOnOnePooledConnection runs live syncs and rebuilds
// alternately on a pool of one connection, so that each rebuild runs on the
// backend whose cached statements the live syncs (and the previous rebuild)
// prepared, with the rebuild's own search_path (so that no change of path
// forces PostgreSQL to re-parse them): every rebuild must build its own
// table and fix the drift, and every live sync must write the live table.
func TestRebuild_RepeatsOnOnePooledConnection(t *testing.T) {
	ctx := context.Background()
	owner, _ := seeded(t, seed.Options{Users: 10, Posts: 30, Comments: 30, Likes: 10})
	cfg, err := pgxpool.ParseConfig(testdb.ServerURL(databaseName(t, owner)))
	require.NoError(t, err)
	cfg.MaxConns = 1
	cfg.ConnConfig.RuntimeParams["search_path"] = "pg_catalog, public"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	engine := blog.MustNewEngine(pool, tvsync.Config{})
	repo := repository.New(pool, engine, repository.Options{Sync: syncuow.Inline})
	posts := listIDs(t, pool, "SELECT id FROM tb_post ORDER BY id")
	for i := range 3 {
		require.NoError(t, repo.InTx(ctx, func(uow *repository.UnitOfWork) error {
			return uow.UpdatePost(ctx, posts[i], fmt.Sprintf("round %d", i), "")
		}))
		assert.Equal(t, fmt.Sprintf("round %d", i), postDoc(t, pool, posts[i])["title"], "the live sync wrote the live table")
		_, err = pool.Exec(ctx, "UPDATE tv_post SET data = '{}' WHERE id = $1", posts[10+i])
		require.NoError(t, err)
		_, err := engine.Rebuild(ctx, blog.EntityPost, tvsync.RebuildOptions{})
		require.NoError(t, err, "rebuild %d", i)
		noDrift(t, pool, fmt.Sprintf("rebuild %d fixed the stale row", i))
	}
}

// TestRebuild_RetriesWhenItsLocksTimeOut: a live sync holds the advisory
// lock of post X, whose row the rebuild must restore, for longer than the
// rebuild's LockTimeout. The rebuild must give up waiting (so that syncs
// queued behind it are not held), log it, retry, and succeed once the lock
// is free.
func TestRebuild_RetriesWhenItsLocksTimeOut(t *testing.T) {
	ctx := context.Background()
	pool, _ := seeded(t, seed.Options{Users: 10, Posts: 30, Comments: 30, Likes: 10})
	h := newRecordHandler()
	engine := blog.MustNewEngine(pool, tvsync.Config{Logger: slog.New(h)})
	x := listIDs(t, pool, "SELECT id FROM tb_post ORDER BY id")[11]
	_, err := pool.Exec(ctx, "DELETE FROM tv_post WHERE id = $1", x)
	require.NoError(t, err)
	live, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = live.Rollback(ctx) }()
	keys := tvsync.LockKeysForTest(engine, blog.EntityPost, tvsync.UUIDKeys([]uuid.UUID{x}))
	_, err = live.Exec(ctx, "SELECT count(pg_advisory_xact_lock(k)) FROM unnest($1::bigint[]) AS l(k)", keys)
	require.NoError(t, err)

	done := make(chan error, 1)
	var res tvsync.RebuildResult
	go func() {
		var err error
		res, err = engine.Rebuild(ctx, blog.EntityPost, tvsync.RebuildOptions{ChunkSize: 10, LockTimeout: 20 * time.Millisecond, Attempts: 1000})
		done <- err
	}()
	eventually(t, "the rebuild logs a retry", func() bool { return len(h.withMessage("tvsync: rebuild could not take its locks; retrying")) > 0 })
	require.NoError(t, live.Commit(ctx))
	require.NoError(t, <-done)
	assert.GreaterOrEqual(t, res.Attempts, 2)
	noDrift(t, pool, "the rebuild restored X once the lock was free")
}

// TestRebuild_ApplyLocksOnlyTheIdsItChanges holds the rebuild inside its
// first apply transaction (the gate makes its read of tv_post_source wait
// once the build is done) while it holds the locks of the first of 200
// stale posts, P among them: a live sync of post Q, whose id shares P's
// first byte but which is not stale, must go through, and only a live sync
// of P waits. What the rebuild locks is what it changes, id by id, however
// many ids differ.
func TestRebuild_ApplyLocksOnlyTheIdsItChanges(t *testing.T) {
	ctx := context.Background()
	pool, gatedPool, url := twoPools(t)
	engine := blog.MustNewEngine(pool, tvsync.Config{})
	rebuilder := blog.MustNewEngine(gatedPool, tvsync.Config{})
	_, err := seed.Load(ctx, pool, seed.Options{Users: 5, Posts: 300, Comments: 100, Likes: 50})
	require.NoError(t, err)
	posts := listIDs(t, pool, "SELECT id FROM tb_post ORDER BY id")
	p := posts[9]
	q := p
	q[1] ^= 0xff // the same first byte, another id
	_, err = pool.Exec(ctx, "INSERT INTO tb_post (id, author_id, title) SELECT $1, author_id, 'q' FROM tb_post WHERE id = $2", q, p)
	require.NoError(t, err)
	for _, entity := range engine.Entities() {
		_, err := engine.FullSync(ctx, entity, tvsync.FullOptions{})
		require.NoError(t, err)
	}
	_, err = pool.Exec(ctx, "UPDATE tv_post SET data = '{}' WHERE id = ANY($1)", posts[:200])
	require.NoError(t, err)
	g := installGate(t, pool, url)

	built := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := rebuilder.Rebuild(ctx, blog.EntityPost, tvsync.RebuildOptions{Progress: func(n int) {
			if n == 301 { // every post built, Q included
				g.close()
				close(built)
			}
		}})
		done <- err
	}()
	<-built
	eventually(t, "the rebuild's apply is held inside its read", func() bool { return g.waiting(true) == 1 })
	syncOf := func(id uuid.UUID) (waits bool, finished chan error) {
		finished = make(chan error, 1)
		go func() {
			_, err := blog.Syncer{Syncer: engine}.SyncPost(ctx, []uuid.UUID{id}, tvsync.ModeIncremental)
			finished <- err
		}()
		eventually(t, "the live sync finished or waits", func() bool {
			if len(finished) > 0 {
				return true
			}
			waits = g.waiting(false) == 1
			return waits
		})
		return waits, finished
	}
	waitsQ, syncQ := syncOf(q)
	assert.False(t, waitsQ, "a live sync of Q, close to P, goes through")
	if !waitsQ {
		require.NoError(t, <-syncQ)
	}
	waitsP, syncP := syncOf(p)
	assert.True(t, waitsP, "a live sync of P waits for the rebuild")
	g.open()
	require.NoError(t, <-done)
	require.NoError(t, <-syncP)
	if waitsQ {
		require.NoError(t, <-syncQ)
	}
	noDrift(t, pool, "the rebuild fixed the stale posts")
}
