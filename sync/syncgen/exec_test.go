package syncgen_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/sync/syncdbtest"
	"github.com/tvsync/tvsync/sync/syncgen"
)

// execDecl declares a uuid entity (tag) and two bigint ones (product, line):
// a tag's document counts its products, a product's embeds its tag's label,
// a line's its product's name.
const execDecl = `
version: 1
sql: {out: q}
go: {out: g/entities_gen.go, package: g, queries: example.com/x/db}
entities:
  - name: tag
    table: tb_tag
    key: {column: id, type: uuid}
    tv: tv_tag
    source: tv_tag_source
    cascades:
      - {to: product, path: tb_product.tag_id}
  - name: product
    table: tb_product
    key: {column: product_id, type: bigint}
    tv: tv_product
    source: tv_product_source
    cascades:
      - {to: line, path: tb_line.product_id}
      - {to: tag, path: tb_product.product_id -> tag_id}
  - name: line
    table: tb_line
    key: {column: line_id, type: bigint}
    tv: tv_line
    source: tv_line_source
`

const execSchema = `
CREATE TABLE tb_tag (id uuid PRIMARY KEY, label text NOT NULL);
CREATE TABLE tb_product (product_id bigint PRIMARY KEY, tag_id uuid NOT NULL REFERENCES tb_tag, name text NOT NULL);
CREATE INDEX ON tb_product (tag_id);
CREATE TABLE tb_line (line_id bigint PRIMARY KEY, product_id bigint NOT NULL REFERENCES tb_product, qty int NOT NULL);
CREATE INDEX ON tb_line (product_id);
CREATE TABLE tv_tag (id uuid PRIMARY KEY, data jsonb NOT NULL, updated_at timestamptz NOT NULL);
CREATE TABLE tv_product (id bigint PRIMARY KEY, data jsonb NOT NULL, updated_at timestamptz NOT NULL);
CREATE TABLE tv_line (id bigint PRIMARY KEY, data jsonb NOT NULL, updated_at timestamptz NOT NULL);
CREATE VIEW tv_tag_source AS
    SELECT t.id, jsonb_build_object('label', t.label, 'products', (SELECT count(*) FROM tb_product p WHERE p.tag_id = t.id)) AS data FROM tb_tag t;
CREATE VIEW tv_product_source AS
    SELECT p.product_id AS id, jsonb_build_object('name', p.name, 'tag', t.label) AS data FROM tb_product p JOIN tb_tag t ON t.id = p.tag_id;
CREATE VIEW tv_line_source AS
    SELECT l.line_id AS id, jsonb_build_object('qty', l.qty, 'product', p.name) AS data FROM tb_line l JOIN tb_product p ON p.product_id = l.product_id;
`

var paramRE = regexp.MustCompile(`@([a-z_]+)`)

// statements renders execDecl and returns each generated statement by name,
// sqlc's @name parameters rewritten to $n (numbered in order of first use,
// as sqlc numbers them) with their names in that order.
func statements(t *testing.T) map[string]stmt {
	t.Helper()
	cfg, err := syncgen.Parse("tvsync.yaml", []byte(execDecl))
	require.NoError(t, err)
	return statementsOf(t, cfg)
}

// statementsOf renders cfg and returns its statements as statements does.
func statementsOf(t *testing.T, cfg *syncgen.Config) map[string]stmt {
	t.Helper()
	files, err := cfg.Render()
	require.NoError(t, err)
	out := map[string]stmt{}
	for _, f := range files {
		if !strings.HasSuffix(f.Path, ".sql") {
			continue
		}
		for _, part := range strings.Split(string(f.Content), "-- name: ")[1:] {
			name := strings.Fields(part)[0]
			var body []string
			for _, line := range strings.Split(part, "\n")[1:] {
				if !strings.HasPrefix(line, "--") {
					body = append(body, line)
				}
			}
			var s stmt
			index := map[string]int{}
			s.sql = paramRE.ReplaceAllStringFunc(strings.Join(body, "\n"), func(m string) string {
				if _, ok := index[m[1:]]; !ok {
					s.params = append(s.params, m[1:])
					index[m[1:]] = len(s.params)
				}
				return "$" + strconv.Itoa(index[m[1:]])
			})
			out[name] = s
		}
	}
	return out
}

type stmt struct {
	sql    string
	params []string
}

// args orders named arguments as the statement numbers them.
func (s stmt) args(t *testing.T, named map[string]any) []any {
	t.Helper()
	require.Len(t, named, len(s.params), "parameters %v", s.params)
	out := make([]any, len(s.params))
	for i, p := range s.params {
		v, ok := named[p]
		require.True(t, ok, "no argument %s (parameters %v)", p, s.params)
		out[i] = v
	}
	return out
}

type execEnv struct {
	t     *testing.T
	ctx   context.Context
	pool  *pgxpool.Pool
	stmts map[string]stmt
}

// on returns e failing subtest t.
func (e execEnv) on(t *testing.T) execEnv {
	e.t = t
	return e
}

func (e execEnv) refresh(name string, named map[string]any) (found, upserted int) {
	e.t.Helper()
	s, ok := e.stmts[name]
	require.True(e.t, ok, name)
	// found and upserted lead; a write refresh also lists what changed.
	vals := e.first(name, s.sql, s.args(e.t, named))
	return int(vals[0].(int32)), int(vals[1].(int32))
}

// first runs sql and returns the values of its one row.
func (e execEnv) first(name, sql string, args []any) []any {
	e.t.Helper()
	rows, err := e.pool.Query(e.ctx, sql, args...)
	require.NoError(e.t, err, name)
	defer rows.Close()
	require.True(e.t, rows.Next(), name)
	vals, err := rows.Values()
	require.NoError(e.t, err, name)
	return vals
}

func (e execEnv) deleted(name string, named map[string]any) int {
	e.t.Helper()
	s := e.stmts[name]
	// deleted leads; DeleteMissing also lists the ids.
	return int(e.first(name, s.sql, s.args(e.t, named))[0].(int32))
}

func rowsOf[T any](e execEnv, name string, named map[string]any) []T {
	e.t.Helper()
	s, ok := e.stmts[name]
	require.True(e.t, ok, name)
	rows, err := e.pool.Query(e.ctx, s.sql, s.args(e.t, named)...)
	require.NoError(e.t, err, name)
	scan := pgx.RowTo[T]
	var zero T
	if _, ok := any(zero).(interface{ isRow() }); ok {
		scan = pgx.RowToStructByPos[T]
	}
	out, err := pgx.CollectRows(rows, scan)
	require.NoError(e.t, err, name)
	return out
}

func (e execEnv) exec(sql string, args ...any) {
	e.t.Helper()
	_, err := e.pool.Exec(e.ctx, sql, args...)
	require.NoError(e.t, err, sql)
}

// tvMatchesSource reports whether the tv_ table holds exactly its view.
func (e execEnv) tvMatchesSource(tv, src string) bool {
	e.t.Helper()
	var n int
	require.NoError(e.t, e.pool.QueryRow(e.ctx, `SELECT count(*) FROM (
		(SELECT id, data FROM `+src+` EXCEPT SELECT id, data FROM `+tv+`) UNION ALL
		(SELECT id, data FROM `+tv+` EXCEPT SELECT id, data FROM `+src+`)) d`).Scan(&n))
	return n == 0
}

type drift struct {
	ID      int64
	Problem string
}

func (drift) isRow() {}

type uuidDrift struct {
	ID      uuid.UUID
	Problem string
}

func (uuidDrift) isRow() {}

// TestGeneratedStatements_RunOnPostgreSQL executes the statements rendered
// for a uuid and two bigint entities on a real PostgreSQL: refresh writes
// only changed documents, delete-missing removes only gone rows, the range
// statements and listings include the smallest key (the MinID rule) and
// exclude any other cursor, range statements write only @ids, verify finds
// missing, stale and orphaned rows, the cascade look-ups find the rows.
func TestGeneratedStatements_RunOnPostgreSQL(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	e := execEnv{t: t, ctx: ctx, pool: syncdbtest.New(t), stmts: statements(t)}
	e.exec(execSchema)

	nilTag, tagB := uuid.Nil, uuid.MustParse("bbbbbbbb-0000-0000-0000-000000000000")
	const minKey = int64(math.MinInt64)
	e.exec(`INSERT INTO tb_tag VALUES ($1, 'zero'), ($2, 'bee')`, nilTag, tagB)
	e.exec(`INSERT INTO tb_product VALUES ($1, $2, 'min'), (1, $2, 'one'), (2, $3, 'two'), (3, $3, 'three')`, minKey, nilTag, tagB)
	e.exec(`INSERT INTO tb_line VALUES (10, 1, 5), (11, 1, 6), (12, 3, 7)`)

	t.Run("refresh writes only changed documents", func(t *testing.T) {
		e := e.on(t)
		found, upserted := e.refresh("ProductRefresh", map[string]any{"ids": []int64{minKey, 1, 2, 3, 99, 1}})
		assert.Equal(t, [2]int{4, 4}, [2]int{found, upserted}, "99 does not exist; 1 twice counts once")
		found, upserted = e.refresh("ProductRefresh", map[string]any{"ids": []int64{minKey, 1, 2, 3}})
		assert.Equal(t, [2]int{4, 0}, [2]int{found, upserted}, "nothing changed")
		e.exec(`UPDATE tb_product SET name = 'uno' WHERE product_id = 1`)
		found, upserted = e.refresh("ProductRefresh", map[string]any{"ids": []int64{1, 2}})
		assert.Equal(t, [2]int{2, 1}, [2]int{found, upserted})
		assert.True(t, e.tvMatchesSource("tv_product", "tv_product_source"))

		found, upserted = e.refresh("TagRefresh", map[string]any{"ids": []uuid.UUID{nilTag, tagB}})
		assert.Equal(t, [2]int{2, 2}, [2]int{found, upserted})
		assert.True(t, e.tvMatchesSource("tv_tag", "tv_tag_source"))
	})

	t.Run("cascade look-ups", func(t *testing.T) {
		e := e.on(t)
		products := rowsOf[int64](e, "ProductIDsByTag", map[string]any{"ids": []uuid.UUID{tagB, tagB}})
		assert.ElementsMatch(t, []int64{2, 3}, products)
		lines := rowsOf[int64](e, "LineIDsByProduct", map[string]any{"ids": []int64{1, 3, 2}})
		assert.ElementsMatch(t, []int64{10, 11, 12}, lines)
		tags := rowsOf[uuid.UUID](e, "TagIDsByProductProduct", map[string]any{"ids": []int64{minKey, 1, 2, 3}})
		assert.ElementsMatch(t, []uuid.UUID{nilTag, tagB}, tags, "distinct tags of the products")
		assert.Empty(t, rowsOf[int64](e, "LineIDsByProduct", map[string]any{"ids": []int64{2}}))
	})

	t.Run("listings include the smallest key only from it", func(t *testing.T) {
		e := e.on(t)
		assert.Equal(t, []int64{minKey, 1, 2}, rowsOf[int64](e, "ProductIDsAfter", map[string]any{"after": minKey, "page_size": 3}))
		assert.Equal(t, []int64{2, 3}, rowsOf[int64](e, "ProductIDsAfter", map[string]any{"after": int64(1), "page_size": 10}))
		assert.Equal(t, []int64{minKey, 1}, rowsOf[int64](e, "ProductViewIDsAfter", map[string]any{"after": minKey, "page_size": 2}))
		assert.Equal(t, []uuid.UUID{nilTag, tagB}, rowsOf[uuid.UUID](e, "TagIDsAfter", map[string]any{"after": uuid.Nil, "page_size": 10}))
		assert.Equal(t, []uuid.UUID{nilTag, tagB}, rowsOf[uuid.UUID](e, "TagViewIDsAfter", map[string]any{"after": nilTag, "page_size": 10}))
		assert.Equal(t, []uuid.UUID{tagB}, rowsOf[uuid.UUID](e, "TagIDsAfter", map[string]any{"after": uuid.MustParse("00000000-0000-0000-0000-000000000001"), "page_size": 10}))
	})

	t.Run("range refresh writes only @ids of the range, from the smallest key on", func(t *testing.T) {
		e := e.on(t)
		e.exec(`UPDATE tb_product SET name = name || '!'`)
		found, upserted := e.refresh("ProductRangeRefresh", map[string]any{"after": minKey, "upto": int64(2), "ids": []int64{minKey, 2, 3}})
		assert.Equal(t, [2]int{2, 2}, [2]int{found, upserted}, "min and 2: 1 is not in @ids, 3 not in the range")
		var names []string
		require.NoError(t, e.pool.QueryRow(ctx, `SELECT array_agg(data->>'name' ORDER BY id) FROM tv_product`).Scan(&names))
		assert.Equal(t, []string{"min!", "uno", "two!", "three"}, names)
		found, upserted = e.refresh("ProductRangeRefresh", map[string]any{"after": int64(1), "upto": int64(3), "ids": []int64{1, 2, 3}})
		assert.Equal(t, [2]int{2, 1}, [2]int{found, upserted}, "the bound 1 is excluded, 2 is current")
		found, upserted = e.refresh("TagRangeRefresh", map[string]any{"after": nilTag, "upto": tagB, "ids": []uuid.UUID{nilTag, tagB}})
		assert.Equal(t, [2]int{2, 0}, [2]int{found, upserted})
	})

	t.Run("verify finds missing, stale and orphaned rows", func(t *testing.T) {
		e := e.on(t)
		e.refresh("ProductRefresh", map[string]any{"ids": []int64{minKey, 1, 2, 3}})
		e.exec(`INSERT INTO tb_product VALUES (4, $1, 'four')`, tagB)                                     // missing
		e.exec(`UPDATE tv_product SET data = '{}' WHERE id = 2`)                                          // stale
		e.exec(`INSERT INTO tv_product VALUES (5, '{}', now()), ($1, '{}', now())`, int64(math.MaxInt64)) // orphaned
		e.exec(`UPDATE tv_product SET data = '{}' WHERE id = $1`, minKey)                                 // stale, at the smallest key
		assert.Equal(t, []drift{{minKey, "stale"}, {2, "stale"}, {4, "missing"}, {5, "orphaned"}},
			rowsOf[drift](e, "ProductVerify", map[string]any{"after": minKey, "upto": int64(5)}))
		assert.Equal(t, []drift{{2, "stale"}, {4, "missing"}},
			rowsOf[drift](e, "ProductVerify", map[string]any{"after": int64(1), "upto": int64(4)}), "(1, 4]")
		e.exec(`UPDATE tv_tag SET data = '{}' WHERE id = $1`, nilTag) // and tag B counts product 4 now
		assert.Equal(t, []uuidDrift{{nilTag, "stale"}, {tagB, "stale"}}, rowsOf[uuidDrift](e, "TagVerify", map[string]any{"after": nilTag, "upto": tagB}))
	})

	t.Run("delete-missing removes only rows whose command row is gone", func(t *testing.T) {
		e := e.on(t)
		assert.Equal(t, 1, e.deleted("ProductDeleteMissing", map[string]any{"ids": []int64{1, 2, 5}}), "5 only")
		assert.Equal(t, 0, e.deleted("ProductDeleteMissing", map[string]any{"ids": []int64{5}}))
		e.exec(`INSERT INTO tv_product VALUES (6, '{}', now()), (7, '{}', now())`)
		assert.Equal(t, 1, e.deleted("ProductRangeDeleteMissing", map[string]any{"after": int64(5), "upto": int64(7), "ids": []int64{7}}), "7 only: 6 is not in @ids")
		assert.Equal(t, 2, e.deleted("ProductRangeDeleteMissing", map[string]any{"after": int64(5), "upto": int64(math.MaxInt64), "ids": []int64{6, 7, math.MaxInt64}}), "6 (7 is gone already), the orphan at the largest key")
	})
}

// execPlans are plan files of execDecl's product (wide and range) and tag
// (range), as written by hand: one with its own WITH clause and a
// semicolon, the range ones with the MinID rule.
var execPlans = map[string]string{
	"product_wide.sql": `-- ProductWideRefresh builds the product documents of a batch, the tags joined once.
WITH b AS MATERIALIZED (SELECT DISTINCT unnest(@ids::bigint[]) AS id),
t AS MATERIALIZED (SELECT t.id, t.label FROM tb_tag t WHERE t.id IN (SELECT p.tag_id FROM tb_product p JOIN b ON b.id = p.product_id))
SELECT p.product_id AS id, jsonb_build_object('name', p.name, 'tag', t.label) AS data
FROM b JOIN tb_product p ON p.product_id = b.id JOIN t ON t.id = p.tag_id;
`,
	"product_range.sql": `-- ProductRangeRefresh builds the product documents of a keyset range.
SELECT p.product_id AS id, jsonb_build_object('name', p.name, 'tag', t.label) AS data
FROM tb_product p JOIN tb_tag t ON t.id = p.tag_id
WHERE p.product_id >= @after::bigint AND (p.product_id > @after::bigint OR p.product_id = -9223372036854775808) AND p.product_id <= @upto::bigint
`,
	"tag_range.sql": `SELECT t.id, jsonb_build_object('label', t.label, 'products', (SELECT count(*) FROM tb_product p WHERE p.tag_id = t.id)) AS data
FROM tb_tag t WHERE t.id >= @after::uuid AND (t.id > @after::uuid OR t.id = '00000000-0000-0000-0000-000000000000') AND t.id <= @upto::uuid;
`,
}

// TestPlanStatements_RunOnPostgreSQL executes the statements gen wraps
// around plan files on a real PostgreSQL: the wide one writes the
// documents of @ids, only the changed ones; the range one writes only the
// @ids of its range, from the smallest key on, though the plan builds the
// whole range (the restriction is the generator's).
func TestPlanStatements_RunOnPostgreSQL(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	decl := strings.Replace(strings.Replace(execDecl,
		"    source: tv_product_source\n", "    source: tv_product_source\n    plans: {wide: q/plans/product_wide.sql, range: q/plans/product_range.sql}\n", 1),
		"    source: tv_tag_source\n", "    source: tv_tag_source\n    plans: {range: q/plans/tag_range.sql}\n", 1)
	require.NotEqual(t, execDecl, decl)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "tvsync.yaml"), []byte(decl), 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "q", "plans"), 0o755))
	for name, src := range execPlans {
		require.NoError(t, os.WriteFile(filepath.Join(dir, "q", "plans", name), []byte(src), 0o644))
	}
	cfg, err := syncgen.Load(filepath.Join(dir, "tvsync.yaml"))
	require.NoError(t, err)
	e := execEnv{t: t, ctx: ctx, pool: syncdbtest.New(t), stmts: statementsOf(t, cfg)}
	e.exec(execSchema)

	nilTag, tagB := uuid.Nil, uuid.MustParse("bbbbbbbb-0000-0000-0000-000000000000")
	const minKey = int64(math.MinInt64)
	e.exec(`INSERT INTO tb_tag VALUES ($1, 'zero'), ($2, 'bee')`, nilTag, tagB)
	e.exec(`INSERT INTO tb_product VALUES ($1, $2, 'min'), (1, $2, 'one'), (2, $3, 'two'), (3, $3, 'three')`, minKey, nilTag, tagB)
	names := func() []string {
		var names []string
		require.NoError(t, e.pool.QueryRow(ctx, `SELECT array_agg(data->>'name' ORDER BY id) FROM tv_product`).Scan(&names))
		return names
	}

	t.Run("wide writes the documents of @ids, only the changed ones", func(t *testing.T) {
		e := e.on(t)
		found, upserted := e.refresh("ProductWideRefresh", map[string]any{"ids": []int64{minKey, 1, 2, 3, 99, 1}})
		assert.Equal(t, [2]int{4, 4}, [2]int{found, upserted}, "99 does not exist; 1 twice counts once")
		assert.True(t, e.tvMatchesSource("tv_product", "tv_product_source"))
		found, upserted = e.refresh("ProductWideRefresh", map[string]any{"ids": []int64{minKey, 1, 2, 3}})
		assert.Equal(t, [2]int{4, 0}, [2]int{found, upserted}, "nothing changed")
		e.exec(`UPDATE tb_product SET name = 'uno' WHERE product_id = 1`)
		found, upserted = e.refresh("ProductWideRefresh", map[string]any{"ids": []int64{1, 2}})
		assert.Equal(t, [2]int{2, 1}, [2]int{found, upserted})
		assert.True(t, e.tvMatchesSource("tv_product", "tv_product_source"))
	})

	t.Run("range writes only @ids of the range, from the smallest key on", func(t *testing.T) {
		e := e.on(t)
		e.exec(`UPDATE tb_product SET name = name || '!'`)
		found, upserted := e.refresh("ProductRangeRefresh", map[string]any{"after": minKey, "upto": int64(2), "ids": []int64{minKey, 2, 3}})
		assert.Equal(t, [2]int{2, 2}, [2]int{found, upserted}, "min and 2: the plan builds 1 too, but 1 is not in @ids; 3 is not in the range")
		assert.Equal(t, []string{"min!", "uno", "two!", "three"}, names())
		found, upserted = e.refresh("ProductRangeRefresh", map[string]any{"after": int64(1), "upto": int64(3), "ids": []int64{1, 2, 3}})
		assert.Equal(t, [2]int{2, 1}, [2]int{found, upserted}, "the bound 1 is excluded, 2 is current")
		assert.Equal(t, []string{"min!", "uno", "two!", "three!"}, names())

		found, upserted = e.refresh("TagRangeRefresh", map[string]any{"after": nilTag, "upto": tagB, "ids": []uuid.UUID{nilTag, tagB}})
		assert.Equal(t, [2]int{2, 2}, [2]int{found, upserted}, "the nil uuid is the smallest key: included")
		assert.True(t, e.tvMatchesSource("tv_tag", "tv_tag_source"))
		found, upserted = e.refresh("TagRangeRefresh", map[string]any{"after": nilTag, "upto": tagB, "ids": []uuid.UUID{tagB}})
		assert.Equal(t, [2]int{1, 0}, [2]int{found, upserted})
	})
}

// keysDecl declares a library in schema lib: branches keyed by an
// integer, books by their ISBN (text), each book embedding its branch's
// name.
const keysDecl = `
version: 1
sql: {out: q}
go: {out: g/entities_gen.go, package: g, queries: example.com/x/db}
entities:
  - name: branch
    table: lib.tb_branch
    key: {column: id, type: integer}
    tv: lib.tv_branch
    source: lib.tv_branch_source
    cascades:
      - {to: book, path: lib.tb_book.branch_id}
  - name: book
    table: lib.tb_book
    key: {column: isbn, type: text}
    tv: lib.tv_book
    source: lib.tv_book_source
`

// keysSchema creates the library in schema %[2]s, the ISBNs in a column
// of collation %[1]s (one that orders text otherwise than C). Created in
// schema planted, it is the decoy that an unqualified name would find first.
const keysSchema = `
CREATE SCHEMA %[2]s;
CREATE TABLE %[2]s.tb_branch (id integer PRIMARY KEY, name text NOT NULL);
CREATE TABLE %[2]s.tb_book (isbn text COLLATE %[1]s PRIMARY KEY, branch_id integer NOT NULL REFERENCES %[2]s.tb_branch, title text NOT NULL);
CREATE INDEX ON %[2]s.tb_book (branch_id);
CREATE TABLE %[2]s.tv_branch (id integer PRIMARY KEY, data jsonb NOT NULL, updated_at timestamptz NOT NULL);
CREATE TABLE %[2]s.tv_book (id text COLLATE %[1]s PRIMARY KEY, data jsonb NOT NULL, updated_at timestamptz NOT NULL);
CREATE VIEW %[2]s.tv_branch_source AS SELECT b.id, jsonb_build_object('name', b.name) AS data FROM %[2]s.tb_branch b;
CREATE VIEW %[2]s.tv_book_source AS
    SELECT k.isbn AS id, jsonb_build_object('title', k.title, 'branch', b.name) AS data FROM %[2]s.tb_book k JOIN %[2]s.tb_branch b ON b.id = k.branch_id;
`

type textDrift struct {
	ID      string
	Problem string
}

func (textDrift) isRow() {}

// TestGeneratedStatements_IntegerAndTextKeys executes the statements
// rendered for an integer and a text key on a real PostgreSQL, the text
// keys in a column of a non-C collation (ICU's root locale, where '_x' <
// '1' < 'a' < 'B' < 'é' < 'Z'): every keyset statement compares and sorts
// COLLATE "C", so a walk page by page from the smallest key (”) lists each
// key exactly once in C order; verify's last range (XVerifyToEnd) has no
// upper bound; the smallest integer (math.MinInt32) is included from itself. The
// entities live in schema lib, declared schema-qualified, and the
// statements run with search_path set to planted, public, where a decoy
// of every table and view waits under the same names: the statements name
// lib's and never touch the decoys.
func TestGeneratedStatements_IntegerAndTextKeys(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	cfg, err := syncgen.Parse("tvsync.yaml", []byte(keysDecl))
	require.NoError(t, err)
	owner := syncdbtest.New(t)
	pc, err := pgxpool.ParseConfig(owner.Config().ConnString())
	require.NoError(t, err)
	pc.ConnConfig.RuntimeParams["search_path"] = "planted, public"
	planted, err := pgxpool.NewWithConfig(ctx, pc)
	require.NoError(t, err)
	t.Cleanup(planted.Close)
	e := execEnv{t: t, ctx: ctx, pool: planted, stmts: statementsOf(t, cfg)}
	var coll string
	err = e.pool.QueryRow(ctx, `SELECT collname FROM pg_collation WHERE collname IN ('und-x-icu', 'en-x-icu', 'en_US.utf8') ORDER BY collname DESC LIMIT 1`).Scan(&coll)
	if err == pgx.ErrNoRows {
		t.Skip("the server has no ICU or en_US collation")
	}
	require.NoError(t, err)
	e.exec(fmt.Sprintf(keysSchema, pgx.Identifier{coll}.Sanitize(), "lib"))
	e.exec(fmt.Sprintf(keysSchema, pgx.Identifier{coll}.Sanitize(), "planted"))
	e.exec(`INSERT INTO planted.tb_branch VALUES (0, 'decoy'); INSERT INTO planted.tb_book VALUES ('', 0, 'decoy'), ('1', 0, 'decoy')`)
	t.Cleanup(func() {
		var n int
		require.NoError(t, owner.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM planted.tv_book) + (SELECT count(*) FROM planted.tv_branch)
			+ (SELECT count(*) FROM planted.tb_book WHERE title <> 'decoy') + (SELECT count(*) FROM planted.tb_book)`).Scan(&n))
		assert.Equal(t, 2, n, "the decoys in the schema first on the search_path are untouched")
	})
	const minInt = int32(math.MinInt32)
	e.exec(`INSERT INTO lib.tb_branch VALUES ($1, 'min'), (0, 'zero'), ($2, 'max')`, minInt, int32(math.MaxInt32))
	isbns := []string{"", "_x", "1", "10", "9", "a", "a b", "B", "b", "e", "é", "Z", "z"}
	e.exec(`INSERT INTO lib.tb_book SELECT k, 0, 'T' || k FROM unnest($1::text[]) k`, isbns)
	var collated, inC []string
	require.NoError(t, e.pool.QueryRow(ctx, `SELECT array_agg(isbn ORDER BY isbn), array_agg(isbn ORDER BY isbn COLLATE "C") FROM lib.tb_book`).Scan(&collated, &inC))
	require.NotEqual(t, inC, collated, "the column's collation orders the keys otherwise than C")

	t.Run("a walk lists every key once, in C order, from the empty one", func(t *testing.T) {
		e := e.on(t)
		for _, stmt := range []string{"BookIDsAfter", "BookViewIDsAfter"} {
			if stmt == "BookViewIDsAfter" {
				found, upserted := e.refresh("BookRefresh", map[string]any{"ids": isbns})
				require.Equal(t, [2]int{len(isbns), len(isbns)}, [2]int{found, upserted})
			}
			for _, page := range []int{2, 3, 100} {
				var walked []string
				after := ""
				for {
					ids := rowsOf[string](e, stmt, map[string]any{"after": after, "page_size": page})
					walked = append(walked, ids...)
					if len(ids) < page {
						break
					}
					after = ids[len(ids)-1]
				}
				assert.Equal(t, inC, walked, "%s, pages of %d", stmt, page)
			}
		}
	})

	t.Run("verify is C-ordered, from the empty key; its last range has no end", func(t *testing.T) {
		e := e.on(t)
		_, isRanged := e.stmts["BookRangeRefresh"]
		assert.False(t, isRanged, "a text key's full sync walks id lists")
		e.exec(`DELETE FROM lib.tv_book WHERE id = ''`)                                        // missing, at the smallest key
		e.exec(`UPDATE lib.tv_book SET data = '{}' WHERE id IN ('é', '_x')`)                   // stale
		e.exec(`INSERT INTO lib.tv_book VALUES ('ü-orphan', '{}', now()), ('0', '{}', now())`) // orphaned
		assert.Equal(t, []textDrift{{"", "missing"}, {"0", "orphaned"}, {"_x", "stale"}, {"é", "stale"}, {"ü-orphan", "orphaned"}},
			rowsOf[textDrift](e, "BookVerifyToEnd", map[string]any{"after": ""}), "the whole key range, in C order")
		assert.Equal(t, []textDrift{{"", "missing"}, {"0", "orphaned"}},
			rowsOf[textDrift](e, "BookVerify", map[string]any{"after": "", "upto": "9"}), "['', 9]: '_x' sorts before '1' in the column's collation, not in C")
		assert.Equal(t, []textDrift{{"_x", "stale"}},
			rowsOf[textDrift](e, "BookVerify", map[string]any{"after": "1", "upto": "_x"}), "(1, _x]")
		assert.Equal(t, []textDrift{{"é", "stale"}, {"ü-orphan", "orphaned"}},
			rowsOf[textDrift](e, "BookVerifyToEnd", map[string]any{"after": "z"}), "(z, ∞)")
		assert.Equal(t, 2, e.deleted("BookDeleteMissing", map[string]any{"ids": append(isbns, "0", "ü-orphan")}), "the orphans")
		found, upserted := e.refresh("BookRefresh", map[string]any{"ids": isbns})
		assert.Equal(t, [2]int{len(isbns), 3}, [2]int{found, upserted})
		assert.True(t, e.tvMatchesSource("lib.tv_book", "lib.tv_book_source"))
	})

	t.Run("integer keys: the smallest included from itself, the largest reached", func(t *testing.T) {
		e := e.on(t)
		assert.Equal(t, []int32{minInt, 0}, rowsOf[int32](e, "BranchIDsAfter", map[string]any{"after": minInt, "page_size": 2}))
		assert.Equal(t, []int32{0, math.MaxInt32}, rowsOf[int32](e, "BranchIDsAfter", map[string]any{"after": minInt + 1, "page_size": 5}))
		found, upserted := e.refresh("BranchRangeRefresh", map[string]any{"after": minInt, "upto": int32(math.MaxInt32), "ids": []int32{minInt, 0, math.MaxInt32}})
		assert.Equal(t, [2]int{3, 3}, [2]int{found, upserted})
		assert.Equal(t, []int32{minInt, 0, math.MaxInt32}, rowsOf[int32](e, "BranchViewIDsAfter", map[string]any{"after": minInt, "page_size": 5}))
		books := rowsOf[string](e, "BookIDsByBranch", map[string]any{"ids": []int32{0, minInt}})
		assert.ElementsMatch(t, isbns, books)
	})
}

// TestGeneratedStatements_ExtraColumns executes the statements of an
// entity whose tv_ table has columns besides id, data and updated_at
// (columns: [customer_id, status]), filled from the view's: refresh, range
// refresh and a wide plan write them; a row whose column changes while its
// document does not is still written (and only it); verify reports a row
// whose column alone drifted.
func TestGeneratedStatements_ExtraColumns(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	decl := `
version: 1
sql: {out: q}
go: {out: g/entities_gen.go, package: g, queries: example.com/x/db}
entities:
  - name: order
    table: tb_order
    key: {column: id, type: bigint}
    tv: tv_order
    source: tv_order_source
    columns: [customer_id, status]
    plans: {wide: q/plans/order_wide.sql}
`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "tvsync.yaml"), []byte(decl), 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "q", "plans"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "q", "plans", "order_wide.sql"), []byte(
		"SELECT o.id, jsonb_build_object('note', o.note) AS data, o.customer_id, o.status FROM tb_order o WHERE o.id = ANY(@ids::bigint[])\n"), 0o644))
	cfg, err := syncgen.Load(filepath.Join(dir, "tvsync.yaml"))
	require.NoError(t, err)
	e := execEnv{t: t, ctx: ctx, pool: syncdbtest.New(t), stmts: statementsOf(t, cfg)}
	e.exec(`
CREATE TABLE tb_order (id bigint PRIMARY KEY, customer_id bigint NOT NULL, status text, note text NOT NULL);
CREATE TABLE tv_order (id bigint PRIMARY KEY, data jsonb NOT NULL, customer_id bigint NOT NULL, status text, updated_at timestamptz NOT NULL);
CREATE VIEW tv_order_source AS SELECT o.id, jsonb_build_object('note', o.note) AS data, o.customer_id, o.status FROM tb_order o;
INSERT INTO tb_order VALUES (1, 10, 'new', 'a'), (2, 20, NULL, 'b'), (3, 30, 'paid', 'c');`)
	type row struct {
		ID       int64
		Customer int64
		Status   *string
	}
	rows := func() []row {
		r, err := e.pool.Query(ctx, `SELECT id, customer_id, status FROM tv_order ORDER BY id`)
		require.NoError(t, err)
		out, err := pgx.CollectRows(r, pgx.RowToStructByPos[row])
		require.NoError(t, err)
		return out
	}
	str := func(s string) *string { return &s }

	found, upserted := e.refresh("OrderRefresh", map[string]any{"ids": []int64{1, 2, 3}})
	assert.Equal(t, [2]int{3, 3}, [2]int{found, upserted})
	assert.Equal(t, []row{{1, 10, str("new")}, {2, 20, nil}, {3, 30, str("paid")}}, rows())

	e.exec(`UPDATE tb_order SET customer_id = 11 WHERE id = 1; UPDATE tb_order SET status = 'new' WHERE id = 2`)
	found, upserted = e.refresh("OrderRefresh", map[string]any{"ids": []int64{1, 2, 3}})
	assert.Equal(t, [2]int{3, 2}, [2]int{found, upserted}, "the documents are the same, the columns of 1 and 2 changed")
	assert.Equal(t, []row{{1, 11, str("new")}, {2, 20, str("new")}, {3, 30, str("paid")}}, rows())

	e.exec(`UPDATE tb_order SET status = NULL WHERE id = 3`)
	found, upserted = e.refresh("OrderRangeRefresh", map[string]any{"after": int64(math.MinInt64), "upto": int64(3), "ids": []int64{1, 2, 3}})
	assert.Equal(t, [2]int{3, 1}, [2]int{found, upserted})
	e.exec(`UPDATE tb_order SET customer_id = 31 WHERE id = 3`)
	found, upserted = e.refresh("OrderWideRefresh", map[string]any{"ids": []int64{1, 2, 3}})
	assert.Equal(t, [2]int{3, 1}, [2]int{found, upserted})
	assert.Equal(t, []row{{1, 11, str("new")}, {2, 20, str("new")}, {3, 31, nil}}, rows())
	assert.Empty(t, rowsOf[drift](e, "OrderVerify", map[string]any{"after": int64(math.MinInt64), "upto": int64(math.MaxInt64)}))

	e.exec(`UPDATE tv_order SET status = 'lost' WHERE id = 2; UPDATE tv_order SET customer_id = 0 WHERE id = 3`)
	assert.Equal(t, []drift{{2, "stale"}, {3, "stale"}},
		rowsOf[drift](e, "OrderVerify", map[string]any{"after": int64(math.MinInt64), "upto": int64(math.MaxInt64)}), "a column alone drifted")
}
