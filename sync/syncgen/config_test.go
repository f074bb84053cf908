package syncgen_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/sync/syncgen"
)

// validDecl is a valid declaration; each case of TestParse_Errors edits it.
const validDecl = `version: 1
sql: {out: queries}
go: {out: app/entities_gen.go, package: app, queries: example.com/app/db}
entities:
  - name: item
    table: tb_item
    key: {column: id, type: bigint}
    tv: tv_item
    source: tv_item_source
    cascades:
      - {to: bag, path: tb_item.id -> bag_id}
  - name: bag
    table: tb_bag
    key: {column: id, type: uuid}
    tv: tv_bag
    source: tv_bag_source
    overrides:
      refresh_wide: BagWideRefresh
    cascades:
      - {to: item, path: tb_item.bag_id}
`

func TestParse_ValidDeclaration(t *testing.T) {
	cfg, err := syncgen.Parse("tvsync.yaml", []byte(validDecl))
	require.NoError(t, err)
	require.Len(t, cfg.Entities, 2)
	assert.Equal(t, syncgen.KeyBigint, cfg.Entities[0].Key.Type)
	assert.Equal(t, "BagWideRefresh", cfg.Entities[1].Overrides.RefreshWide)
	assert.Equal(t, "BagIDsByItemID", cfg.Entities[0].Cascades[0].Name, "derived: target, IDsBy, table, column")
	assert.Equal(t, "ItemIDsByBag", cfg.Entities[1].Cascades[0].Name, "derived: target, IDsBy, column")
}

// TestParse_Errors: each broken declaration fails with an error naming the
// file, the line, the entity and the field.
func TestParse_Errors(t *testing.T) {
	for _, tc := range []struct {
		name, old, new, want string
	}{
		{"unknown key type", "type: bigint", "type: int",
			`tvsync.yaml:5: entity "item": key.type "int": want uuid, bigint, integer or text`},
		{"unknown cascade target", "to: bag, path", "to: box, path",
			`tvsync.yaml:5: entity "item": cascade 1: to "box": no such entity (entities: item, bag)`},
		{"bad path syntax", "tb_item.id -> bag_id", "tb_item -> bag_id",
			`tvsync.yaml:5: entity "item": cascade 1 (to bag): path "tb_item -> bag_id": want [<schema>.]<table>.<column>[ -> <column>]`},
		{"two arrows", "tb_item.id -> bag_id", "tb_item.id -> bag_id -> id",
			`path "tb_item.id -> bag_id -> id": want [<schema>.]<table>.<column>[ -> <column>]`},
		{"path table not an identifier", "tb_item.id -> bag_id", "tb_item;drop.id -> bag_id",
			`tvsync.yaml:5: entity "item": cascade 1 (to bag): path "tb_item;drop.id -> bag_id": table "tb_item;drop": the name "tb_item;drop" is not a plain lower-case SQL identifier`},
		{"path column not an identifier", "tb_item.id -> bag_id", `tb_item."Id" -> bag_id`,
			`column "\"Id\"" is not a plain lower-case SQL identifier`},
		{"path result column not an identifier", "tb_item.id -> bag_id", "tb_item.id -> bag_id;",
			`result column "bag_id;" is not a plain lower-case SQL identifier`},
		{"path column a reserved word", "tb_item.id -> bag_id", "tb_item.id -> order",
			`result column "order" is not a plain lower-case SQL identifier`},
		{"table not an identifier", "table: tb_item", "table: tb item",
			`tvsync.yaml:5: entity "item": table "tb item": the name "tb item" is not a plain lower-case SQL identifier ([a-z_][a-z0-9_]*)`},
		{"source a reserved word", "source: tv_item_source", "source: user",
			`tvsync.yaml:5: entity "item": source "user": the name "user" is a reserved word of PostgreSQL`},
		{"extra column not an identifier", "tv: tv_item", "tv: tv_item\n    columns: [owner_id, 'Owner']",
			`tvsync.yaml:5: entity "item": columns: "Owner" is not a plain lower-case SQL identifier that is no reserved word`},
		{"extra column of the tv_ table's own", "tv: tv_item", "tv: tv_item\n    columns: [updated_at]",
			`tvsync.yaml:5: entity "item": columns: "updated_at" is one of the tv_ table's own columns (id, data, updated_at): list only the others`},
		{"extra column twice", "tv: tv_item", "tv: tv_item\n    columns: [owner_id, owner_id]",
			`tvsync.yaml:5: entity "item": columns: "owner_id" listed twice`},
		{"schema not an identifier", "table: tb_item", "table: Lib.tb_item",
			`tvsync.yaml:5: entity "item": table "Lib.tb_item": the schema "Lib" is not a plain lower-case SQL identifier ([a-z_][a-z0-9_]*)`},
		{"two schemas", "tv: tv_item", "tv: db.lib.tv_item",
			`tvsync.yaml:5: entity "item": tv "db.lib.tv_item": want <name> or <schema>.<name>: it has more than one dot`},
		{"empty schema", "source: tv_item_source", "source: .tv_item_source",
			`tvsync.yaml:5: entity "item": source ".tv_item_source": the schema is empty (want <name> or <schema>.<name>)`},
		{"schema a reserved word", "table: tb_item", "table: select.tb_item",
			`tvsync.yaml:5: entity "item": table "select.tb_item": the schema "select" is a reserved word of PostgreSQL`},
		{"path schema not an identifier", "tb_item.id -> bag_id", "Lib.tb_item.id -> bag_id",
			`tvsync.yaml:5: entity "item": cascade 1 (to bag): path "Lib.tb_item.id -> bag_id": table "Lib.tb_item": the schema "Lib" is not a plain lower-case SQL identifier`},
		{"path with a schema too many", "tb_item.id -> bag_id", "db.lib.tb_item.id -> bag_id",
			`path "db.lib.tb_item.id -> bag_id": want [<schema>.]<table>.<column>[ -> <column>]`},
		{"path without -> naming the target's table in another schema", "{to: item, path: tb_item.bag_id}", "{to: item, path: lib.tb_item.bag_id}",
			`tvsync.yaml:12: entity "bag": cascade 1 (to item): path "lib.tb_item.bag_id": without -> the rows must be item's command table tb_item`},
		{"key column missing", "key: {column: id, type: bigint}", "key: {type: bigint}",
			`tvsync.yaml:5: entity "item": key.column: missing`},
		{"duplicate entity", "name: bag", "name: item",
			`tvsync.yaml:12: entity "item": declared twice (first at line 5)`},
		{"duplicate query name", "{to: item, path: tb_item.bag_id}", "{to: item, path: tb_item.bag_id, name: BagWideRefresh}",
			`tvsync.yaml:12: entity "bag": cascade look-up: query name BagWideRefresh is already entity "bag"'s overrides.refresh_wide`},
		{"override collides with a generated statement", "refresh_wide: BagWideRefresh", "refresh_wide: BagRefresh",
			`tvsync.yaml:12: entity "bag": overrides.refresh_wide: query name BagRefresh is already entity "bag"'s generated statement`},
		{"path without -> not the target's table", "{to: item, path: tb_item.bag_id}", "{to: item, path: tb_bag.item_id}",
			`tvsync.yaml:12: entity "bag": cascade 1 (to item): path "tb_bag.item_id": without -> the rows must be item's command table tb_item (or name the key column: tb_bag.item_id -> <column>)`},
		{"override naming nothing", "refresh_wide: BagWideRefresh", "refresh_wide: ''",
			`tvsync.yaml:12: entity "bag": overrides.refresh_wide "": want the name of a hand-written sqlc statement (CamelCase)`},
		{"unknown override", "refresh_wide: BagWideRefresh", "refresh_narrow: BagNarrowRefresh",
			`tvsync.yaml:18: entity "bag": overrides: unknown key "refresh_narrow" (want refresh_wide, refresh_range)`},
		{"unknown entity key", "tv: tv_bag", "tv: tv_bag\n    view: tv_bag",
			`tvsync.yaml:16: entity "bag": unknown key "view" (want name, table, key, tv, source, columns, plans, overrides, cascades)`},
		{"unknown cascade key", "{to: item, path: tb_item.bag_id}", "{to: item, pth: tb_item.bag_id}",
			`tvsync.yaml:20: entity "bag": cascade 1: unknown key "pth" (want to, path, name, lookup, on, referencing)`},
		{"path and lookup", "{to: item, path: tb_item.bag_id}", "{to: item, path: tb_item.bag_id, lookup: ItemIDsOfBag}",
			`tvsync.yaml:12: entity "bag": cascade 1 (to item): path and lookup are exclusive`},
		{"bad lookup name", "{to: item, path: tb_item.bag_id}", "{to: item, lookup: 'x; drop'}",
			`tvsync.yaml:12: entity "bag": cascade 1 (to item): lookup "x; drop": want the name of a hand-written :batchmany statement (CamelCase)`},
		{"bad version", "version: 1", "version: 2", `tvsync.yaml:1: version 2: want version: 1`},
		{"bad go package", "package: app", "package: 'a-b'", `go.package "a-b": want a Go package name`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := strings.Replace(validDecl, tc.old, tc.new, 1)
			require.NotEqual(t, validDecl, src, "the case edits nothing")
			_, err := syncgen.Parse("tvsync.yaml", []byte(src))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// TestParse_SchemaQualifiedNames: tables, tv_ tables, views and cascade
// paths may name a schema; a path splits at its last dot (the column), and
// its look-up is named after the table without its schema.
func TestParse_SchemaQualifiedNames(t *testing.T) {
	src := strings.NewReplacer("table: tb_item", "table: lib.tb_item", "tv: tv_item", "tv: lib.tv_item",
		"source: tv_item_source", "source: lib.tv_item_source", "table: tb_bag", "table: lib.tb_bag",
		"tb_item.id -> bag_id", "lib.tb_item.id -> bag_id", "{to: item, path: tb_item.bag_id}", "{to: item, path: lib.tb_item.bag_id}").Replace(validDecl)
	cfg, err := syncgen.Parse("tvsync.yaml", []byte(src))
	require.NoError(t, err)
	assert.Equal(t, "lib.tb_item", cfg.Entities[0].Table)
	assert.Equal(t, "lib.tv_item", cfg.Entities[0].TV)
	assert.Equal(t, "BagIDsByItemID", cfg.Entities[0].Cascades[0].Name, "named after tb_item, not lib")
	assert.Equal(t, "ItemIDsByBag", cfg.Entities[1].Cascades[0].Name)
	files, err := cfg.Render()
	require.NoError(t, err)
	item := string(files[0].Content)
	for _, want := range []string{
		"INSERT INTO lib.tv_item (id, data, updated_at)",
		"WHERE tv_item.data IS DISTINCT FROM EXCLUDED.data",
		"FROM lib.tv_item_source v WHERE v.id = b.id",
		"SELECT 1 FROM lib.tb_item x WHERE x.id = b.id",
		"SELECT t.bag_id FROM lib.tb_item t WHERE t.id = b.id",
	} {
		assert.Contains(t, item, want)
	}
	assert.NotRegexp(t, `(FROM|INTO|JOIN) tb_|(FROM|INTO|JOIN) tv_`, item, "every object is named with its schema")
	assert.Contains(t, string(files[len(files)-1].Content), `View:   "lib.tv_item"`)
}

func TestParse_ReportsEveryProblem(t *testing.T) {
	src := strings.Replace(strings.Replace(validDecl, "type: bigint", "type: int", 1), "table: tb_bag", "table: 'tb bag'", 1)
	_, err := syncgen.Parse("tvsync.yaml", []byte(src))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `entity "item": key.type "int"`)
	assert.Contains(t, err.Error(), `entity "bag": table "tb bag"`)
}
