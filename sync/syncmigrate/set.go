package syncmigrate

import (
	"cmp"
	"context"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pressly/goose/v3"

	"github.com/tvsync/tvsync/sync/internal/goosestore"
)

// OwnSetName is the name of tvsync's own migration set (Own), which no
// application set may take.
const OwnSetName = "tvsync"

// Set is one named set of goose SQL migrations with a version table of its
// own, so that tvsync's tables and an application's keep separate
// histories. tvsync's own set (Own) always runs first, then the
// application's sets in order: in synccli's "migrate up"
// (synccli.Config.Migrations) and in the templates of syncdbtest
// (syncdbtest.Options.Migrations) alike. CheckSets says which sets are
// valid together.
type Set struct {
	// Name identifies the set in output, in error messages and in synccli's
	// "migrate --set" ("shop"). It is required, unique among the sets, and
	// may not be "tvsync" (OwnSetName).
	Name string
	// FS holds the set's goose migration files (NNNNN_name.sql) at its root.
	FS fs.FS
	// VersionTable is goose's version table for the set; empty means goose's
	// default, goose_db_version. A schema-qualified name ("shop.migrations")
	// puts it in that schema, which is created with the table when missing.
	// Two sets cannot share a version table, and none can use tvsync's
	// (tvsync.tvsync_migrations).
	VersionTable string
	// CheckDown, if set, runs before Migrate rolls any of the set's
	// migrations back (synccli's "migrate down" and "redo"), unless forced
	// (MigrateOpts.Force, "migrate down --force"); its error refuses the
	// roll-back, which then changes nothing. A set uses it to refuse a
	// roll-back that would lose data, as Own's does while
	// tvsync.sync_queue holds rows. syncdbtest, which only migrates up,
	// ignores it.
	CheckDown func(ctx context.Context, pool *pgxpool.Pool) error
}

// Own returns tvsync's own set, "tvsync": this package's files (FS),
// recorded in VersionTable, whose roll-back is refused while
// tvsync.sync_queue holds rows, unless forced (CheckDown, ErrQueueNotEmpty).
func Own() Set {
	return Set{Name: OwnSetName, FS: FS, VersionTable: VersionTable, CheckDown: checkQueue}
}

// Table returns the set's version table: VersionTable, or goose's default
// goose_db_version when it is empty.
func (s Set) Table() string {
	return cmp.Or(s.VersionTable, goose.DefaultTablename)
}

// CheckSets checks an application's sets, which run after Own: each needs
// a Name and an FS, and no two sets (Own included) may share a name or a
// version table; a version table must be a valid, optionally
// schema-qualified, name. The error names the first offending set.
func CheckSets(sets []Set) error {
	names := map[string]bool{OwnSetName: true}
	tables := map[string]string{VersionTable: OwnSetName}
	for i, set := range sets {
		switch {
		case set.Name == "":
			return fmt.Errorf("syncmigrate: migration set %d has no Name", i)
		case names[set.Name]:
			return fmt.Errorf("syncmigrate: migration set name %q is taken (tvsync's own set is %q)", set.Name, OwnSetName)
		case set.FS == nil:
			return fmt.Errorf("syncmigrate: migration set %q has no FS", set.Name)
		}
		names[set.Name] = true
		table := set.Table()
		if other, ok := tables[table]; ok {
			return fmt.Errorf("syncmigrate: migration sets %q and %q share version table %q", other, set.Name, table)
		}
		tables[table] = set.Name
		if _, err := goosestore.New(table); err != nil {
			return fmt.Errorf("syncmigrate: migration set %q: %w", set.Name, err)
		}
	}
	return nil
}
