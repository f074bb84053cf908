package syncdbtest_test

import (
	"embed"
	"io/fs"
	"os"
	"testing"

	"github.com/tvsync/tvsync/sync/syncdbtest"
	"github.com/tvsync/tvsync/sync/syncmigrate"
)

// testdata holds three migration sets of a team: widgets (tb_widget, its
// view and tv_widget), gadgets (which references tb_widget) and library
// (schema lib, created by its first migration, with its version table).
//
//go:embed testdata/widgets/*.sql testdata/gadgets/*.sql testdata/library/*.sql
var testdata embed.FS

// sub returns directory dir of testdata.
func sub(dir string) fs.FS {
	f, err := fs.Sub(testdata, dir)
	if err != nil {
		panic(err)
	}
	return f
}

var (
	// widgets records in a version table of a schema of its own.
	widgets = syncmigrate.Set{Name: "widgets", FS: sub("testdata/widgets"), VersionTable: "widgets.widget_migrations"}
	// gadgets records in goose's default version table.
	gadgets = syncmigrate.Set{Name: "gadgets", FS: sub("testdata/gadgets")}
	// library keeps its version table in schema lib, which its first
	// migration creates.
	library = syncmigrate.Set{Name: "library", FS: sub("testdata/library"), VersionTable: "lib.library_migrations"}
)

func TestMain(m *testing.M) {
	os.Exit(syncdbtest.Main(m, syncdbtest.Options{Migrations: []syncmigrate.Set{widgets, gadgets, library}}))
}
