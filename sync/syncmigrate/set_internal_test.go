package syncmigrate

import (
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
)

// TestCheckSets_RefusesSetsThatWouldCollide: a set without a name or
// files, a second set of one name, the name or version table of tvsync's
// own set, or two sets sharing a version table are refused, naming the set.
func TestCheckSets_RefusesSetsThatWouldCollide(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{"00001_init.sql": {Data: []byte("-- +goose Up\nCREATE TABLE tb_x (id bigint);\n")}}
	for name, tc := range map[string]struct {
		sets []Set
		want string
	}{
		"no name":               {[]Set{{FS: fsys}}, "migration set 0 has no Name"},
		"no files":              {[]Set{{Name: "shop"}}, `migration set "shop" has no FS`},
		"tvsync's name":         {[]Set{{Name: "tvsync", FS: fsys}}, `migration set name "tvsync" is taken`},
		"a name twice":          {[]Set{{Name: "shop", FS: fsys, VersionTable: "a"}, {Name: "shop", FS: fsys}}, `migration set name "shop" is taken`},
		"tvsync's table":        {[]Set{{Name: "shop", FS: fsys, VersionTable: VersionTable}}, `migration sets "tvsync" and "shop" share version table "tvsync.tvsync_migrations"`},
		"a default table twice": {[]Set{{Name: "shop", FS: fsys}, {Name: "blog", FS: fsys, VersionTable: "goose_db_version"}}, `migration sets "shop" and "blog" share version table "goose_db_version"`},
		"an empty schema":       {[]Set{{Name: "shop", FS: fsys, VersionTable: ".shop_migrations"}}, `migration set "shop": goose version table ".shop_migrations": empty schema name`},
	} {
		err := CheckSets(tc.sets)
		assert.ErrorContains(t, err, tc.want, name)
	}
	assert.NoError(t, CheckSets([]Set{{Name: "shop", FS: fsys}, {Name: "blog", FS: fsys, VersionTable: "blog.migrations"}}))
}
