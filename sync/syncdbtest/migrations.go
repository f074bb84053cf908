package syncdbtest

import (
	"cmp"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib" // also registers database/sql driver "pgx" for pgtestdb
	"github.com/peterldowns/pgtestdb"
	"github.com/pressly/goose/v3"

	"github.com/tvsync/tvsync/internal/goosestore"
	"github.com/tvsync/tvsync/sync/syncmigrate"
)

// ownSetName is the name of tvsync's own set, which an application's set
// cannot take (synccli reserves it the same way).
const ownSetName = "tvsync"

// MigrationSet is one of the application's goose migration sets, applied to
// the template after tvsync's own, with a version table of its own.
type MigrationSet struct {
	// Name identifies the set in error messages ("shop"). It is required,
	// unique among the sets, and may not be "tvsync".
	Name string
	// FS holds the set's goose migration files (NNNNN_name.sql) at its root.
	FS fs.FS
	// VersionTable is goose's version table for the set; empty means goose's
	// default, goose_db_version. A schema-qualified name ("shop.migrations")
	// puts it in that schema, which is created with the table when missing.
	// Two sets cannot share a version table, and none can use tvsync's
	// (tvsync.tvsync_migrations).
	VersionTable string
}

// versionTable returns the set's version table, goose's default when unset.
func (s MigrationSet) versionTable() string {
	return cmp.Or(s.VersionTable, goose.DefaultTablename)
}

// setsMigrator is the pgtestdb migrator of the template: tvsync's own set,
// then the application's sets in order.
type setsMigrator struct {
	sets []MigrationSet
}

var _ pgtestdb.Migrator = (*setsMigrator)(nil)

// newMigrator checks the application's sets and returns their migrator.
func newMigrator(sets []MigrationSet) (*setsMigrator, error) {
	names := map[string]bool{ownSetName: true}
	tables := map[string]string{syncmigrate.VersionTable: ownSetName}
	for i, set := range sets {
		switch {
		case set.Name == "":
			return nil, fmt.Errorf("syncdbtest: migration set %d has no Name", i)
		case names[set.Name]:
			return nil, fmt.Errorf("syncdbtest: migration set name %q is taken (tvsync's own set is %q)", set.Name, ownSetName)
		case set.FS == nil:
			return nil, fmt.Errorf("syncdbtest: migration set %q has no FS", set.Name)
		}
		names[set.Name] = true
		table := set.versionTable()
		if other, ok := tables[table]; ok {
			return nil, fmt.Errorf("syncdbtest: migration sets %q and %q share version table %q", other, set.Name, table)
		}
		tables[table] = set.Name
		if _, err := goosestore.New(table); err != nil {
			return nil, fmt.Errorf("syncdbtest: migration set %q: %w", set.Name, err)
		}
	}
	return &setsMigrator{sets: sets}, nil
}

// Hash identifies the template by every set's version table and files
// (names and contents), tvsync's own first, so a change to any of them
// builds a new template.
func (m *setsMigrator) Hash() (string, error) {
	h := sha256.New()
	all := append([]MigrationSet{{Name: ownSetName, FS: syncmigrate.FS, VersionTable: syncmigrate.VersionTable}}, m.sets...)
	for _, set := range all {
		fmt.Fprintf(h, "set %s\n", set.versionTable())
		err := fs.WalkDir(set.FS, ".", func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := fs.ReadFile(set.FS, path)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "%s %d\n%s\n", path, len(b), b)
			return nil
		})
		if err != nil {
			return "", fmt.Errorf("syncdbtest: hash the migrations of set %q: %w", set.Name, err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Migrate applies tvsync's set, then each application set, to the new
// template database that conf names.
func (m *setsMigrator) Migrate(ctx context.Context, _ *sql.DB, conf pgtestdb.Config) error {
	pool, err := pgxpool.New(ctx, conf.URL())
	if err != nil {
		return fmt.Errorf("syncdbtest: open the template database: %w", err)
	}
	defer pool.Close()
	if _, err := syncmigrate.Up(ctx, pool); err != nil {
		return fmt.Errorf("syncdbtest: migrate the template database: %w", err)
	}
	for _, set := range m.sets {
		if err := upSet(ctx, pool, set); err != nil {
			return fmt.Errorf("syncdbtest: migrate the template database: set %q: %w", set.Name, err)
		}
	}
	return nil
}

// upSet applies every migration of set on pool, recorded in its version
// table (whose schema goosestore creates).
func upSet(ctx context.Context, pool *pgxpool.Pool, set MigrationSet) (err error) {
	store, err := goosestore.New(set.versionTable())
	if err != nil {
		return err
	}
	db := stdlib.OpenDBFromPool(pool)
	defer func() { err = errors.Join(err, db.Close()) }()
	p, err := goose.NewProvider(goose.DialectCustom, db, set.FS, goose.WithStore(store))
	if err != nil {
		return fmt.Errorf("load migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("up: %w", err)
	}
	return nil
}
