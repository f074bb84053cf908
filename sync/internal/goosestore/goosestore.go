// Package goosestore gives goose a PostgreSQL version table that may live in
// a schema of its own ("schema.table"), even one that the set's own first
// migration creates.
//
// goose's Provider (v3.29) handles a schema-qualified table name on
// PostgreSQL: it looks the table up in pg_tables under that schema, and
// creates, reads and writes it under the qualified name. It does not create
// the schema, and it creates the version table before it runs any
// migration (Provider.initialize, then ensureVersionTable), so a set whose
// first migration runs CREATE SCHEMA for its own version table cannot be
// applied by goose alone: either the schema is missing when goose creates
// the table, or, created beforehand, the migration's CREATE SCHEMA fails
// (42P06).
//
// New's store therefore keeps, while the schema does not exist, goose's
// version table in a temporary table of the session (pg_temp.<table>):
// goose records version 0 there and runs the first migration; in the
// transaction that records that migration (goose records each migration
// in the migration's own transaction) the store creates the schema when the
// migration did not (CREATE SCHEMA IF NOT EXISTS), creates the real version
// table and moves the rows there. So the schema and the version table
// appear together with the first migration, or not at all: a status, or an
// up with nothing to apply, leaves no trace, and a set whose first
// migration creates the schema applies as written. All of it runs under the
// provider's session lock.
package goosestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/pressly/goose/v3/database"
)

// New returns goose's PostgreSQL store for the version table table, either
// "table" (found through the search_path, as goose does) or "schema.table".
// Pass it to goose.NewProvider with goose.WithStore (not WithTableName).
func New(table string) (database.Store, error) {
	s, err := database.NewStore(database.DialectPostgres, table)
	if err != nil {
		return nil, fmt.Errorf("goose version table %q: %w", table, err)
	}
	ext, ok := s.(database.StoreExtender)
	if !ok { // goose's own PostgreSQL store implements it
		return nil, fmt.Errorf("goose version table %q: goose's PostgreSQL store has no TableExists", table)
	}
	schema, name, qualified := strings.Cut(table, ".")
	if !qualified {
		return ext, nil
	}
	if schema == "" {
		return nil, fmt.Errorf("goose version table %q: empty schema name", table)
	}
	if name == "" || strings.Contains(name, ".") {
		return nil, fmt.Errorf("goose version table %q: want table or schema.table", table)
	}
	temp, err := database.NewStore(database.DialectPostgres, "pg_temp."+name)
	if err != nil {
		return nil, fmt.Errorf("goose version table %q: %w", table, err)
	}
	return &schemaStore{StoreExtender: ext, temp: temp, schema: schema, name: name}, nil
}

// schemaStore is the store of a version table in its own schema: the real
// table, or, while pending, the session's temporary table.
type schemaStore struct {
	database.StoreExtender
	temp         database.Store
	schema, name string
	// pending is set while the version table is the temporary one.
	pending bool
}

// schemaExists reports whether the version table's schema exists.
func (s *schemaStore) schemaExists(ctx context.Context, db database.DBTxConn) (bool, error) {
	var ok bool
	if err := db.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1)", s.schema).Scan(&ok); err != nil {
		return false, fmt.Errorf("look for schema %s of goose version table %s: %w", s.schema, s.Tablename(), err)
	}
	return ok, nil
}

// CreateVersionTable creates the version table when its schema exists, and
// otherwise the session's temporary one (see the package doc).
func (s *schemaStore) CreateVersionTable(ctx context.Context, db database.DBTxConn) error {
	ok, err := s.schemaExists(ctx, db)
	if err != nil {
		return err
	}
	if ok {
		s.pending = false
		return s.StoreExtender.CreateVersionTable(ctx, db)
	}
	s.pending = true
	if _, err := db.ExecContext(ctx, "DROP TABLE IF EXISTS pg_temp."+pgx.Identifier{s.name}.Sanitize()); err != nil {
		return fmt.Errorf("reset the temporary goose version table %s: %w", s.name, err)
	}
	return s.temp.CreateVersionTable(ctx, db)
}

// current returns the store to use on db: the real one, or, while pending
// and the real table does not exist yet, the temporary one, created on
// db's session when it lacks it (goose may run an operation on another
// pooled session than the one that created it).
func (s *schemaStore) current(ctx context.Context, db database.DBTxConn) (database.Store, error) {
	if !s.pending {
		return s.StoreExtender, nil
	}
	exists, err := s.StoreExtender.TableExists(ctx, db)
	if err != nil {
		return nil, fmt.Errorf("look for goose version table %s: %w", s.Tablename(), err)
	}
	if exists { // another process created it meanwhile
		s.pending = false
		return s.StoreExtender, nil
	}
	var has bool
	if err := db.QueryRowContext(ctx, "SELECT pg_catalog.to_regclass($1) IS NOT NULL", "pg_temp."+pgx.Identifier{s.name}.Sanitize()).Scan(&has); err != nil {
		return nil, fmt.Errorf("look for the temporary goose version table %s: %w", s.name, err)
	}
	if !has {
		if err := s.temp.CreateVersionTable(ctx, db); err != nil {
			return nil, err
		}
		if err := s.temp.Insert(ctx, db, database.InsertRequest{Version: 0}); err != nil {
			return nil, err
		}
	}
	return s.temp, nil
}

// Insert records a version. The first migration recorded while pending
// moves the version table into its schema, creating the schema unless the
// migration did, on db: in the migration's transaction when it has one.
func (s *schemaStore) Insert(ctx context.Context, db database.DBTxConn, req database.InsertRequest) error {
	st, err := s.current(ctx, db)
	if err != nil {
		return err
	}
	if err := st.Insert(ctx, db, req); err != nil {
		return err
	}
	if st == s.temp && req.Version > 0 {
		return s.move(ctx, db)
	}
	return nil
}

// move creates the schema (if missing) and the real version table, copies
// the temporary table's rows there and drops it, atomically.
func (s *schemaStore) move(ctx context.Context, db database.DBTxConn) (err error) {
	run := db
	if conn, ok := db.(*sql.Conn); ok { // a migration without a transaction
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("begin the move of goose version table %s: %w", s.Tablename(), err)
		}
		defer func() {
			if err != nil {
				err = errors.Join(err, tx.Rollback())
			} else if err = tx.Commit(); err != nil {
				err = fmt.Errorf("commit the move of goose version table %s: %w", s.Tablename(), err)
			}
		}()
		run = tx
	}
	temp := "pg_temp." + pgx.Identifier{s.name}.Sanitize()
	if _, err := run.ExecContext(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{s.schema}.Sanitize()); err != nil {
		return fmt.Errorf("create schema %s of goose version table %s: %w", s.schema, s.Tablename(), err)
	}
	if err := s.StoreExtender.CreateVersionTable(ctx, run); err != nil {
		return fmt.Errorf("create goose version table %s: %w", s.Tablename(), err)
	}
	real := pgx.Identifier{s.schema, s.name}.Sanitize()
	for _, stmt := range []string{
		"INSERT INTO " + real + " (version_id, is_applied, tstamp) SELECT version_id, is_applied, tstamp FROM " + temp + " ORDER BY id",
		"DROP TABLE " + temp,
	} {
		if _, err := run.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("move goose version table %s: %w", s.Tablename(), err)
		}
	}
	s.pending = false
	return nil
}

// Delete removes a version.
func (s *schemaStore) Delete(ctx context.Context, db database.DBTxConn, version int64) error {
	st, err := s.current(ctx, db)
	if err != nil {
		return err
	}
	return st.Delete(ctx, db, version)
}

// GetMigration reads one version.
func (s *schemaStore) GetMigration(ctx context.Context, db database.DBTxConn, version int64) (*database.GetMigrationResult, error) {
	st, err := s.current(ctx, db)
	if err != nil {
		return nil, err
	}
	return st.GetMigration(ctx, db, version)
}

// GetLatestVersion reads the latest version.
func (s *schemaStore) GetLatestVersion(ctx context.Context, db database.DBTxConn) (int64, error) {
	st, err := s.current(ctx, db)
	if err != nil {
		return 0, err
	}
	return st.GetLatestVersion(ctx, db)
}

// ListMigrations lists the versions, newest first.
func (s *schemaStore) ListMigrations(ctx context.Context, db database.DBTxConn) ([]*database.ListMigrationsResult, error) {
	st, err := s.current(ctx, db)
	if err != nil {
		return nil, err
	}
	return st.ListMigrations(ctx, db)
}
