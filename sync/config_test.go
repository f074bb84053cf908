package sync_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/blog"
	tvsync "github.com/tvsync/tvsync/sync"
)

// lazyPool returns a pool that never connects: NewEngine and NewWorker
// check their configuration before any connection is made.
func lazyPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), "postgres://tvsync@127.0.0.1:1/none?connect_timeout=1")
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

// TestConfig_InvalidFieldsAreErrorsNamingThem: each field of Config that can
// be wrong makes NewEngine fail with an error naming the field, its value
// and what it may be; every invalid field is named at once.
func TestConfig_InvalidFieldsAreErrorsNamingThem(t *testing.T) {
	t.Parallel()
	pool := lazyPool(t)
	for name, c := range map[string]struct {
		cfg  tvsync.Config
		want []string
	}{
		"negative BatchSize":    {tvsync.Config{BatchSize: -3}, []string{"tvsync: Config.BatchSize: -3: want > 0 (or 0 for DefaultBatchSize, 1000)"}},
		"negative InlineLimit":  {tvsync.Config{InlineLimit: -1}, []string{"tvsync: Config.InlineLimit: -1: want > 0 (or 0 for DefaultInlineLimit, 1000)"}},
		"negative CascadeGrace": {tvsync.Config{CascadeGrace: -time.Second}, []string{"tvsync: Config.CascadeGrace: -1s: want > 0 (or 0 for DefaultCascadeGrace, 10s)"}},
		"bad Namespace":         {tvsync.Config{Namespace: "Billing"}, []string{"tvsync: Config.Namespace:", `"Billing"`}},
		"several at once": {tvsync.Config{BatchSize: -1, InlineLimit: -2, CascadeGrace: -time.Millisecond},
			[]string{"Config.BatchSize: -1", "Config.InlineLimit: -2", "Config.CascadeGrace: -1ms"}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e, err := tvsync.NewEngine(pool, c.cfg)
			require.Error(t, err)
			assert.Nil(t, e)
			for _, w := range c.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

// TestConfig_ZeroAndNegativeMeaningsStayValid: zero means the default in
// every field, and the negative values that have a meaning (SlowThreshold:
// no warning, WideThreshold: never the wide plan) are accepted.
func TestConfig_ZeroAndNegativeMeaningsStayValid(t *testing.T) {
	t.Parallel()
	pool := lazyPool(t)
	for _, cfg := range []tvsync.Config{
		{},
		{SlowThreshold: -1, WideThreshold: -1},
		{BatchSize: 1, InlineLimit: 1, CascadeGrace: time.Nanosecond, Namespace: "billing"},
	} {
		e, err := tvsync.NewEngine(pool, cfg)
		require.NoError(t, err, "%+v", cfg)
		assert.Equal(t, cfg.Namespace, e.Namespace())
	}
}

// TestWorkerConfig_InvalidFieldsAreErrorsNamingThem: each field of
// WorkerConfig that can be wrong makes NewWorker fail with an error naming
// the field (MaxAttempts: -5 used to become 10 in silence); zero means the
// default and negative timeouts mean no limit.
func TestWorkerConfig_InvalidFieldsAreErrorsNamingThem(t *testing.T) {
	t.Parallel()
	pool := lazyPool(t)
	engine, err := tvsync.NewEngine(pool, tvsync.Config{})
	require.NoError(t, err)
	for name, c := range map[string]struct {
		cfg  tvsync.WorkerConfig
		want []string
	}{
		"negative BatchSize":    {tvsync.WorkerConfig{BatchSize: -3}, []string{"tvsync: WorkerConfig.BatchSize: -3: want > 0 (or 0 for DefaultWorkerBatchSize, 300)"}},
		"negative PollInterval": {tvsync.WorkerConfig{PollInterval: -time.Second}, []string{"tvsync: WorkerConfig.PollInterval: -1s: want > 0 (or 0 for DefaultPollInterval, 1s)"}},
		"negative MaxAttempts":  {tvsync.WorkerConfig{MaxAttempts: -5}, []string{"tvsync: WorkerConfig.MaxAttempts: -5: want > 0 (or 0 for DefaultMaxAttempts, 10)"}},
		"negative MaxBackoff":   {tvsync.WorkerConfig{MaxBackoff: -time.Minute}, []string{"tvsync: WorkerConfig.MaxBackoff: -1m0s: want > 0 (or 0 for DefaultMaxBackoff, 5m0s)"}},
		"several at once":       {tvsync.WorkerConfig{BatchSize: -1, MaxAttempts: -1}, []string{"WorkerConfig.BatchSize: -1", "WorkerConfig.MaxAttempts: -1"}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			w, err := tvsync.NewWorker(engine, pool, c.cfg)
			require.Error(t, err)
			assert.Nil(t, w)
			for _, want := range c.want {
				assert.Contains(t, err.Error(), want)
			}
		})
	}
	for _, cfg := range []tvsync.WorkerConfig{{}, {LockTimeout: -1, StatementTimeout: -1}, {BatchSize: 1, PollInterval: 1, MaxAttempts: 1, MaxBackoff: 1}} {
		_, err := tvsync.NewWorker(engine, pool, cfg)
		require.NoError(t, err, "%+v", cfg)
	}
	_, err = tvsync.NewWorker(nil, pool, tvsync.WorkerConfig{})
	require.ErrorContains(t, err, "tvsync: NewWorker needs an engine and a pool")
	_, err = tvsync.NewWorker(engine, nil, tvsync.WorkerConfig{})
	require.ErrorContains(t, err, "tvsync: NewWorker needs an engine and a pool")
}

// TestOptions_InvalidFieldsAreErrorsNamingThem: a negative size, count or
// timeout in FullOptions, VerifyOptions or RebuildOptions makes the call
// fail, before it touches the database, with an error naming the field;
// every invalid field is named at once.
func TestOptions_InvalidFieldsAreErrorsNamingThem(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	engine, err := tvsync.NewEngine(lazyPool(t), tvsync.Config{}, blog.Entities()...)
	require.NoError(t, err)

	_, err = engine.FullSync(ctx, blog.EntityPost, tvsync.FullOptions{ChunkSize: -1, Workers: -2})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "tvsync: FullOptions.ChunkSize: -1: want > 0 (or 0 for the engine's BatchSize)")
	assert.Contains(t, err.Error(), "tvsync: FullOptions.Workers: -2: want > 0 (or 0 for GOMAXPROCS)")

	_, err = engine.Verify(ctx, blog.EntityPost, tvsync.VerifyOptions{ChunkSize: -1, Workers: -1, Samples: -3})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "tvsync: VerifyOptions.ChunkSize: -1")
	assert.Contains(t, err.Error(), "tvsync: VerifyOptions.Workers: -1")
	assert.Contains(t, err.Error(), "tvsync: VerifyOptions.Samples: -3: want > 0 (or 0 for 5)")

	_, err = engine.Rebuild(ctx, blog.EntityPost, tvsync.RebuildOptions{ChunkSize: -1, LockTimeout: -time.Second, Attempts: -1})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "tvsync: RebuildOptions.ChunkSize: -1")
	assert.Contains(t, err.Error(), "tvsync: RebuildOptions.LockTimeout: -1s: want > 0 (or 0 for two seconds)")
	assert.Contains(t, err.Error(), "tvsync: RebuildOptions.Attempts: -1: want > 0 (or 0 for five)")
}
