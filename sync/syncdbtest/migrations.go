package syncdbtest

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/peterldowns/pgtestdb"

	"github.com/tvsync/tvsync/sync/syncmigrate"
)

// setsMigrator is the pgtestdb migrator of the template: tvsync's own set,
// then the application's sets in order.
type setsMigrator struct {
	sets []syncmigrate.Set
}

var _ pgtestdb.Migrator = (*setsMigrator)(nil)

// newMigrator checks the application's sets and returns their migrator.
func newMigrator(sets []syncmigrate.Set) (*setsMigrator, error) {
	if err := syncmigrate.CheckSets(sets); err != nil {
		return nil, fmt.Errorf("syncdbtest: %w", err)
	}
	return &setsMigrator{sets: sets}, nil
}

// Hash identifies the template by every set's version table and files
// (names and contents), tvsync's own first, so a change to any of them
// builds a new template.
func (m *setsMigrator) Hash() (string, error) {
	h := sha256.New()
	all := append([]syncmigrate.Set{syncmigrate.Own()}, m.sets...)
	for _, set := range all {
		fmt.Fprintf(h, "set %s\n", set.Table())
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
// table (whose schema the migrator creates).
func upSet(ctx context.Context, pool *pgxpool.Pool, set syncmigrate.Set) (err error) {
	m, err := syncmigrate.New(pool, &syncmigrate.Config{Set: set})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, m.Close()) }()
	_, err = m.Migrate(ctx, syncmigrate.DirectionUp, nil)
	return err
}
