// Package syncgen is tvsync's generator ("tvsync gen"): from a short
// declaration per entity in tvsync.yaml it writes the mechanical sync
// statements of each entity as plain SQL for the team's sqlc to compile
// (<sql.out>/<entity>.gen.sql) and the Go registration that wires them into
// the engine (<go.out>: the Entity constants and func Entities).
//
// A team writes, per entity, the command table, the tv_ table and ONE
// document definition (a view with columns id and data); the declaration
// names them:
//
//	version: 1
//	sql: {out: queries}
//	go: {out: shop/entities_gen.go, package: shop, queries: example.com/shop/db}
//	entities:
//	  - name: product
//	    table: tb_product
//	    key: {column: id, type: bigint}
//	    tv: tv_product
//	    source: tv_product_source
//	    cascades:
//	      - {to: order_line, path: tb_order_line.product_id}
//
// Per entity X it generates XRefresh, XRangeRefresh, XDeleteMissing,
// XRangeDeleteMissing, XIDsAfter, XViewIDsAfter and XVerify, and one
// bounded :batchmany look-up per cascade path. A cascade path reads
// `[<schema>.]<table>.<column>[ -> <column>]`: the rows of table whose
// column equals a changed id, and of each the column after the arrow, or
// the target's key column when there is none (then table must be the
// target's command table, named as the target names it). A cascade may
// instead name a hand-written look-up (lookup:).
//
// A command table without a document of its own (a loan, a branch, a
// shipment) may declare, under tables:, which documents its rows' changes
// make stale: a name, the table, its key and cascades, written as an
// entity's (no on:, and no cascade can go to such a table):
//
//	tables:
//	  - name: loan
//	    table: lib.tb_loan
//	    key: {column: id, type: bigint}
//	    cascades:
//	      - {to: member, path: lib.tb_loan.id -> member_id}
//
// gen writes its look-ups to <sql.out>/<table>.gen.sql and XCascades() to
// the Go file; a unit of work records a change of such rows with
// syncuow's Work.RecordCascades(ctx, LoanCascades(), ids...), after an
// insert or update and before a delete, and the sync refreshes the
// documents found (and cascades on from those that change).
//
// The key's type (key.type) is uuid, bigint, integer or text. A text key
// is compared and sorted COLLATE "C" in every keyset statement, whatever
// its column's collation, so that a walk neither skips nor repeats a key
// (sync.KeyText; give the column COLLATE "C" so that its index serves
// them). Its full sync walks id lists, so it has no range statements (nor
// plans.range), and its verify has a second statement, XVerifyToEnd, for
// the last range: no text is the largest, and an upper bound a parameter
// could switch off would make the generic plan read to the end each time.
//
// Tables, tv_ tables, views and the tables of cascade paths may be
// schema-qualified (`table: lib.tb_book`, `path: lib.tb_loan.book_id ->
// member_id`): the generated statements then name them so, every time,
// and run the same whatever the connection's search_path, which an object
// planted in a schema earlier on the path cannot divert. (Rebuild builds
// the shadow copy of such a tv_ table from its source view, as no name
// resolution can point the statements at it.)
//
// A hand-tuned plan of the documents is a plan file, named under plans:
// (wide, range): ONE hand-written query returning (id, data), the
// documents of the ids of @ids (wide) or of the keyset range (@after,
// @upto] (range), kept in a folder sqlc does not read (the queries folder's
// plans/ sub-folder: sqlc reads no sub-folder). gen wraps it in the
// mechanical statement, so no hand-written file repeats the upsert:
//
//	entities:
//	  - name: post
//	    ...
//	    plans:
//	      wide: queries/plans/post_wide.sql    # XWideRefresh: WITH [its CTEs,] src AS (<query>), upserted AS (…) SELECT …
//	      range: queries/plans/post_range.sql  # XRangeRefresh: WITH [its CTEs,] range_src AS MATERIALIZED (<query>),
//	                                           #   src AS (… WHERE r.id IN (SELECT unnest(@ids))), upserted AS (…) …
//
// The wide statement is registered as Entity.RefreshWide, the range one
// replaces the XRangeRefresh read from the view. The file's leading "--"
// lines become the statement's comment; gen checks that the file is one
// query naming only @ids (wide) or @after and @upto (range), and gen
// --check finds the generated file stale when a plan file changes. See
// Plans. The older form, overrides: (refresh_wide, refresh_range), names a
// whole hand-written sqlc statement of the queries folder instead, upsert
// included; it stays supported, exclusive with the plan of the same role.
//
// With sqlc: naming the team's sqlc.yaml, gen also keeps the column lists
// of its no-select-star vet rule: it rewrites the lines between
// "// BEGIN tvsync gen" and "// END tvsync gen" of the rule's CEL source to
// every table's columns, in table order, read from the schema sqlc reads.
//
// Every name that reaches SQL is checked to be a plain lower-case
// identifier that is not a reserved word (each part of a qualified one), so
// none needs quoting; nothing is interpolated raw.
package syncgen

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// KeyType is the SQL type of an entity's key column.
type KeyType string

// The key types the generator supports.
const (
	KeyUUID    KeyType = "uuid"
	KeyBigint  KeyType = "bigint"
	KeyInteger KeyType = "integer"
	// KeyText keys compare and sort COLLATE "C" in every keyset statement
	// (sync.KeyText); their full sync walks id lists (no range
	// statements), and XVerifyToEnd verifies the last range, which has no
	// upper bound.
	KeyText KeyType = "text"
)

// keyTypes lists the key types in the order messages name them.
var keyTypes = []KeyType{KeyUUID, KeyBigint, KeyInteger, KeyText}

// Config is a parsed, validated declaration file.
type Config struct {
	// File is the path the declaration was read from (for messages and
	// headers); generated paths are relative to its directory.
	File     string   `yaml:"-"`
	Version  int      `yaml:"version"`
	SQL      SQLOut   `yaml:"sql"`
	Go       GoOut    `yaml:"go"`
	Sqlc     string   `yaml:"sqlc"`
	Entities []Entity `yaml:"entities"`
	// Tables are command tables without a document of their own (a link
	// table, lines, a lookup table) that declare which documents a change
	// of their rows makes stale: each has a name, table, key and cascades
	// only (see Table).
	Tables []Entity `yaml:"tables"`
}

// SQLOut says where the generated SQL goes.
type SQLOut struct {
	// Out is the folder of the <entity>.gen.sql files (sqlc's queries folder).
	Out string `yaml:"out"`
}

// GoOut says where the generated registration goes.
type GoOut struct {
	// Out is the generated Go file.
	Out string `yaml:"out"`
	// Package is its package name.
	Package string `yaml:"package"`
	// Queries is the import path of the sqlc package (its New and methods).
	Queries string `yaml:"queries"`
}

// Entity declares one tv_ entity.
type Entity struct {
	// Name identifies the entity ("order_line"); its CamelCase ("OrderLine")
	// prefixes the generated statements.
	Name string `yaml:"name"`
	// Table is the command table (tb_).
	Table string `yaml:"table"`
	// Key is the command table's key column and its type.
	Key Key `yaml:"key"`
	// TV is the query table (columns id, data jsonb, updated_at).
	TV string `yaml:"tv"`
	// Source is the view defining the documents (columns id, data).
	Source string `yaml:"source"`
	// Plans name hand-written document queries that the generated wide
	// and range refresh statements wrap (see Plans).
	Plans Plans `yaml:"plans"`
	// Columns, optional, are the tv_ table's columns besides id, data and
	// updated_at (a tenant, an owner, a status the API filters on): the
	// refresh fills each from the view's column of the same name, which
	// the view returns beside id and data (a plan's query too, in this
	// order, after data). A row whose column changes while its document
	// does not is still written, and verify compares them too.
	Columns []string `yaml:"columns"`
	// Overrides name hand-written statements that replace or add a plan.
	Overrides Overrides `yaml:"overrides"`
	// Cascades list the entities whose documents embed this one.
	Cascades []Cascade `yaml:"cascades"`

	line   int
	noDoc  bool   // declared under tables: no document, cascades only
	listed string // "entity" or "table", for messages
}

// Key is an entity's key column.
type Key struct {
	Column string  `yaml:"column"`
	Type   KeyType `yaml:"type"`
}

// Overrides name hand-written sqlc statements (in the queries folder) of
// the same parameters and result columns as the generated ones: whole
// statements, upsert included. Prefer Plans, which hold only the document
// query; a plan and an override of the same role are exclusive.
type Overrides struct {
	// RefreshWide, optional, is registered as Entity.RefreshWide.
	RefreshWide string `yaml:"refresh_wide"`
	// RefreshRange replaces the generated XRangeRefresh.
	RefreshRange string `yaml:"refresh_range"`

	set map[string]bool // the keys present in the file
}

// Cascade declares that the documents of entity To embed the declaring
// entity: Path derives the look-up, or Lookup names a hand-written one.
type Cascade struct {
	// To is the embedding entity.
	To string `yaml:"to"`
	// Path is `<table>.<column>[ -> <column>]`.
	Path string `yaml:"path"`
	// Name, optional with Path, is the generated statement's name.
	Name string `yaml:"name"`
	// Lookup names a hand-written :batchmany statement instead of a path:
	// one array parameter of the declaring entity's key type, returning
	// keys of To.
	Lookup string `yaml:"lookup"`
	// On, optional, lists the top-level keys of the declaring entity's
	// document that To's documents show: a sync that changes the document
	// follows the cascade only when one of them changed (a new or deleted
	// document always). Empty: any change.
	On []string `yaml:"on"`
	// Referencing, optional with a lookup, says whether To's rows
	// reference the declaring entity's rows, so that deleting one may
	// delete them too (Expand then follows them before a delete to the
	// end). A path says it by its form: `table.column` references,
	// `table.column -> column` does not. A lookup defaults to true.
	Referencing *bool `yaml:"referencing"`

	// Parsed path: rows of table whose match column is a changed id, their
	// column result.
	table, match, result string
	ref                  bool
	// referenced names the statement that lists, for rows of a
	// referencing path, the declaring entity's ids they reference
	// (Cascade.Referenced): UserIDsOfPostAuthor for tb_post.author_id.
	referenced string
	toKey      KeyType // the key type of To
}

var (
	keysOf = map[string][]string{
		"top":       {"version", "sql", "go", "sqlc", "entities", "tables"},
		"table":     {"name", "table", "key", "cascades"},
		"sql":       {"out"},
		"go":        {"out", "package", "queries"},
		"entity":    {"name", "table", "key", "tv", "source", "columns", "plans", "overrides", "cascades"},
		"plans":     {"wide", "range"},
		"key":       {"column", "type"},
		"overrides": {"refresh_wide", "refresh_range"},
		"cascade":   {"to", "path", "name", "lookup", "on", "referencing"},
	}
	identRE    = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)
	entityRE   = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	goNameRE   = regexp.MustCompile(`^[A-Z][A-Za-z0-9]*$`)
	goIdentRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	importRE   = regexp.MustCompile(`^[A-Za-z0-9_.~-]+(/[A-Za-z0-9_.~-]+)*$`)
	pathRE     = regexp.MustCompile(`^\s*([^.\s-]+(?:\.[^.\s-]+){1,2})\s*(?:->\s*(\S+)\s*)?$`)
	pathArrow  = regexp.MustCompile(`->`)
	reservedPG = map[string]bool{}
)

func init() {
	// PostgreSQL's reserved key words (appendix C), which cannot name a
	// table or column unquoted.
	for _, w := range strings.Fields(`all analyse analyze and any array as asc asymmetric authorization binary both
		case cast check collate collation column concurrently constraint create cross current_catalog current_date
		current_role current_schema current_time current_timestamp current_user default deferrable desc distinct do
		else end except false fetch for foreign freeze from full grant group having ilike in initially inner intersect
		into is isnull join lateral leading left like limit localtime localtimestamp natural not notnull null offset on
		only or order outer overlaps placing primary references returning right select session_user similar some
		symmetric system_user table tablesample then to trailing true union unique user using variadic verbose when
		where window with`) {
		reservedPG[w] = true
	}
}

// Load reads and validates the declaration file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the declarations: %w", err)
	}
	return Parse(path, data)
}

// Parse parses and validates a declaration file's contents; file names it
// in errors. Every problem found is reported, each naming the file, the
// entity and the field.
func Parse(file string, data []byte) (*Config, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if len(root.Content) == 0 {
		return nil, fmt.Errorf("%s: empty file: want version, sql, go and entities", file)
	}
	var errs []error
	checkKeys(file, root.Content[0], &errs)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	cfg := &Config{File: file}
	if err := root.Content[0].Decode(cfg); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	for i, n := range mappingValue(root.Content[0], "entities").Content {
		if i < len(cfg.Entities) {
			cfg.Entities[i].line = n.Line
			cfg.Entities[i].listed = "entity"
			cfg.Entities[i].Overrides.set = keysSet(mappingValue(n, "overrides"))
			cfg.Entities[i].Plans.set = keysSet(mappingValue(n, "plans"))
		}
	}
	for i, n := range mappingValue(root.Content[0], "tables").Content {
		if i < len(cfg.Tables) {
			cfg.Tables[i].line = n.Line
			cfg.Tables[i].noDoc = true
			cfg.Tables[i].listed = "table"
		}
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// keysSet returns the keys of mapping node n.
func keysSet(n *yaml.Node) map[string]bool {
	set := map[string]bool{}
	for j := 0; n.Kind == yaml.MappingNode && j+1 < len(n.Content); j += 2 {
		set[n.Content[j].Value] = true
	}
	return set
}

// mappingValue returns the value of key in mapping node n, or an empty node.
func mappingValue(n *yaml.Node, key string) *yaml.Node {
	if n != nil && n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				return n.Content[i+1]
			}
		}
	}
	return &yaml.Node{}
}

// checkKeys reports every key of the document that the format does not
// know, naming where it is.
func checkKeys(file string, top *yaml.Node, errs *[]error) {
	check := func(n *yaml.Node, kind, where string) {
		if n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.Tag == "!!null") {
			return
		}
		if n.Kind != yaml.MappingNode {
			*errs = append(*errs, fmt.Errorf("%s:%d: %s: want a mapping of %s", file, n.Line, where, strings.Join(keysOf[kind], ", ")))
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i]; !slices.Contains(keysOf[kind], k.Value) {
				*errs = append(*errs, fmt.Errorf("%s:%d: %s: unknown key %q (want %s)", file, k.Line, where, k.Value, strings.Join(keysOf[kind], ", ")))
			}
		}
	}
	check(top, "top", "top level")
	check(mappingValue(top, "sql"), "sql", "sql")
	check(mappingValue(top, "go"), "go", "go")
	for _, list := range [][2]string{{"entities", "entity"}, {"tables", "table"}} {
		items := mappingValue(top, list[0])
		if items.Kind != 0 && items.Kind != yaml.SequenceNode {
			*errs = append(*errs, fmt.Errorf("%s:%d: %s: want a list", file, items.Line, list[0]))
			continue
		}
		for i, e := range items.Content {
			where := fmt.Sprintf("%s %d", list[1], i+1)
			if name := mappingValue(e, "name").Value; name != "" {
				where = fmt.Sprintf("%s %q", list[1], name)
			}
			check(e, list[1], where)
			check(mappingValue(e, "key"), "key", where+": key")
			check(mappingValue(e, "plans"), "plans", where+": plans")
			check(mappingValue(e, "overrides"), "overrides", where+": overrides")
			cascades := mappingValue(e, "cascades")
			if cascades.Kind != 0 && cascades.Kind != yaml.SequenceNode {
				*errs = append(*errs, fmt.Errorf("%s:%d: %s: cascades: want a list", file, cascades.Line, where))
				continue
			}
			for j, c := range cascades.Content {
				check(c, "cascade", fmt.Sprintf("%s: cascade %d", where, j+1))
			}
		}
	}
}

// Camel returns the CamelCase of a snake_case name, "id" as "ID":
// "order_line" → "OrderLine", "item_id" → "ItemID".
func Camel(name string) string {
	var b strings.Builder
	for _, part := range strings.Split(name, "_") {
		switch part {
		case "":
		case "id", "ids":
			b.WriteString("ID" + part[2:])
		default:
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}

// validate checks every field, collecting every problem.
func (c *Config) validate() error {
	var errs []error
	fail := func(line int, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s:%d: %s", c.File, line, fmt.Sprintf(format, args...)))
	}
	if c.Version != 1 {
		fail(1, "version %d: want version: 1", c.Version)
	}
	if c.SQL.Out == "" {
		fail(1, "sql.out: missing (the folder of the generated .gen.sql files)")
	}
	if c.Go.Out == "" || !strings.HasSuffix(c.Go.Out, ".go") {
		fail(1, "go.out %q: want the generated Go file's path, ending in .go", c.Go.Out)
	}
	if !goIdentRE.MatchString(c.Go.Package) {
		fail(1, "go.package %q: want a Go package name", c.Go.Package)
	}
	if !importRE.MatchString(c.Go.Queries) || !goIdentRE.MatchString(pathBase(c.Go.Queries)) {
		fail(1, "go.queries %q: want the import path of the sqlc package, its last element a Go identifier", c.Go.Queries)
	}
	if len(c.Entities) == 0 {
		fail(1, "entities: none declared")
	}
	byName := map[string]*Entity{} // entities and tables
	all := c.declared()
	counts := map[string]int{}
	for _, e := range all {
		counts[e.listed]++
		if !entityRE.MatchString(e.Name) {
			fail(e.line, "%s %d: name %q: want a lower-case identifier ([a-z][a-z0-9_]*)", e.listed, counts[e.listed], e.Name)
			continue
		}
		if prev := byName[e.Name]; prev != nil {
			fail(e.line, "%s %q: declared twice (first at line %d%s)", e.listed, e.Name, prev.line, map[bool]string{true: ", as an " + prev.listed}[prev.listed != e.listed])
			continue
		}
		byName[e.Name] = e
	}
	queries := map[string]string{} // statement name -> who declares it
	addQuery := func(e *Entity, name, what string) {
		if prev, ok := queries[name]; ok {
			fail(e.line, "%s %q: %s: query name %s is already %s", e.listed, e.Name, what, name, prev)
			return
		}
		queries[name] = fmt.Sprintf("%s %q's %s", e.listed, e.Name, what)
	}
	for _, e := range all {
		if !e.noDoc || byName[e.Name] != e {
			continue
		}
		if msg := checkQualified(e.Table); e.Table == "" || msg != "" {
			if e.Table == "" {
				msg = "missing"
			}
			fail(e.line, "table %q: table %q: %s", e.Name, e.Table, msg)
		}
		if !identRE.MatchString(e.Key.Column) || reservedPG[e.Key.Column] {
			fail(e.line, "table %q: key.column %q: want a plain lower-case SQL identifier that is no reserved word", e.Name, e.Key.Column)
		}
		if !slices.Contains(keyTypes, e.Key.Type) {
			fail(e.line, "table %q: key.type %q: want uuid, bigint, integer or text", e.Name, e.Key.Type)
		}
		if len(e.Cascades) == 0 {
			fail(e.line, "table %q: cascades: none declared (a table without a document is declared for the documents its rows' changes make stale)", e.Name)
		}
	}
	for i := range c.Entities {
		e := &c.Entities[i]
		if byName[e.Name] != e {
			continue
		}
		ident := func(field, v string) bool {
			switch {
			case v == "":
				fail(e.line, "entity %q: %s: missing", e.Name, field)
			case !identRE.MatchString(v):
				fail(e.line, "entity %q: %s %q: want a plain lower-case SQL identifier ([a-z_][a-z0-9_]*)", e.Name, field, v)
			case reservedPG[v]:
				fail(e.line, "entity %q: %s %q: a reserved word of PostgreSQL", e.Name, field, v)
			default:
				return true
			}
			return false
		}
		qualified := func(field, v string) {
			if v == "" {
				fail(e.line, "entity %q: %s: missing", e.Name, field)
			} else if msg := checkQualified(v); msg != "" {
				fail(e.line, "entity %q: %s %q: %s", e.Name, field, v, msg)
			}
		}
		seen := map[string]bool{}
		for _, col := range e.Columns {
			switch {
			case !identRE.MatchString(col) || reservedPG[col]:
				fail(e.line, "entity %q: columns: %q is not a plain lower-case SQL identifier that is no reserved word", e.Name, col)
			case col == "id" || col == "data" || col == "updated_at":
				fail(e.line, "entity %q: columns: %q is one of the tv_ table's own columns (id, data, updated_at): list only the others", e.Name, col)
			case seen[col]:
				fail(e.line, "entity %q: columns: %q listed twice", e.Name, col)
			}
			seen[col] = true
		}
		qualified("table", e.Table)
		qualified("tv", e.TV)
		qualified("source", e.Source)
		ident("key.column", e.Key.Column)
		if !slices.Contains(keyTypes, e.Key.Type) {
			fail(e.line, "entity %q: key.type %q: want uuid, bigint, integer or text", e.Name, e.Key.Type)
		}
		x := Camel(e.Name)
		for _, s := range []string{"Refresh", "DeleteMissing", "RangeDeleteMissing", "IDsAfter", "ViewIDsAfter", "Verify"} {
			if s == "RangeDeleteMissing" && e.Key.Type == KeyText {
				continue
			}
			addQuery(e, x+s, "generated statement")
		}
		for _, o := range [][2]string{{"refresh_wide", e.Overrides.RefreshWide}, {"refresh_range", e.Overrides.RefreshRange}} {
			if e.Overrides.set[o[0]] && !goNameRE.MatchString(o[1]) {
				fail(e.line, "entity %q: overrides.%s %q: want the name of a hand-written sqlc statement (CamelCase)", e.Name, o[0], o[1])
			}
		}
		c.validatePlans(e, fail)
		if e.Plans.Wide != "" {
			addQuery(e, x+"WideRefresh", "plans.wide statement")
		}
		switch {
		case e.Key.Type == KeyText:
			if e.Plans.set["range"] || e.Overrides.set["refresh_range"] {
				fail(e.line, "entity %q: a text key's full sync walks id lists, with no range statement: remove plans.range and overrides.refresh_range", e.Name)
			}
			addQuery(e, x+"VerifyToEnd", "generated statement")
		case e.Plans.Range != "":
			addQuery(e, x+"RangeRefresh", "plans.range statement")
		case e.Overrides.RefreshRange == "":
			addQuery(e, x+"RangeRefresh", "generated statement")
		}
		if goNameRE.MatchString(e.Overrides.RefreshRange) {
			addQuery(e, e.Overrides.RefreshRange, "overrides.refresh_range")
		}
		if goNameRE.MatchString(e.Overrides.RefreshWide) {
			addQuery(e, e.Overrides.RefreshWide, "overrides.refresh_wide")
		}
	}
	for _, e := range all {
		if byName[e.Name] != e {
			continue
		}
		for j := range e.Cascades {
			cs := &e.Cascades[j]
			where := fmt.Sprintf("%s %q: cascade %d", e.listed, e.Name, j+1)
			to := byName[cs.To]
			if to == nil || to.noDoc {
				why := "no such entity"
				if to != nil {
					why = "a table under tables:, without a document to cascade to"
				}
				fail(e.line, "%s: to %q: %s (entities: %s)", where, cs.To, why, strings.Join(entityNames(c.Entities), ", "))
				continue
			}
			where += fmt.Sprintf(" (to %s)", cs.To)
			if e.noDoc && len(cs.On) > 0 {
				fail(e.line, "%s: on: a table without a document has no keys to name; remove on", where)
			}
			for _, k := range cs.On {
				if strings.TrimSpace(k) == "" || k != strings.TrimSpace(k) {
					fail(e.line, "%s: on: %q is not a document key (want the top-level keys of %s's document that %s shows)", where, k, e.Name, cs.To)
				}
			}
			if cs.Referencing != nil && cs.Path != "" {
				fail(e.line, "%s: referencing goes with a lookup; a path says it by its form", where)
			}
			switch {
			case cs.Path == "" && cs.Lookup == "":
				fail(e.line, "%s: want a path or a lookup", where)
			case cs.Path != "" && cs.Lookup != "":
				fail(e.line, "%s: path and lookup are exclusive", where)
			case cs.Lookup != "":
				if cs.Name != "" {
					fail(e.line, "%s: name goes with a path; a lookup is named by lookup", where)
				}
				if !goNameRE.MatchString(cs.Lookup) {
					fail(e.line, "%s: lookup %q: want the name of a hand-written :batchmany statement (CamelCase)", where, cs.Lookup)
				}
			default:
				m := pathRE.FindStringSubmatch(cs.Path)
				if m == nil || len(pathArrow.FindAllString(cs.Path, -1)) > 1 {
					fail(e.line, "%s: path %q: want [<schema>.]<table>.<column>[ -> <column>]", where, cs.Path)
					continue
				}
				// The column is after the last dot: a schema-qualified
				// table has two.
				dot := strings.LastIndex(m[1], ".")
				table, match := m[1][:dot], m[1][dot+1:]
				ok := true
				if msg := checkQualified(table); msg != "" {
					fail(e.line, "%s: path %q: table %q: %s", where, cs.Path, table, msg)
					ok = false
				}
				for _, kp := range [][2]string{{"column", match}, {"result column", m[2]}} {
					k, part := kp[0], kp[1]
					if part == "" && k == "result column" {
						continue
					}
					if !identRE.MatchString(part) || reservedPG[part] {
						fail(e.line, "%s: path %q: %s %q is not a plain lower-case SQL identifier", where, cs.Path, k, part)
						ok = false
					}
				}
				if !ok {
					continue
				}
				cs.table, cs.match, cs.result = table, match, m[2]
				if cs.result == "" {
					if cs.table != to.Table {
						fail(e.line, "%s: path %q: without -> the rows must be %s's command table %s (or name the key column: %s.%s -> <column>)", where, cs.Path, to.Name, to.Table, cs.table, cs.match)
						continue
					}
					cs.result = to.Key.Column
				}
				// The target's own rows hold the match column: they reference the declaring entity.
				cs.ref = cs.table == to.Table && cs.result == to.Key.Column
				if cs.Name == "" {
					// PostIDsByAuthor for tb_post.author_id; PostIDsByCommentAuthor
					// for tb_comment.author_id -> post_id.
					cs.Name = Camel(cs.To) + "IDsBy" + Camel(strings.TrimSuffix(cs.match, "_id"))
					if cs.table != to.Table {
						cs.Name = Camel(cs.To) + "IDsBy" + Camel(strings.TrimPrefix(bareName(cs.table), "tb_")) + Camel(strings.TrimSuffix(cs.match, "_id"))
					}
				}
				if !goNameRE.MatchString(cs.Name) {
					fail(e.line, "%s: name %q: want a CamelCase statement name", where, cs.Name)
					continue
				}
				addQuery(e, cs.Name, "cascade look-up")
				if cs.ref && !e.noDoc { // a table without a document is never synced: nothing reads it
					cs.toKey = to.Key.Type
					cs.referenced = Camel(e.Name) + "IDsOf" + Camel(cs.To) + Camel(strings.TrimSuffix(cs.match, "_id"))
					addQuery(e, cs.referenced, "look-up of the rows a cascade's dependents reference")
				}
			}
		}
	}
	return errors.Join(errs...)
}

// checkQualified checks a table or view name, plain ("tb_book") or
// schema-qualified ("lib.tb_book"), and says what is wrong with it, or
// returns "".
func checkQualified(v string) string {
	parts := strings.Split(v, ".")
	if len(parts) > 2 {
		return "want <name> or <schema>.<name>: it has more than one dot"
	}
	what := []string{"the name"}
	if len(parts) == 2 {
		what = []string{"the schema", "the name"}
	}
	for i, p := range parts {
		switch {
		case p == "":
			return fmt.Sprintf("%s is empty (want <name> or <schema>.<name>)", what[i])
		case !identRE.MatchString(p):
			return fmt.Sprintf("%s %q is not a plain lower-case SQL identifier ([a-z_][a-z0-9_]*)", what[i], p)
		case reservedPG[p]:
			return fmt.Sprintf("%s %q is a reserved word of PostgreSQL", what[i], p)
		}
	}
	return ""
}

// bareName is the name of a possibly schema-qualified table, without its
// schema: how SQL refers to the table within a statement that names it.
func bareName(v string) string { return v[strings.LastIndex(v, ".")+1:] }

// declared returns the entities, then the tables without a document.
func (c *Config) declared() []*Entity {
	out := make([]*Entity, 0, len(c.Entities)+len(c.Tables))
	for i := range c.Entities {
		out = append(out, &c.Entities[i])
	}
	for i := range c.Tables {
		out = append(out, &c.Tables[i])
	}
	return out
}

func entityNames(es []Entity) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Name)
	}
	return out
}

// pathBase is the last element of an import path.
func pathBase(p string) string {
	return p[strings.LastIndex(p, "/")+1:]
}
