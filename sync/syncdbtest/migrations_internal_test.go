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

func hashOf(t *testing.T, sets ...MigrationSet) string {
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
	a := MigrationSet{Name: "a", FS: migrationFS("tb_a"), VersionTable: "a_migrations"}
	b := MigrationSet{Name: "b", FS: migrationFS("tb_b")}
	base := hashOf(t, a, b)
	assert.Equal(t, base, hashOf(t, a, b), "the same sets hash the same")
	assert.Equal(t, base, hashOf(t, MigrationSet{Name: "renamed", FS: migrationFS("tb_a"), VersionTable: "a_migrations"}, b),
		"a set's name does not shape the database")

	changed := map[string][]MigrationSet{
		"a migration's contents": {{Name: "a", FS: migrationFS("tb_a2"), VersionTable: "a_migrations"}, b},
		"a version table":        {{Name: "a", FS: migrationFS("tb_a"), VersionTable: "other.a_migrations"}, b},
		"the order of the sets":  {b, a},
		"a set fewer":            {a},
	}
	added := migrationFS("tb_a")
	added["00002_more.sql"] = &fstest.MapFile{Data: []byte("-- +goose Up\nSELECT 1;\n")}
	changed["a file added"] = []MigrationSet{{Name: "a", FS: added, VersionTable: "a_migrations"}, b}
	seen := map[string]string{base: "base"}
	for what, sets := range changed {
		h := hashOf(t, sets...)
		other, dup := seen[h]
		assert.False(t, dup, "%s must change the hash (same as %s)", what, other)
		seen[h] = what
	}
}

// TestNewMigrator_RefusesSetsThatWouldCollide: a set without a name or
// files, a second set of one name, the name or version table of tvsync's
// own set, or two sets sharing a version table are refused, naming the set.
func TestNewMigrator_RefusesSetsThatWouldCollide(t *testing.T) {
	t.Parallel()
	fsys := migrationFS("tb_x")
	for name, tc := range map[string]struct {
		sets []MigrationSet
		want string
	}{
		"no name":               {[]MigrationSet{{FS: fsys}}, "migration set 0 has no Name"},
		"no files":              {[]MigrationSet{{Name: "shop"}}, `migration set "shop" has no FS`},
		"tvsync's name":         {[]MigrationSet{{Name: "tvsync", FS: fsys}}, `migration set name "tvsync" is taken`},
		"a name twice":          {[]MigrationSet{{Name: "shop", FS: fsys, VersionTable: "a"}, {Name: "shop", FS: fsys}}, `migration set name "shop" is taken`},
		"tvsync's table":        {[]MigrationSet{{Name: "shop", FS: fsys, VersionTable: syncmigrate.VersionTable}}, `migration sets "tvsync" and "shop" share version table "tvsync.tvsync_migrations"`},
		"a default table twice": {[]MigrationSet{{Name: "shop", FS: fsys}, {Name: "blog", FS: fsys, VersionTable: "goose_db_version"}}, `migration sets "shop" and "blog" share version table "goose_db_version"`},
		"an empty schema":       {[]MigrationSet{{Name: "shop", FS: fsys, VersionTable: ".shop_migrations"}}, `migration set "shop": goose version table ".shop_migrations": empty schema name`},
	} {
		_, err := newMigrator(tc.sets)
		assert.ErrorContains(t, err, tc.want, name)
	}
}
