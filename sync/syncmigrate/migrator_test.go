package syncmigrate_test

import (
	"context"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/internal/testdb"
	"github.com/tvsync/tvsync/sync/syncmigrate"
)

// versions returns the numbers of the migrations of res, in order.
func versions(res *syncmigrate.MigrateResult) []int64 {
	out := []int64{}
	for _, v := range res.Versions {
		out = append(out, v.Version)
	}
	return out
}

// TestMigrate_StepsTargetsAndStatus walks an application's set of three
// migrations with every option of Migrate, checking what each call reports
// against the set's files and what Status then says.
func TestMigrate_StepsTargetsAndStatus(t *testing.T) {
	ctx := context.Background()
	pool := testdb.Empty(t)
	set := syncmigrate.Set{Name: "app", VersionTable: "app.migrations", FS: fstest.MapFS{
		"00001_a.sql": {Data: []byte("-- +goose Up\nCREATE TABLE a (id int);\n-- +goose Down\nDROP TABLE a;\n")},
		"00002_b.sql": {Data: []byte("-- +goose Up\nCREATE TABLE b (id int);\n-- +goose Down\nDROP TABLE b;\n")},
		"00003_c.sql": {Data: []byte("-- +goose Up\nCREATE TABLE c (id int);\n-- +goose Down\nDROP TABLE c;\n")},
	}}
	m, err := syncmigrate.New(pool, &syncmigrate.Config{Set: set})
	require.NoError(t, err)
	defer m.Close()
	assert.Equal(t, "app", m.Set().Name)
	migrate := func(d syncmigrate.Direction, opts *syncmigrate.MigrateOpts) []int64 {
		t.Helper()
		res, err := m.Migrate(ctx, d, opts)
		require.NoError(t, err)
		assert.Equal(t, d, res.Direction)
		return versions(res)
	}

	assert.Equal(t, []int64{1}, migrate(syncmigrate.DirectionUp, &syncmigrate.MigrateOpts{MaxSteps: 1}))
	st, err := m.Status(ctx)
	require.NoError(t, err)
	require.Len(t, st, 3)
	assert.Equal(t, []any{int64(1), "00001_a.sql", true}, []any{st[0].Version, st[0].Name, st[0].Applied})
	assert.False(t, st[0].AppliedAt.IsZero())
	assert.Equal(t, []any{int64(2), "00002_b.sql", false}, []any{st[1].Version, st[1].Name, st[1].Applied})
	assert.True(t, st[1].AppliedAt.IsZero())

	assert.Equal(t, []int64{2}, migrate(syncmigrate.DirectionUp, &syncmigrate.MigrateOpts{TargetVersion: 2}))
	assert.Equal(t, []int64{3}, migrate(syncmigrate.DirectionUp, &syncmigrate.MigrateOpts{MaxSteps: 5}), "up stops when none is left")
	assert.Empty(t, migrate(syncmigrate.DirectionUp, nil), "nothing pending")
	assert.Empty(t, migrate(syncmigrate.DirectionUp, &syncmigrate.MigrateOpts{MaxSteps: 1}), "nothing pending")

	assert.Equal(t, []int64{3}, migrate(syncmigrate.DirectionDown, nil), "down: the latest by default")
	assert.Equal(t, []int64{2, 1}, migrate(syncmigrate.DirectionDown, &syncmigrate.MigrateOpts{MaxSteps: 5}))
	_, err = m.Migrate(ctx, syncmigrate.DirectionDown, nil)
	require.ErrorIs(t, err, syncmigrate.ErrNoMigration)

	assert.Equal(t, []int64{1, 2, 3}, migrate(syncmigrate.DirectionUp, nil))
	assert.Equal(t, []int64{3, 2}, migrate(syncmigrate.DirectionDown, &syncmigrate.MigrateOpts{TargetVersion: 1}))
	assert.Equal(t, []int64{1}, migrate(syncmigrate.DirectionDown, &syncmigrate.MigrateOpts{TargetVersion: -1}), "-1: every one")
	var tables int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE tablename IN ('a', 'b', 'c')").Scan(&tables))
	assert.Zero(t, tables)
}

// TestMigrate_RejectsOptionsItCannotTake: each invalid call is an error
// naming the field (or the direction), and changes nothing.
func TestMigrate_RejectsOptionsItCannotTake(t *testing.T) {
	ctx := context.Background()
	pool := testdb.Empty(t)
	m, err := syncmigrate.New(pool, nil)
	require.NoError(t, err)
	defer m.Close()
	assert.Equal(t, syncmigrate.OwnSetName, m.Set().Name, "a nil Config migrates tvsync's own set")
	for _, tc := range []struct {
		direction syncmigrate.Direction
		opts      syncmigrate.MigrateOpts
		want      string
	}{
		{"sideways", syncmigrate.MigrateOpts{}, `direction "sideways"`},
		{syncmigrate.DirectionUp, syncmigrate.MigrateOpts{MaxSteps: -1}, "MigrateOpts.MaxSteps -1"},
		{syncmigrate.DirectionUp, syncmigrate.MigrateOpts{MaxSteps: 1, TargetVersion: 2}, "MigrateOpts: give at most one of MaxSteps and TargetVersion"},
		{syncmigrate.DirectionUp, syncmigrate.MigrateOpts{TargetVersion: -1}, "MigrateOpts.TargetVersion -1"},
		{syncmigrate.DirectionDown, syncmigrate.MigrateOpts{TargetVersion: -2}, "MigrateOpts.TargetVersion -2"},
	} {
		res, err := m.Migrate(ctx, tc.direction, &tc.opts)
		require.ErrorContains(t, err, tc.want)
		require.NotNil(t, res)
		assert.Empty(t, res.Versions)
	}
	st, err := m.Status(ctx)
	require.NoError(t, err)
	for _, s := range st {
		assert.False(t, s.Applied, "nothing was applied: %s", s.Name)
	}
}
