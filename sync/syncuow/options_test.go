package syncuow_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/syncuow"
)

// TestOptions_InvalidFieldsAreErrorsNamingThem: a mode that is none of the
// three and a negative AfterCommitGrace make New fail with an error naming
// the field; zero means the default, and every mode is accepted.
func TestOptions_InvalidFieldsAreErrorsNamingThem(t *testing.T) {
	t.Parallel()
	// A pool that never connects: New checks its options before any use.
	pool, err := pgxpool.New(context.Background(), "postgres://tvsync@127.0.0.1:1/none?connect_timeout=1")
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	engine, err := tvsync.NewEngine(pool, tvsync.Config{})
	require.NoError(t, err)

	for name, c := range map[string]struct {
		opts syncuow.Options
		want []string
	}{
		"unknown Timing":            {syncuow.Options{Timing: 9}, []string{"syncuow: Options.Timing: Timing(9): want AfterCommit, Inline or Deferred"}},
		"negative Timing":           {syncuow.Options{Timing: -1}, []string{"syncuow: Options.Timing: Timing(-1)"}},
		"negative AfterCommitGrace": {syncuow.Options{AfterCommitGrace: -time.Second}, []string{"syncuow: Options.AfterCommitGrace: -1s: want > 0 (or 0 for DefaultAfterCommitGrace, 10s)"}},
		"both":                      {syncuow.Options{Timing: 3, AfterCommitGrace: -1}, []string{"Options.Timing: Timing(3)", "Options.AfterCommitGrace: -1ns"}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r, err := syncuow.New(pool, engine, c.opts)
			require.Error(t, err)
			assert.Nil(t, r)
			for _, w := range c.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
	for _, mode := range []syncuow.Timing{syncuow.AfterCommit, syncuow.Inline, syncuow.Deferred} {
		r, err := syncuow.New(pool, engine, syncuow.Options{Timing: mode})
		require.NoError(t, err, mode)
		assert.Equal(t, mode, r.Timing())
	}
	_, err = syncuow.New(nil, engine, syncuow.Options{})
	require.ErrorContains(t, err, "syncuow: New needs a database and an engine")
	_, err = syncuow.New(pool, nil, syncuow.Options{})
	require.ErrorContains(t, err, "syncuow: New needs a database and an engine")
}
