package sync_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/blog"
	"github.com/tvsync/tvsync/internal/expect"
	"github.com/tvsync/tvsync/internal/testdb"
	"github.com/tvsync/tvsync/repository"
	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/syncuow"
)

// gatedApp is the application_name of connections whose reads of
// tv_post_source block while the test holds the gate.
const gatedApp = "gated"

const gateLockKey = 424242

// twoPools returns two pools on one fresh database: a normal one and one
// whose sessions are held by the gate.
func twoPools(t *testing.T) (normal, gated *pgxpool.Pool, url string) {
	t.Helper()
	url = testdb.URL(t)
	open := func(app string) *pgxpool.Pool {
		cfg, err := pgxpool.ParseConfig(url)
		require.NoError(t, err)
		if app != "" {
			cfg.ConnConfig.RuntimeParams["application_name"] = app
		}
		pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
		require.NoError(t, err)
		t.Cleanup(pool.Close)
		return pool
	}
	return open(""), open(gatedApp), url
}

// gate makes every read of tv_post_source by a gated session wait, after its
// statement has taken its snapshot, until the test opens the gate.
type gate struct {
	t    *testing.T
	conn *pgx.Conn
	pool *pgxpool.Pool
}

func installGate(t *testing.T, pool *pgxpool.Pool, url string) *gate {
	t.Helper()
	ctx := context.Background()
	_, err := pool.Exec(ctx, `
		CREATE FUNCTION tvsync_test_gate() RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
		BEGIN
			IF current_setting('application_name') = 'gated' THEN
				PERFORM pg_advisory_xact_lock_shared(424242);
			END IF;
			RETURN true;
		END $$;
		ALTER VIEW tv_post_source RENAME TO tv_post_source_ungated;
		CREATE VIEW tv_post_source AS SELECT id, data FROM tv_post_source_ungated WHERE tvsync_test_gate();`)
	require.NoError(t, err)
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return &gate{t: t, conn: conn, pool: pool}
}

func (g *gate) close() {
	_, err := g.conn.Exec(context.Background(), "SELECT pg_advisory_lock($1)", gateLockKey)
	require.NoError(g.t, err)
}

func (g *gate) open() {
	_, err := g.conn.Exec(context.Background(), "SELECT pg_advisory_unlock($1)", gateLockKey)
	require.NoError(g.t, err)
}

// waiting counts sessions (gated or not) waiting on an advisory lock.
func (g *gate) waiting(gated bool) int {
	var n int
	require.NoError(g.t, g.pool.QueryRow(context.Background(), `
		SELECT count(*) FROM pg_stat_activity
		WHERE wait_event_type = 'Lock' AND wait_event = 'advisory'
		  AND (application_name = 'gated') = $1 AND datname = current_database()`, gated).Scan(&n))
	return n
}

// eventually polls cond for up to 20 seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func postDoc(t *testing.T, pool *pgxpool.Pool, id uuid.UUID) map[string]any {
	t.Helper()
	var raw []byte
	require.NoError(t, pool.QueryRow(context.Background(), "SELECT data FROM tv_post WHERE id = $1", id).Scan(&raw))
	var doc map[string]any
	require.NoError(t, json.Unmarshal(raw, &doc))
	return doc
}

// TestSync_OverlappingSyncsConvergeToNewest reproduces the seed's race: sync
// A reads post P ("v1") and is held inside its read; meanwhile a write sets
// "v2" and its after-commit sync B runs; then A's upsert lands. Without the
// advisory locks A lands last with "v1" for good (the subtest proves the
// interleaving really happens); with them B waits for A and reads "v2".
func TestSync_OverlappingSyncsConvergeToNewest(t *testing.T) {
	for _, tc := range []struct {
		name      string
		skipLocks bool
		want      string
	}{{"with locks converges to newest", false, "v2"}, {"without locks the older read lands last", true, "v1"}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			pool, gatedPool, url := twoPools(t)
			engineB := blog.MustNewEngine(pool, tvsync.Config{})
			engineA := blog.MustNewEngine(gatedPool, tvsync.Config{})
			tvsync.SetSkipLocksForTest(engineA, tc.skipLocks)
			tvsync.SetSkipLocksForTest(engineB, tc.skipLocks)
			repo := repository.New(pool, engineB, repository.Options{})

			var postID uuid.UUID
			require.NoError(t, repo.InTx(ctx, func(uow *repository.UnitOfWork) error {
				u, err := uow.CreateUser(ctx, "writer", "")
				if err != nil {
					return err
				}
				postID, err = uow.CreatePost(ctx, u, "v1", "", true)
				return err
			}))
			g := installGate(t, pool, url)
			g.close()

			doneA := make(chan error, 1)
			go func() {
				_, err := blog.Syncer{Syncer: engineA}.SyncPost(ctx, []uuid.UUID{postID}, tvsync.ModeIncremental)
				doneA <- err
			}()
			eventually(t, "sync A is held inside its read", func() bool { return g.waiting(true) == 1 })

			doneB := make(chan error, 1)
			go func() {
				doneB <- repo.InTx(ctx, func(uow *repository.UnitOfWork) error { return uow.UpdatePost(ctx, postID, "v2", "") })
			}()
			var errB error
			finishedB := false
			eventually(t, "the write's sync B finished or waits for A", func() bool {
				select {
				case errB = <-doneB:
					finishedB = true
					return true
				default:
					return g.waiting(false) == 1
				}
			})
			assert.Equal(t, tc.skipLocks, finishedB, "B waits for A exactly when the locks are on")

			g.open()
			require.NoError(t, <-doneA)
			if !finishedB {
				errB = <-doneB
			}
			require.NoError(t, errB)
			assert.Equal(t, tc.want, postDoc(t, pool, postID)["title"])
			if !tc.skipLocks {
				diff, err := expect.Check(ctx, pool)
				require.NoError(t, err)
				assert.Empty(t, diff)
			}
		})
	}
}

// TestSync_InlineSyncsConvergeWhenADependencyChanges: unit of work T1 adds a
// comment to post P and syncs P inside its transaction, held inside its read
// (author "old"); T2 renames P's author and syncs P inline. Without locks T1
// lands last with the old name; with them T2's sync waits for T1 to commit
// and reads both changes.
func TestSync_InlineSyncsConvergeWhenADependencyChanges(t *testing.T) {
	for _, tc := range []struct {
		name      string
		skipLocks bool
		want      string
	}{{"with locks converges to newest", false, "new"}, {"without locks the older read lands last", true, "old"}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			pool, gatedPool, url := twoPools(t)
			engine := blog.MustNewEngine(pool, tvsync.Config{})
			gatedEngine := blog.MustNewEngine(gatedPool, tvsync.Config{})
			tvsync.SetSkipLocksForTest(engine, tc.skipLocks)
			tvsync.SetSkipLocksForTest(gatedEngine, tc.skipLocks)
			repo := repository.New(pool, engine, repository.Options{Sync: syncuow.Inline})
			gatedRepo := repository.New(gatedPool, gatedEngine, repository.Options{Sync: syncuow.Inline})

			var author, reader, postID uuid.UUID
			require.NoError(t, repo.InTx(ctx, func(uow *repository.UnitOfWork) error {
				var err error
				if author, err = uow.CreateUser(ctx, "old", ""); err != nil {
					return err
				}
				if reader, err = uow.CreateUser(ctx, "reader", ""); err != nil {
					return err
				}
				postID, err = uow.CreatePost(ctx, author, "p", "", true)
				return err
			}))
			g := installGate(t, pool, url)
			g.close()

			done1 := make(chan error, 1)
			go func() {
				done1 <- gatedRepo.InTx(ctx, func(uow *repository.UnitOfWork) error {
					_, err := uow.AddComment(ctx, postID, reader, "hi")
					return err
				})
			}()
			eventually(t, "T1's inline sync is held inside its read", func() bool { return g.waiting(true) == 1 })

			done2 := make(chan error, 1)
			go func() {
				done2 <- repo.InTx(ctx, func(uow *repository.UnitOfWork) error { return uow.RenameUser(ctx, author, "new", "") })
			}()
			var err2 error
			finished2 := false
			eventually(t, "T2 committed or waits for T1", func() bool {
				select {
				case err2 = <-done2:
					finished2 = true
					return true
				default:
					return g.waiting(false) == 1
				}
			})
			assert.Equal(t, tc.skipLocks, finished2)
			g.open()
			require.NoError(t, <-done1)
			if !finished2 {
				err2 = <-done2
			}
			require.NoError(t, err2)

			doc := postDoc(t, pool, postID)
			assert.Equal(t, tc.want, doc["author"].(map[string]any)["username"])
			assert.Equal(t, float64(1), doc["commentCount"])
			if !tc.skipLocks {
				diff, err := expect.Check(ctx, pool)
				require.NoError(t, err)
				assert.Empty(t, diff)
			}
		})
	}
}

// TestSync_LocksAreTakenIDByID: while a small sync of post P is held inside
// its read, syncs of other posts proceed however many ids they hold and
// however close those are to P (the same first byte), but a large batch that
// includes P and a full sync (whose chunk lists P) wait for it.
func TestSync_LocksAreTakenIDByID(t *testing.T) {
	ctx := context.Background()
	pool, gatedPool, url := twoPools(t)
	engine := blog.MustNewEngine(pool, tvsync.Config{})
	gated := blog.MustNewEngine(gatedPool, tvsync.Config{})
	var author uuid.UUID
	require.NoError(t, pool.QueryRow(ctx, "INSERT INTO tb_user (username) VALUES ('h') RETURNING id").Scan(&author))
	p := uuid.New()
	q := p
	q[1] ^= 0xff // the same first byte, another id
	for _, id := range []uuid.UUID{p, q} {
		_, err := pool.Exec(ctx, "INSERT INTO tb_post (id, author_id, title) VALUES ($1, $2, 't')", id, author)
		require.NoError(t, err)
	}
	large := func(with ...uuid.UUID) []uuid.UUID {
		ids := append([]uuid.UUID{}, with...)
		for len(ids) < 300 {
			ids = append(ids, uuid.New())
		}
		return ids
	}
	g := installGate(t, pool, url)

	for _, tc := range []struct {
		name  string
		waits bool
		sync  func() error
	}{
		{"small sync of a close id proceeds", false, func() error {
			_, err := blog.Syncer{Syncer: engine}.SyncPost(ctx, []uuid.UUID{q}, tvsync.ModeIncremental)
			return err
		}},
		{"large batch of other ids proceeds", false, func() error {
			_, err := blog.Syncer{Syncer: engine}.SyncPost(ctx, large(q), tvsync.ModeIncremental)
			return err
		}},
		{"large batch including the id waits", true, func() error {
			_, err := blog.Syncer{Syncer: engine}.SyncPost(ctx, large(p), tvsync.ModeIncremental)
			return err
		}},
		{"full sync waits", true, func() error {
			_, err := engine.FullSync(ctx, blog.EntityPost, tvsync.FullOptions{})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g.close()
			heldDone := make(chan error, 1)
			go func() {
				_, err := blog.Syncer{Syncer: gated}.SyncPost(ctx, []uuid.UUID{p}, tvsync.ModeIncremental)
				heldDone <- err
			}()
			eventually(t, "the small sync of P is held inside its read", func() bool { return g.waiting(true) == 1 })
			done := make(chan error, 1)
			go func() { done <- tc.sync() }()
			finished := false
			eventually(t, "the other sync finished or waits", func() bool {
				select {
				case err := <-done:
					require.NoError(t, err)
					finished = true
					return true
				default:
					return g.waiting(false) == 1
				}
			})
			assert.Equal(t, tc.waits, !finished)
			g.open()
			require.NoError(t, <-heldDone)
			if !finished {
				require.NoError(t, <-done)
			}
		})
	}
}

// TestFullSync_RangeChunkWritesOnlyTheIDsItLocked: a full-sync chunk lists
// its posts, then a post N is created in its keyset range; the chunk's range
// refresh reads N ("v1") and is held inside its read, N is renamed "v2" and
// synced (it does not wait: the chunk did not lock N), then the chunk lands.
// The range refresh writes only the ids the chunk listed and locked, so N
// keeps "v2"; a range refresh over the whole range would write "v1" over it.
func TestFullSync_RangeChunkWritesOnlyTheIDsItLocked(t *testing.T) {
	ctx := context.Background()
	pool, gatedPool, url := twoPools(t)
	engine := blog.MustNewEngine(pool, tvsync.Config{})
	repo := repository.New(pool, engine, repository.Options{})
	var author uuid.UUID
	require.NoError(t, repo.InTx(ctx, func(uow *repository.UnitOfWork) error {
		var err error
		if author, err = uow.CreateUser(ctx, "a", ""); err != nil {
			return err
		}
		for range 3 {
			if _, err := uow.CreatePost(ctx, author, "old", "", true); err != nil {
				return err
			}
		}
		return nil
	}))

	var newPost uuid.UUID
	post, err := engine.Entity(blog.EntityPost)
	require.NoError(t, err)
	require.NotNil(t, post.RefreshRange, "the chunk is synced by range")
	post.Cascades = nil // registered alone
	list := post.IDsAfter
	post.IDsAfter = func(ctx context.Context, _ tvsync.DB, after tvsync.ID, limit int) ([]tvsync.ID, error) {
		ids, err := list(ctx, pool, after, limit) // an ungated session: only the refresh waits at the gate
		if err == nil && newPost == uuid.Nil {
			// Created after the chunk listed its ids, in its range (the only chunk reaches the largest key).
			err = pool.QueryRow(ctx, "INSERT INTO tb_post (author_id, title) VALUES ($1, 'v1') RETURNING id", author).Scan(&newPost)
		}
		return ids, err
	}
	full, err := tvsync.NewEngine(gatedPool, tvsync.Config{}, post)
	require.NoError(t, err)
	g := installGate(t, pool, url)
	// The range refresh reads tb_post, not tv_post_source: gate its rows too.
	_, err = pool.Exec(ctx, `
		ALTER TABLE tb_post ENABLE ROW LEVEL SECURITY;
		ALTER TABLE tb_post FORCE ROW LEVEL SECURITY;
		CREATE POLICY open ON tb_post USING (true) WITH CHECK (true);
		CREATE POLICY gate ON tb_post AS RESTRICTIVE FOR SELECT USING (tvsync_test_gate())`)
	require.NoError(t, err)
	g.close()
	done := make(chan error, 1)
	go func() {
		_, err := full.FullSync(ctx, blog.EntityPost, tvsync.FullOptions{Workers: 1})
		done <- err
	}()
	eventually(t, "the chunk's range refresh is held inside its read", func() bool { return g.waiting(true) == 1 })
	require.NotEqual(t, uuid.Nil, newPost)
	require.NoError(t, repo.InTx(ctx, func(uow *repository.UnitOfWork) error { return uow.UpdatePost(ctx, newPost, "v2", "") }),
		"the sync of the new post does not wait for the chunk")
	g.open()
	require.NoError(t, <-done)
	assert.Equal(t, "v2", postDoc(t, pool, newPost)["title"])
	_, err = blog.Syncer{Syncer: engine}.SyncUser(ctx, []uuid.UUID{author}, tvsync.ModeIncremental) // the post was inserted behind its back
	require.NoError(t, err)
	diff, err := expect.Check(ctx, pool)
	require.NoError(t, err)
	assert.Empty(t, diff)
}

// TestSyncTx_ChunksInOneTransactionCannotDeadlock: two syncs in
// transactions of their own callers, each split into chunks (BatchSize 1)
// that hold a lock the other's later chunk needs: T1 (posts P1, P2, user
// U1) is held inside its first chunk's read, T2 (post P2, users U0, U1)
// runs meanwhile. Chunk by chunk, T1 would hold P1 and U1 and wait for P2
// while T2 holds P2 and waits for U1, a deadlock. The engine takes every
// lock of a multi-chunk sync in one sorted statement before its first
// chunk, so T2 waits for T1 and both commit.
func TestSyncTx_ChunksInOneTransactionCannotDeadlock(t *testing.T) {
	ctx := context.Background()
	pool, gatedPool, url := twoPools(t)
	rows, err := pool.Query(ctx, "INSERT INTO tb_user (username) SELECT 'u' || g FROM generate_series(1, 2) g RETURNING id")
	require.NoError(t, err)
	users, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	require.NoError(t, err)
	rows, err = pool.Query(ctx, "INSERT INTO tb_post (author_id, title) SELECT $1, 'p' || g FROM generate_series(1, 2) g RETURNING id", users[0])
	require.NoError(t, err)
	posts, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	require.NoError(t, err)
	sortUUIDs := func(ids []uuid.UUID) {
		slices.SortFunc(ids, func(a, b uuid.UUID) int { return tvsync.UUIDKey(a).Compare(tvsync.UUIDKey(b)) })
	}
	sortUUIDs(users)
	sortUUIDs(posts)
	u0, u1, p1, p2 := users[0], users[1], posts[0], posts[1]
	g := installGate(t, pool, url)
	g.close()

	inTx := func(pool *pgxpool.Pool, changes ...tvsync.Change) error {
		engine := blog.MustNewEngine(pool, tvsync.Config{BatchSize: 1})
		tx, err := pool.Begin(ctx)
		if err != nil {
			return err
		}
		defer func() { _ = tx.Rollback(ctx) }()
		if _, err := engine.SyncTx(ctx, tx, tvsync.ModeIncremental, changes...); err != nil {
			return err
		}
		return tx.Commit(ctx)
	}
	done1 := make(chan error, 1)
	go func() {
		done1 <- inTx(gatedPool,
			tvsync.Change{Entity: blog.EntityPost, IDs: tvsync.UUIDKeys([]uuid.UUID{p1, p2})},
			tvsync.Change{Entity: blog.EntityUser, IDs: tvsync.UUIDKeys([]uuid.UUID{u1})})
	}()
	eventually(t, "T1's first chunk is held inside its read", func() bool { return g.waiting(true) == 1 })
	done2 := make(chan error, 1)
	go func() {
		done2 <- inTx(pool,
			tvsync.Change{Entity: blog.EntityPost, IDs: tvsync.UUIDKeys([]uuid.UUID{p2})},
			tvsync.Change{Entity: blog.EntityUser, IDs: tvsync.UUIDKeys([]uuid.UUID{u0, u1})})
	}()
	eventually(t, "T2 waits for a lock of T1", func() bool { return g.waiting(false) == 1 })
	g.open()
	require.NoError(t, <-done1)
	require.NoError(t, <-done2)
	diff, err := expect.Check(ctx, pool)
	require.NoError(t, err)
	assert.Empty(t, diff)
}
