package syncmetrics_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/blog"
	"github.com/tvsync/tvsync/internal/testdb"
	"github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/syncmetrics"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

type testBundle struct {
	pool    *pgxpool.Pool
	metrics *syncmetrics.Metrics
	reg     *prometheus.Registry
	engine  *sync.Engine
}

func setup(t *testing.T) testBundle {
	t.Helper()
	pool := testdb.New(t)
	m, err := syncmetrics.New(syncmetrics.Options{Queue: blog.MustNewEngine(pool, sync.Config{})})
	require.NoError(t, err)
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(m))
	return testBundle{pool: pool, metrics: m, reg: reg, engine: blog.MustNewEngine(pool, sync.Config{Observer: m})}
}

// posts inserts one author and a post per title and returns the post ids.
func posts(t *testing.T, pool *pgxpool.Pool, titles ...string) []uuid.UUID {
	t.Helper()
	ctx := context.Background()
	var author uuid.UUID
	require.NoError(t, pool.QueryRow(ctx, "INSERT INTO tb_user (username) VALUES ('metrics') RETURNING id").Scan(&author))
	ids := make([]uuid.UUID, len(titles))
	for i, title := range titles {
		require.NoError(t, pool.QueryRow(ctx, "INSERT INTO tb_post (author_id, title) VALUES ($1, $2) RETURNING id", author, title).Scan(&ids[i]))
	}
	return ids
}

// histogramCounts returns the sample count of each entity/mode series of
// the duration histogram.
func histogramCounts(t *testing.T, reg prometheus.Gatherer, name string) map[string]uint64 {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	out := map[string]uint64{}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			out[label(m, "entity")+"/"+label(m, "mode")] = m.GetHistogram().GetSampleCount()
		}
	}
	return out
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func TestMetrics_CountRowsBatchesAndDurationsOfARealSync(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	ids := posts(t, b.pool, "one", "two", "poison")
	_, err := b.pool.Exec(ctx, `ALTER TABLE tv_post ADD CONSTRAINT no_poison CHECK (data->>'title' <> 'poison')`)
	require.NoError(t, err)
	missing := uuid.New()

	// 4 ids, one failing: the halves are synced apart, the failing half split
	// again, so 2 batches commit and 1 id fails alone.
	_, err = blog.Syncer{Syncer: b.engine}.SyncPost(ctx, append(ids, missing), sync.ModeIncremental)
	require.ErrorIs(t, err, sync.ErrSyncFailed)
	// Delete "two" and repair: "one" is unchanged, "two" missing and deleted.
	_, err = b.pool.Exec(ctx, "DELETE FROM tb_post WHERE id = $1", ids[1])
	require.NoError(t, err)
	_, err = blog.Syncer{Syncer: b.engine}.SyncPost(ctx, ids[:2], sync.ModeRepair)
	require.NoError(t, err)

	expected := `
# HELP tvsync_sync_batches_total Committed entity batches.
# TYPE tvsync_sync_batches_total counter
tvsync_sync_batches_total{entity="post",mode="incremental"} 2
tvsync_sync_batches_total{entity="post",mode="repair"} 1
# HELP tvsync_sync_rows_total Synced ids by outcome: upserted, unchanged, missing or failed (each id once), and deleted tv_ rows.
# TYPE tvsync_sync_rows_total counter
tvsync_sync_rows_total{entity="post",outcome="deleted"} 1
tvsync_sync_rows_total{entity="post",outcome="failed"} 1
tvsync_sync_rows_total{entity="post",outcome="missing"} 2
tvsync_sync_rows_total{entity="post",outcome="unchanged"} 1
tvsync_sync_rows_total{entity="post",outcome="upserted"} 2
`
	require.NoError(t, testutil.GatherAndCompare(b.reg, strings.NewReader(expected), "tvsync_sync_batches_total", "tvsync_sync_rows_total"))
	assert.Equal(t, map[string]uint64{"post/incremental": 2, "post/repair": 1}, histogramCounts(t, b.reg, "tvsync_sync_duration_seconds"))

	// The same numbers as sync_log, which the engine writes independently.
	var batches, upserted, unchanged, deleted, failed int
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE failed = 0), sum(upserted), sum(unchanged), sum(deleted), sum(failed) FROM tvsync.sync_log WHERE entity = 'post'`).
		Scan(&batches, &upserted, &unchanged, &deleted, &failed))
	assert.Equal(t, []int{3, 2, 1, 1, 1}, []int{batches, upserted, unchanged, deleted, failed})

	problems, err := testutil.CollectAndLint(b.metrics)
	require.NoError(t, err)
	assert.Empty(t, problems)
}

func TestMetrics_QueueGaugesAreReadAtScrapeTime(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)

	expectQueue := func(depth, dead int) {
		t.Helper()
		expected := `
# HELP tvsync_queue_dead Rows in sync_queue parked as dead after too many failed attempts.
# TYPE tvsync_queue_dead gauge
tvsync_queue_dead ` + strconv.Itoa(dead) + `
# HELP tvsync_queue_depth Rows in sync_queue waiting for a sync (dead rows excluded).
# TYPE tvsync_queue_depth gauge
tvsync_queue_depth ` + strconv.Itoa(depth) + `
`
		require.NoError(t, testutil.GatherAndCompare(b.reg, strings.NewReader(expected), "tvsync_queue_depth", "tvsync_queue_dead"))
	}
	expectQueue(0, 0)

	_, err := b.pool.Exec(ctx, `INSERT INTO tvsync.sync_queue (entity, entity_id, enqueued_at, dead) VALUES
		('post', gen_random_uuid(), now() - interval '1 hour', false),
		('post', gen_random_uuid(), now() - interval '10 minutes', false),
		('user', gen_random_uuid(), now() - interval '2 hours', true)`)
	require.NoError(t, err)
	expectQueue(2, 1)

	families, err := b.reg.Gather()
	require.NoError(t, err)
	var age float64
	for _, f := range families {
		if f.GetName() == "tvsync_queue_oldest_age_seconds" {
			age = f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	assert.GreaterOrEqual(t, age, 3600.0, "the oldest pending row, not the dead one")
	assert.Less(t, age, 7200.0, "the dead row is not pending")
}

// blockingQueue stands in for a queue that does not answer: it waits for
// the scrape's context to end, so a scrape without a timeout would hang.
type blockingQueue struct{}

func (blockingQueue) QueueStats(ctx context.Context) (sync.QueueStats, error) {
	<-ctx.Done()
	return sync.QueueStats{}, ctx.Err()
}

func TestMetrics_AFailingQueueReadLeavesTheGaugesOutAndCountsTheError(t *testing.T) {
	t.Parallel()
	closed := testdb.New(t)
	closed.Close()
	for name, q := range map[string]syncmetrics.QueueStatser{
		"closed pool": blog.MustNewEngine(closed, sync.Config{}),
		"timeout":     blockingQueue{},
	} {
		t.Run(name, func(t *testing.T) {
			m, err := syncmetrics.New(syncmetrics.Options{Queue: q, QueueTimeout: 20 * time.Millisecond})
			require.NoError(t, err)
			reg := prometheus.NewPedanticRegistry()
			require.NoError(t, reg.Register(m))
			m.ObserveSync(sync.EntityResult{Entity: "post", Mode: sync.ModeFull, Requested: 3, Upserted: 3, Duration: 2 * time.Millisecond})

			families, err := reg.Gather()
			require.NoError(t, err, "a queue read error must not fail the scrape")
			names := map[string]bool{}
			for _, f := range families {
				names[f.GetName()] = true
			}
			assert.True(t, names["tvsync_sync_rows_total"])
			assert.False(t, names["tvsync_queue_depth"])
			assert.False(t, names["tvsync_queue_dead"])
			// This is the second scrape: each one counts its error.
			require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP tvsync_queue_scrape_errors_total Scrapes that could not read sync_queue; the queue gauges are left out of those scrapes.
# TYPE tvsync_queue_scrape_errors_total counter
tvsync_queue_scrape_errors_total 2
`), "tvsync_queue_scrape_errors_total"))
		})
	}
}

func TestMetrics_NamespaceAndNoQueue(t *testing.T) {
	t.Parallel()
	m, err := syncmetrics.New(syncmetrics.Options{Namespace: "app"})
	require.NoError(t, err)
	m.ObserveSync(sync.EntityResult{Entity: "user", Mode: sync.ModeIncremental, Requested: 2, Upserted: 1, Unchanged: 1, Duration: 3 * time.Millisecond})
	// An isolated failure counts a failed row but no batch and no duration.
	m.ObserveSync(sync.EntityResult{Entity: "user", Mode: sync.ModeIncremental, Requested: 1, Failed: 1, FailedIDs: []sync.ID{sync.UUIDKey(uuid.New())}, Err: "boom"})

	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(m))
	assert.Equal(t, map[string]uint64{"user/incremental": 1}, histogramCounts(t, reg, "app_sync_duration_seconds"))
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP app_sync_batches_total Committed entity batches.
# TYPE app_sync_batches_total counter
app_sync_batches_total{entity="user",mode="incremental"} 1
`), "app_sync_batches_total"))
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP app_sync_rows_total Synced ids by outcome: upserted, unchanged, missing or failed (each id once), and deleted tv_ rows.
# TYPE app_sync_rows_total counter
app_sync_rows_total{entity="user",outcome="deleted"} 0
app_sync_rows_total{entity="user",outcome="failed"} 1
app_sync_rows_total{entity="user",outcome="missing"} 0
app_sync_rows_total{entity="user",outcome="unchanged"} 1
app_sync_rows_total{entity="user",outcome="upserted"} 1
`), "app_sync_rows_total"))
	n, err := testutil.GatherAndCount(reg, "app_queue_depth", "tvsync_queue_depth")
	require.NoError(t, err)
	assert.Zero(t, n, "no queue gauges without Options.Queue")
}

func TestMetrics_EntitiesStartAtZeroBeforeTheFirstSync(t *testing.T) {
	t.Parallel()
	m, err := syncmetrics.New(syncmetrics.Options{Entities: []string{"order", "product"}})
	require.NoError(t, err)
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(m))

	batches, err := testutil.GatherAndCount(reg, "tvsync_sync_batches_total")
	require.NoError(t, err)
	assert.Equal(t, 2*4, batches, "every entity × mode")
	rows, err := testutil.GatherAndCount(reg, "tvsync_sync_rows_total")
	require.NoError(t, err)
	assert.Equal(t, 2*5, rows, "every entity × outcome")
	assert.Equal(t, map[string]uint64{
		"order/incremental": 0, "order/full": 0, "order/deferred": 0, "order/repair": 0,
		"product/incremental": 0, "product/full": 0, "product/deferred": 0, "product/repair": 0,
	}, histogramCounts(t, reg, "tvsync_sync_duration_seconds"))
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP tvsync_sync_rows_total Synced ids by outcome: upserted, unchanged, missing or failed (each id once), and deleted tv_ rows.
# TYPE tvsync_sync_rows_total counter
tvsync_sync_rows_total{entity="order",outcome="deleted"} 0
tvsync_sync_rows_total{entity="order",outcome="failed"} 0
tvsync_sync_rows_total{entity="order",outcome="missing"} 0
tvsync_sync_rows_total{entity="order",outcome="unchanged"} 0
tvsync_sync_rows_total{entity="order",outcome="upserted"} 0
tvsync_sync_rows_total{entity="product",outcome="deleted"} 0
tvsync_sync_rows_total{entity="product",outcome="failed"} 0
tvsync_sync_rows_total{entity="product",outcome="missing"} 0
tvsync_sync_rows_total{entity="product",outcome="unchanged"} 0
tvsync_sync_rows_total{entity="product",outcome="upserted"} 0
`), "tvsync_sync_rows_total"))
}

// TestNew_RejectsInvalidOptionsNamingTheField: each invalid value is an
// error naming its field, and no metrics; the zero value takes the
// exported defaults.
func TestNew_RejectsInvalidOptionsNamingTheField(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		opts syncmetrics.Options
		want string
	}{
		{syncmetrics.Options{QueueTimeout: -time.Second}, "syncmetrics: Options.QueueTimeout -1s: want 0 (DefaultQueueTimeout, 2s) or more"},
		{syncmetrics.Options{Entities: []string{"post", ""}}, "syncmetrics: Options.Entities[1]: empty entity name"},
		{syncmetrics.Options{Namespace: "\xff"}, `syncmetrics: Options.Namespace "\xff": `},
	} {
		m, err := syncmetrics.New(tc.opts)
		assert.ErrorContains(t, err, tc.want)
		assert.Nil(t, m)
	}

	m, err := syncmetrics.New(syncmetrics.Options{})
	require.NoError(t, err)
	m.ObserveSync(sync.EntityResult{Entity: "user", Mode: sync.ModeIncremental, Requested: 1, Upserted: 1})
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(m))
	n, err := testutil.GatherAndCount(reg, syncmetrics.DefaultNamespace+"_sync_batches_total")
	require.NoError(t, err)
	assert.Equal(t, 1, n, "metric names start with DefaultNamespace")
	assert.Equal(t, "tvsync", syncmetrics.DefaultNamespace)
	assert.Equal(t, 2*time.Second, syncmetrics.DefaultQueueTimeout)
}
