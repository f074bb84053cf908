package syncdbtest_test

import (
	"embed"
	"os"
	"testing"

	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/syncdbtest"
	"github.com/tvsync/tvsync/sync/syncmigrate"
)

// migrations stands for a team's migrations package, whose FS embeds its
// goose files (//go:embed *.sql).
var migrations struct{ FS embed.FS }

// app stands for a team's package of entity registrations, whose
// MustNewEngine registers them (see the blog package's).
var app struct {
	MustNewEngine func(pool tvsync.Beginner) *tvsync.Engine
}

// Example is a team's package testing its own entities: its TestMain gives
// the package one throwaway server and a template migrated with tvsync's
// migrations then the team's; each test gets a database of its own.
func Example() {
	// main_test.go
	TestMain := func(m *testing.M) {
		os.Exit(syncdbtest.Main(m, syncdbtest.Options{
			Migrations: []syncmigrate.Set{
				{Name: "widgets", FS: migrations.FS, VersionTable: "widget_migrations"},
			},
		}))
	}

	// widget_test.go
	TestWidgetRename := func(t *testing.T) {
		t.Parallel()
		pool := syncdbtest.New(t) // schema tvsync, tb_widget, tv_widget, …: dropped if the test passes
		if _, err := pool.Exec(t.Context(), "INSERT INTO tb_widget (name) VALUES ('gear')"); err != nil {
			t.Fatal(err)
		}
		// … write through your unit of work, then assert on tv_widget.
	}

	TestWidgetPlans := func(t *testing.T) {
		pool := syncdbtest.New(t)
		// … write a few widgets, then: every plan builds tv_widget_source's documents.
		syncdbtest.RequirePlansMatchSource(t, app.MustNewEngine(pool))
	}

	_, _, _ = TestMain, TestWidgetRename, TestWidgetPlans
}
