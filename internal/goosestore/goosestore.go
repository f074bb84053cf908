// Package goosestore gives goose a PostgreSQL version table that may live in
// a schema of its own ("schema.table"), creating that schema when goose
// creates the table.
//
// goose's Provider (v3.29) handles a schema-qualified table name on
// PostgreSQL: it looks the table up in pg_tables under that schema, and
// creates, reads and writes it under the qualified name. It does not create
// the schema, so without it the first migration of a fresh database fails
// (after retries) with "schema ... does not exist". New's store runs CREATE
// SCHEMA IF NOT EXISTS in the transaction that creates the version table,
// under the provider's session lock.
package goosestore

import (
	"context"
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
	schema, _, qualified := strings.Cut(table, ".")
	if !qualified {
		return ext, nil
	}
	if schema == "" {
		return nil, fmt.Errorf("goose version table %q: empty schema name", table)
	}
	return &schemaStore{StoreExtender: ext, schema: schema}, nil
}

// schemaStore is goose's store whose version table lives in schema.
type schemaStore struct {
	database.StoreExtender
	schema string
}

// CreateVersionTable creates the schema, if missing, then the version table.
func (s *schemaStore) CreateVersionTable(ctx context.Context, db database.DBTxConn) error {
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{s.schema}.Sanitize()); err != nil {
		return fmt.Errorf("create schema %s of goose version table %s: %w", s.schema, s.Tablename(), err)
	}
	return s.StoreExtender.CreateVersionTable(ctx, db)
}
