package sync_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/internal/testdb"
	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/syncmigrate"
)

// libEntity is an entity of a team's own schema, lib, whose statements
// name every table with its schema, as tvsync gen writes them for a
// qualified declaration: lib.tb_book (bigint keys) documented in
// lib.tv_book, with an extra column (shelf) beside the document; source
// names its view ("" for none).
func libEntity(source string) tvsync.Entity {
	queue := func(p *tvsync.Pipeline, sql string, args ...any) pgx.BatchResults {
		b := &pgx.Batch{}
		b.Queue(sql, args...)
		return p.SendBatch(context.Background(), b)
	}
	list := func(table string) func(context.Context, tvsync.DB, tvsync.ID, int) ([]tvsync.ID, error) {
		return func(ctx context.Context, conn tvsync.DB, after tvsync.ID, limit int) ([]tvsync.ID, error) {
			rows, err := conn.Query(ctx, "SELECT id FROM "+table+" WHERE id >= $1 AND (id > $1 OR id = $3) ORDER BY id LIMIT $2", after.Int64(), limit, tvsync.MinID(tvsync.KeyBigint).Int64())
			if err != nil {
				return nil, err
			}
			return tvsync.Keys(pgx.CollectRows(rows, pgx.RowTo[int64]))
		}
	}
	return tvsync.Entity{
		Name:    "book",
		View:    "lib.tv_book",
		Source:  source,
		Key:     tvsync.KeyBigint,
		Columns: []string{"shelf"},
		Refresh: func(p *tvsync.Pipeline, ids []tvsync.ID) func() (tvsync.RefreshResult, error) {
			br := queue(p, `
				WITH src AS (SELECT id, data, shelf FROM lib.tv_book_source WHERE id = ANY($1)),
				up AS (
					INSERT INTO lib.tv_book AS v (id, data, shelf, updated_at) SELECT id, data, shelf, clock_timestamp() FROM src
					ON CONFLICT (id) DO UPDATE SET data = EXCLUDED.data, shelf = EXCLUDED.shelf, updated_at = EXCLUDED.updated_at
						WHERE (v.data, v.shelf) IS DISTINCT FROM (EXCLUDED.data, EXCLUDED.shelf)
					RETURNING v.id)
				SELECT (SELECT count(*) FROM src)::int, (SELECT count(*) FROM up)::int, clock_timestamp()`, tvsync.Int64s(ids))
			return func() (r tvsync.RefreshResult, err error) {
				err = br.QueryRow().Scan(&r.Found, &r.Upserted, &r.FinishedAt)
				return r, err
			}
		},
		DeleteMissing: func(p *tvsync.Pipeline, ids []tvsync.ID) func() (tvsync.DeleteResult, error) {
			br := queue(p, `
				WITH d AS (DELETE FROM lib.tv_book v WHERE v.id = ANY($1) AND NOT EXISTS (SELECT 1 FROM lib.tb_book t WHERE t.id = v.id) RETURNING v.id)
				SELECT count(*)::int, clock_timestamp() FROM d`, tvsync.Int64s(ids))
			return func() (r tvsync.DeleteResult, err error) {
				err = br.QueryRow().Scan(&r.Deleted, &r.FinishedAt)
				return r, err
			}
		},
		IDsAfter:     list("lib.tb_book"),
		ViewIDsAfter: list("lib.tv_book"),
	}
}

// Issue 19: a tv_ table in a schema of its own, named with it, is rebuilt
// (it was refused: the shadow copy worked by resolving the unqualified
// name). The shadow is built from the entity's Source view into a
// temporary table, so the rebuild needs no CREATE on the team's schema: a
// role granted only what a sync needs (USAGE on lib, SELECT on the command
// table and the view, writes on the tv_ table, tvsync's grants) rebuilds
// it, fixing a stale document, a drifted extra column, an orphan and a
// missing row, in place, and leaves nothing in lib. Without a Source the
// rebuild says what it needs and changes nothing.
func TestRebuild_SchemaQualifiedTableWithoutCreateOnItsSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	owner := testdb.New(t)
	_, err := owner.Exec(ctx, `
		CREATE SCHEMA lib;
		CREATE TABLE lib.tb_book (id bigint PRIMARY KEY, title text NOT NULL, shelf int NOT NULL);
		CREATE TABLE lib.tv_book (id bigint PRIMARY KEY, data jsonb NOT NULL, shelf int NOT NULL, updated_at timestamptz NOT NULL DEFAULT now());
		CREATE VIEW lib.tv_book_source AS SELECT id, jsonb_build_object('id', id, 'title', title) AS data, shelf FROM lib.tb_book;
		INSERT INTO lib.tb_book SELECT g, 'book ' || g, g % 7 FROM generate_series(-9223372036854775808, -9223372036854775808) g;
		INSERT INTO lib.tb_book SELECT g, 'book ' || g, g % 7 FROM generate_series(1, 40) g;`)
	require.NoError(t, err)
	role, roleURL := createLoginRole(t, owner, "rebuilder")
	su := superuserPool(t, owner)
	require.NoError(t, syncmigrate.GrantApp(ctx, su, role, ""))
	r := pgx.Identifier{role}.Sanitize()
	_, err = su.Exec(ctx, `GRANT USAGE ON SCHEMA lib TO `+r+`;
		GRANT SELECT ON lib.tb_book, lib.tv_book_source TO `+r+`;
		GRANT SELECT, INSERT, UPDATE, DELETE ON lib.tv_book TO `+r)
	require.NoError(t, err)
	app := rolePool(t, roleURL)
	var canCreate bool
	require.NoError(t, app.QueryRow(ctx, "SELECT has_schema_privilege('lib', 'CREATE')").Scan(&canCreate))
	require.False(t, canCreate)

	engine, err := tvsync.NewEngine(app, tvsync.Config{}, libEntity("lib.tv_book_source"))
	require.NoError(t, err)
	_, err = engine.FullSync(ctx, "book", tvsync.FullOptions{})
	require.NoError(t, err)
	var oid uint32
	require.NoError(t, owner.QueryRow(ctx, "SELECT 'lib.tv_book'::regclass::oid").Scan(&oid))
	_, err = owner.Exec(ctx, `
		UPDATE lib.tv_book SET data = '{}' WHERE id = 1;
		UPDATE lib.tv_book SET shelf = 99 WHERE id = -9223372036854775808;
		INSERT INTO lib.tv_book (id, data, shelf) VALUES (1000, '{}', 0);
		DELETE FROM lib.tv_book WHERE id = 40;`)
	require.NoError(t, err)

	res, err := engine.Rebuild(ctx, "book", tvsync.RebuildOptions{ChunkSize: 10})
	require.NoError(t, err)
	assert.Equal(t, 41, res.Rows, "every command row, the smallest key included")
	assert.Equal(t, 4, res.Differing)
	assert.Equal(t, 3, res.CaughtUp)
	assert.Equal(t, 1, res.Removed)
	assert.Zero(t, countRows(t, owner, `SELECT count(*) FROM lib.tv_book v FULL JOIN lib.tv_book_source s USING (id)
		WHERE (v.data, v.shelf) IS DISTINCT FROM (s.data, s.shelf)`), "the live table equals its view")
	var after uint32
	require.NoError(t, owner.QueryRow(ctx, "SELECT 'lib.tv_book'::regclass::oid").Scan(&after))
	assert.Equal(t, oid, after, "rebuilt in place")
	assert.Equal(t, 3, countRows(t, owner, "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'lib'")-
		countRows(t, owner, "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'lib'"),
		"lib holds its two tables and its view, nothing of the rebuild")

	noSource, err := tvsync.NewEngine(app, tvsync.Config{}, libEntity(""))
	require.NoError(t, err)
	_, err = owner.Exec(ctx, "UPDATE lib.tv_book SET data = '{}' WHERE id = 2")
	require.NoError(t, err)
	_, err = noSource.Rebuild(ctx, "book", tvsync.RebuildOptions{})
	require.ErrorIs(t, err, tvsync.ErrNoSource)
	assert.Contains(t, err.Error(), "lib.tv_book is named with its schema")
	assert.Equal(t, 1, countRows(t, owner, "SELECT count(*) FROM lib.tv_book WHERE data = '{}'"), "nothing changed")
}
