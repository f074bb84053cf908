package syncdbtest

import (
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/sync/syncmigrate"
)

// migrationFS is a set of one migration whose Up creates table.
func migrationFS(table string) fstest.MapFS {
	return fstest.MapFS{"00001_init.sql": {Data: []byte(
		"-- +goose Up\nCREATE TABLE " + table + " (id bigint);\n-- +goose Down\nDROP TABLE " + table + ";\n")}}
}

func hashOf(t *testing.T, sets ...syncmigrate.Set) string {
	t.Helper()
	m, err := newMigrator(sets)
	require.NoError(t, err)
	h, err := m.Hash()
	require.NoError(t, err)
	return h
}

// TestHash_ChangesWithAnyFileVersionTableOrOrder: the template's hash
// changes when a migration's contents change, a file is added, a version
// table or the order of the sets changes, and only then.
func TestHash_ChangesWithAnyFileVersionTableOrOrder(t *testing.T) {
	t.Parallel()
	a := syncmigrate.Set{Name: "a", FS: migrationFS("tb_a"), VersionTable: "a_migrations"}
	b := syncmigrate.Set{Name: "b", FS: migrationFS("tb_b")}
	base := hashOf(t, a, b)
	assert.Equal(t, base, hashOf(t, a, b), "the same sets hash the same")
	assert.Equal(t, base, hashOf(t, syncmigrate.Set{Name: "renamed", FS: migrationFS("tb_a"), VersionTable: "a_migrations"}, b),
		"a set's name does not shape the database")

	changed := map[string][]syncmigrate.Set{
		"a migration's contents": {{Name: "a", FS: migrationFS("tb_a2"), VersionTable: "a_migrations"}, b},
		"a version table":        {{Name: "a", FS: migrationFS("tb_a"), VersionTable: "other.a_migrations"}, b},
		"the order of the sets":  {b, a},
		"a set fewer":            {a},
	}
	added := migrationFS("tb_a")
	added["00002_more.sql"] = &fstest.MapFile{Data: []byte("-- +goose Up\nSELECT 1;\n")}
	changed["a file added"] = []syncmigrate.Set{{Name: "a", FS: added, VersionTable: "a_migrations"}, b}
	seen := map[string]string{base: "base"}
	for what, sets := range changed {
		h := hashOf(t, sets...)
		other, dup := seen[h]
		assert.False(t, dup, "%s must change the hash (same as %s)", what, other)
		seen[h] = what
	}
}

// TestNewMigrator_RefusesInvalidSets: the template's sets are checked by
// syncmigrate.CheckSets (tested there) before anything starts.
func TestNewMigrator_RefusesInvalidSets(t *testing.T) {
	t.Parallel()
	_, err := newMigrator([]syncmigrate.Set{{Name: "tvsync", FS: migrationFS("tb_x")}})
	assert.ErrorContains(t, err, `syncdbtest: syncmigrate: migration set name "tvsync" is taken`)
}
