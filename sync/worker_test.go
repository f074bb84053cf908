package sync_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
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
	"github.com/tvsync/tvsync/internal/testdb"
	tvsync "github.com/tvsync/tvsync/sync"
)

// queueUsers inserts one tb_user per name and queues their sync in
// sync_queue (notifying the workers), as a deferred write does.
func queueUsers(t *testing.T, pool *pgxpool.Pool, engine *tvsync.Engine, names ...string) []uuid.UUID {
	t.Helper()
	ctx := context.Background()
	ids := make([]uuid.UUID, len(names))
	for i, name := range names {
		require.NoError(t, pool.QueryRow(ctx, "INSERT INTO tb_user (username) VALUES ($1) RETURNING id", name).Scan(&ids[i]))
	}
	require.NoError(t, queuedErr(engine.Enqueue(ctx, pool, 0, true, tvsync.Change{Entity: blog.EntityUser, IDs: tvsync.UUIDKeys(ids)})))
	return ids
}

// runWorker runs w until the test stops it; stop cancels Run and returns
// Run's result, or fails the test if Run has not returned within bound.
func runWorker(t *testing.T, w *tvsync.Worker, bound time.Duration) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	stopped := false
	stop = func() error {
		t.Helper()
		cancel()
		if stopped {
			return nil
		}
		select {
		case err := <-done:
			stopped = true
			return err
		case <-time.After(bound):
			t.Fatalf("the worker did not stop within %s of its context being cancelled", bound)
			return nil
		}
	}
	t.Cleanup(cancel)
	return stop
}

// TestWorker_UnknownEntityRowFailsAloneAndIsKept: a row queued by a newer
// version for an entity this worker does not register sits first in line;
// the valid rows claimed with it sync and none is charged or parked, while
// the unknown row is kept, with an error naming its entity, and counted.
func TestWorker_UnknownEntityRowFailsAloneAndIsKept(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	engine := blog.MustNewEngine(pool, tvsync.Config{})
	unknownID := uuid.New()
	_, err := pool.Exec(ctx, `INSERT INTO tvsync.sync_queue (entity, entity_id, enqueued_at, available_at)
		VALUES ('tag', $1, now() - interval '1 minute', now() - interval '1 minute')`, unknownID)
	require.NoError(t, err)
	users := queueUsers(t, pool, engine, "u1", "u2", "u3", "u4", "u5")

	w := must(tvsync.NewWorker(engine, pool, tvsync.WorkerConfig{MaxAttempts: 3}))
	for range 5 { // more rounds than MaxAttempts, every row ready again each time
		_, err := w.Drain(ctx)
		assert.NoError(t, err, "the unknown row fails alone, and is not the batch's error")
		_, err = pool.Exec(ctx, "UPDATE tvsync.sync_queue SET available_at = now()")
		require.NoError(t, err)
	}

	assert.Equal(t, len(users), countRows(t, pool, "SELECT count(*) FROM tv_user"), "the valid rows synced")
	assert.Zero(t, countRows(t, pool, "SELECT count(*) FROM tvsync.sync_queue WHERE entity <> 'tag'"), "and left the queue")
	assert.Zero(t, countRows(t, pool, "SELECT count(*) FROM tvsync.sync_queue WHERE dead"), "nothing is parked as dead")
	var entity, lastError string
	var attempts int
	require.NoError(t, pool.QueryRow(ctx, "SELECT entity, last_error, attempts FROM tvsync.sync_queue WHERE entity_id = $1", unknownID).Scan(&entity, &lastError, &attempts))
	assert.Equal(t, "tag", entity, "the unknown row is kept for a worker that registers it")
	assert.Contains(t, lastError, `"tag"`, "its error names the entity")
	assert.Positive(t, attempts, "its failures are charged to it")
	st, err := engine.QueueStats(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(1), st.Pending)
	assert.Equal(t, int64(1), st.Unregistered, "QueueStats shows it")
	assert.Zero(t, st.Dead)
	diff, err := expect.Check(ctx, pool)
	require.NoError(t, err)
	assert.Empty(t, diff)
}

// TestWorker_RewriteOfAFailingRowKeepsItsBackoff: a row that failed and
// waits out its backoff is written again and again; the new writes must not
// make it ready early, so it is not charged attempt after attempt and parked
// as dead within moments.
func TestWorker_RewriteOfAFailingRowKeepsItsBackoff(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	engine := blog.MustNewEngine(pool, tvsync.Config{})
	_, err := pool.Exec(ctx, `ALTER TABLE tv_user ADD CONSTRAINT no_poison CHECK (data->>'username' NOT LIKE 'poison%')`)
	require.NoError(t, err)
	poison := queueUsers(t, pool, engine, "poison")[0]
	w := must(tvsync.NewWorker(engine, pool, tvsync.WorkerConfig{MaxAttempts: 3}))
	_, err = w.Drain(ctx)
	require.ErrorIs(t, err, tvsync.ErrSyncFailed)
	// The row is now in backoff; make that backoff long, as after a few failures.
	var backoffUntil time.Time
	require.NoError(t, pool.QueryRow(ctx, `UPDATE tvsync.sync_queue SET available_at = now() + interval '1 hour'
		WHERE entity_id = $1 RETURNING available_at`, poison).Scan(&backoffUntil))

	for i := range 5 { // hot writes to the failing row, each queued afresh
		_, err := pool.Exec(ctx, "UPDATE tb_user SET full_name = $2 WHERE id = $1", poison, strconv.Itoa(i))
		require.NoError(t, err)
		require.NoError(t, queuedErr(engine.Enqueue(ctx, pool, 0, true, tvsync.Change{Entity: blog.EntityUser, IDs: tvsync.UUIDKeys([]uuid.UUID{poison})})))
		_, err = w.Drain(ctx)
		assert.NoError(t, err, "the row waits out its backoff: nothing to drain")
	}

	var attempts int
	var dead bool
	var availableAt time.Time
	require.NoError(t, pool.QueryRow(ctx, "SELECT attempts, dead, available_at FROM tvsync.sync_queue WHERE entity_id = $1", poison).Scan(&attempts, &dead, &availableAt))
	assert.Equal(t, 1, attempts, "no write bypassed the backoff")
	assert.False(t, dead)
	assert.False(t, availableAt.Before(backoffUntil), "the backoff still holds: %s, set %s", availableAt, backoffUntil)

	// A row that has not failed still coalesces to its earliest time.
	fresh := queueUsers(t, pool, engine, "fresh")[0]
	_, err = pool.Exec(ctx, "UPDATE tvsync.sync_queue SET available_at = now() + interval '1 hour' WHERE entity_id = $1", fresh)
	require.NoError(t, err)
	require.NoError(t, queuedErr(engine.Enqueue(ctx, pool, 0, false, tvsync.Change{Entity: blog.EntityUser, IDs: tvsync.UUIDKeys([]uuid.UUID{fresh})})))
	_, err = w.Drain(ctx)
	require.NoError(t, err)
	assert.Zero(t, countRows(t, pool, fmt.Sprintf("SELECT count(*) FROM tvsync.sync_queue WHERE entity_id = '%s'", fresh)), "a new write makes a healthy row ready")
}

// TestWorker_NotifyStormIsCoalesced: 1,000 notifications arrive at once for
// a handful of rows; the worker drains a few times, not once per
// notification.
func TestWorker_NotifyStormIsCoalesced(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	engine := blog.MustNewEngine(pool, tvsync.Config{})
	// Polling once an hour: every drain below is the answer to a notification.
	w := must(tvsync.NewWorker(engine, pool, tvsync.WorkerConfig{PollInterval: time.Hour}))
	stop := runWorker(t, w, 30*time.Second)
	eventually(t, "the worker listens", func() bool {
		return countRows(t, pool, "SELECT count(*) FROM pg_stat_activity WHERE query = 'LISTEN tvsync_sync_queue' AND datname = current_database()") == 1
	})
	queueUsers(t, pool, engine, "before")
	eventually(t, "the first write is synced", func() bool { return countRows(t, pool, "SELECT count(*) FROM tv_user") == 1 })
	settled := settle(t, w)

	queueUsers(t, pool, engine, "a", "b", "c")
	_, err := pool.Exec(ctx, "SELECT pg_notify($1, g::text) FROM generate_series(1, 1000) g", tvsync.QueueChannel)
	require.NoError(t, err)
	eventually(t, "the rows are synced", func() bool { return countRows(t, pool, "SELECT count(*) FROM tv_user") == 4 })
	drains := settle(t, w) - settled
	t.Logf("1,000 notifications: %d drain transactions", drains)
	assert.LessOrEqual(t, drains, int64(20), "wake-ups are coalesced")
	require.NoError(t, stop())
	assert.Zero(t, countRows(t, pool, "SELECT count(*) FROM tvsync.sync_queue"))
}

// settle waits until the worker has begun no drain for 500ms and returns
// how many it has begun.
func settle(t *testing.T, w *tvsync.Worker) int64 {
	t.Helper()
	last, since := tvsync.WorkerDrains(w), time.Now()
	eventually(t, "the worker is idle", func() bool {
		if n := tvsync.WorkerDrains(w); n != last {
			last, since = n, time.Now()
		}
		return time.Since(since) >= 500*time.Millisecond
	})
	return last
}

// TestWorker_StopIsBoundedBehindATableLock: another session holds an ACCESS
// EXCLUSIVE lock on tv_user while the worker's batch needs it; stopping the
// worker returns within the batch's timeouts, and the rows stay queued.
func TestWorker_StopIsBoundedBehindATableLock(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  tvsync.WorkerConfig
		// charged: a lock wait that timed out is no fault of the row (never
		// charged, however often it happens); a slow statement is, at least
		// once (more when the machine is slow enough for the row's 1 s
		// backoff to pass before the stop: no count is exact without timing).
		charged bool
	}{
		{"default timeouts", tvsync.WorkerConfig{}, false},
		{"statement timeout alone", tvsync.WorkerConfig{LockTimeout: -1, StatementTimeout: 500 * time.Millisecond}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			url := testdb.URL(t)
			pool, err := pgxpool.New(ctx, url)
			require.NoError(t, err)
			t.Cleanup(pool.Close)
			engine := blog.MustNewEngine(pool, tvsync.Config{})
			users := queueUsers(t, pool, engine, "locked")

			locker, err := pgx.Connect(ctx, url)
			require.NoError(t, err)
			t.Cleanup(func() { _ = locker.Close(context.Background()) })
			lockTx, err := locker.Begin(ctx)
			require.NoError(t, err)
			_, err = lockTx.Exec(ctx, "LOCK TABLE tv_user IN ACCESS EXCLUSIVE MODE")
			require.NoError(t, err)
			t.Cleanup(func() { _ = lockTx.Rollback(context.Background()) })

			stop := runWorker(t, must(tvsync.NewWorker(engine, pool, tc.cfg)), 15*time.Second)
			eventually(t, "the worker's batch waits for the table lock", func() bool {
				return countRows(t, pool, `SELECT count(*) FROM pg_locks
					WHERE database = (SELECT oid FROM pg_database WHERE datname = current_database())
					  AND relation = 'tv_user'::regclass AND NOT granted`) == 1
			})
			require.NoError(t, stop(), "stopping returns within the timeouts")
			assert.Equal(t, 1, countRows(t, pool, "SELECT count(*) FROM tvsync.sync_queue WHERE NOT dead"), "the row is still queued")
			if attempts := countRows(t, pool, "SELECT attempts FROM tvsync.sync_queue"); tc.charged {
				assert.GreaterOrEqual(t, attempts, 1, "a statement that timed out is charged an attempt")
			} else {
				assert.Zero(t, attempts, "a lock wait that timed out is not charged")
			}

			require.NoError(t, lockTx.Rollback(ctx))
			_, err = pool.Exec(ctx, "UPDATE tvsync.sync_queue SET available_at = now()")
			require.NoError(t, err)
			_, err = must(tvsync.NewWorker(engine, pool, tvsync.WorkerConfig{})).Drain(ctx)
			require.NoError(t, err)
			assert.Equal(t, 1, countRows(t, pool, fmt.Sprintf("SELECT count(*) FROM tv_user WHERE id = '%s'", users[0])))
			assert.Zero(t, countRows(t, pool, "SELECT count(*) FROM tvsync.sync_queue"))
		})
	}
}

// TestWorker_SingleConnectionPoolDoesNotHang: with a pool of one connection,
// the worker's LISTEN must not take the connection its batches need.
func TestWorker_SingleConnectionPoolDoesNotHang(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := testdb.URL(t)
	other, err := pgxpool.New(ctx, url) // the test's own writes and reads
	require.NoError(t, err)
	t.Cleanup(other.Close)
	cfg, err := pgxpool.ParseConfig(url)
	require.NoError(t, err)
	cfg.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	// A hung worker keeps the connection: closing the pool would hang too.
	t.Cleanup(func() {
		if !t.Failed() {
			pool.Close()
		}
	})
	stop := runWorker(t, must(tvsync.NewWorker(blog.MustNewEngine(pool, tvsync.Config{}), pool, tvsync.WorkerConfig{PollInterval: 20 * time.Millisecond})), 15*time.Second)
	time.Sleep(100 * time.Millisecond) // let it listen and poll a few times
	queueUsers(t, other, blog.MustNewEngine(other, tvsync.Config{}), "one", "two")
	eventually(t, "the queued rows are synced", func() bool { return countRows(t, other, "SELECT count(*) FROM tv_user") == 2 })
	require.NoError(t, stop())
	assert.Zero(t, countRows(t, other, "SELECT count(*) FROM tvsync.sync_queue"))
}

// TestWorker_WaitsForTheDatabaseAtStart: the worker starts while the
// database is unreachable, retries with a backoff instead of hammering it,
// syncs once it is back, and says so in its log.
func TestWorker_WaitsForTheDatabaseAtStart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := testdb.URL(t)
	direct, err := pgxpool.New(ctx, url)
	require.NoError(t, err)
	t.Cleanup(direct.Close)
	cfg, err := pgxpool.ParseConfig(url)
	require.NoError(t, err)
	proxy := startProxy(t, net.JoinHostPort(cfg.ConnConfig.Host, strconv.Itoa(int(cfg.ConnConfig.Port))))
	host, port, err := net.SplitHostPort(proxy.addr())
	require.NoError(t, err)
	p, err := strconv.Atoi(port)
	require.NoError(t, err)
	cfg.ConnConfig.Host, cfg.ConnConfig.Port = host, uint16(p)
	pool, err := pgxpool.NewWithConfig(ctx, cfg) // connects lazily: the database is "down"
	require.NoError(t, err)
	t.Cleanup(pool.Close)

	logs := newRecordHandler()
	engine := blog.MustNewEngine(pool, tvsync.Config{Logger: slog.New(logs)})
	stop := runWorker(t, must(tvsync.NewWorker(engine, pool, tvsync.WorkerConfig{PollInterval: 10 * time.Millisecond})), 15*time.Second)
	eventually(t, "the worker tried to connect", func() bool { return proxy.refused.Load() > 0 })
	time.Sleep(1500 * time.Millisecond) // the outage
	refused := proxy.refused.Load()
	t.Logf("connection attempts during a 1.5 s outage: %d", refused)
	assert.LessOrEqual(t, refused, int64(40), "the worker backs off while the database is down")

	users := queueUsers(t, direct, blog.MustNewEngine(direct, tvsync.Config{}), "after the outage")
	proxy.up.Store(true)
	eventually(t, "the queued row is synced once the database is back", func() bool {
		return countRows(t, direct, fmt.Sprintf("SELECT count(*) FROM tv_user WHERE id = '%s'", users[0])) == 1
	})
	require.NoError(t, stop())
	assert.Len(t, logs.withMessage("tvsync: worker cannot reach the database; retrying"), 1, "the outage is logged once")
	assert.Len(t, logs.withMessage("tvsync: worker reconnected to the database"), 1, "and so is the reconnection")
}

// proxy forwards TCP connections to a target while up is set and closes
// them at once (counting them in refused) while it is not.
type proxy struct {
	ln      net.Listener
	target  string
	up      atomic.Bool
	refused atomic.Int64
	wg      gosync.WaitGroup
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &proxy{ln: ln, target: target}
	p.wg.Go(p.serve)
	t.Cleanup(func() {
		_ = ln.Close()
		p.wg.Wait()
	})
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.up.Load() {
			p.refused.Add(1)
			_ = c.Close()
			continue
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		go func() {
			_, _ = io.Copy(s, c)
			_ = s.Close()
		}()
		go func() {
			_, _ = io.Copy(c, s)
			_ = c.Close()
		}()
	}
}

// queuedErr drops the queued rows of Engine.Enqueue, keeping its error.
func queuedErr(_ tvsync.Queued, err error) error { return err }
