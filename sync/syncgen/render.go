package syncgen

import (
	"bytes"
	"fmt"
	"go/format"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// File is one generated file: its path (relative to the declaration
// file's directory when the declaration came from a relative path, as
// written in it) and its contents.
type File struct {
	Path    string
	Content []byte
	// Remove marks a file tvsync gen once wrote that it no longer
	// generates (the .gen.sql of an entity no longer declared).
	Remove bool
}

// minKey is the smallest key of each type, the first cursor of a walk
// (the engine's minimum key of the kind), which a keyset bound includes.
var minKey = map[KeyType]string{
	KeyUUID:    "'00000000-0000-0000-0000-000000000000'",
	KeyBigint:  "-9223372036854775808",
	KeyInteger: "-2147483648",
	KeyText:    "''",
}

// goKey is how the registration converts ids of each key type.
var goKey = map[KeyType]struct{ slice, ids, id, kind string }{
	KeyUUID:    {"[][]uuid.UUID", "sync.UUIDs", "UUID", "sync.KeyUUID"},
	KeyBigint:  {"[][]int64", "sync.Int64s", "Int64", "sync.KeyBigint"},
	KeyInteger: {"[][]int32", "sync.Int32s", "Int32", "sync.KeyInteger"},
	KeyText:    {"[][]string", "sync.Texts", "Text", "sync.KeyText"},
}

// extraColumns fills the placeholders of the entity's extra tv_ columns
// (Entity.Columns), which the refresh fills from the view's columns of the
// same names beside id and data: {cols} lists them (", a, b"), {s.cols}
// (and {v.cols}, {r.cols}, {src.cols}) each qualified, {set.cols} their
// assignments from EXCLUDED; {changed} is the upsert's condition and
// {drifted} verify's, which compare them with data, so that a column that
// changes while the document does not is still written, and verified.
func extraColumns(tvref string, cols []string) []string {
	list := func(prefix string) string {
		var b strings.Builder
		for _, c := range cols {
			b.WriteString(", " + prefix + c)
		}
		return b.String()
	}
	var set strings.Builder
	for _, c := range cols {
		set.WriteString(", " + c + " = EXCLUDED." + c)
	}
	changed := tvref + ".data IS DISTINCT FROM EXCLUDED.data"
	drifted := "s.data IS DISTINCT FROM t.data"
	if len(cols) > 0 {
		changed = "(" + tvref + ".data" + list(tvref+".") + ") IS DISTINCT FROM (EXCLUDED.data" + list("EXCLUDED.") + ")"
		drifted = "(s.data" + list("s.") + ") IS DISTINCT FROM (t.data" + list("t.") + ")"
	}
	return []string{"{cols}", list(""), "{s.cols}", list("s."), "{v.cols}", list("v."), "{r.cols}", list("r."),
		"{src.cols}", list("src."), "{set.cols}", set.String(), "{changed}", changed, "{drifted}", drifted}
}

// keyOrder fills the placeholders of a key's order in the statements: {C}
// follows every key compared by order or sorted (COLLATE "C" for a text
// key, whatever its column's collation, so that a keyset walk neither skips
// nor repeats a key: sync.KeyText), and verify sorts its rows ORDER BY
// {byid}. XVerifyToEnd, the verify of a text key's last range, has no
// upper bound: no text is the largest,
// and a bound that a parameter could switch off (@upto IS NULL OR …) would
// make a generic plan read every key after @after. (A text key's full sync
// walks id lists: it has no range statements.)
func keyOrder(t KeyType) []string {
	if t == KeyText {
		return []string{"{C}", ` COLLATE "C"`, "{byid}", `coalesce(s.id, t.id) COLLATE "C"`}
	}
	return []string{"{C}", "", "{byid}", "1"}
}

// The generated statements. {X} is the entity's CamelCase name, {T} its key
// type, {min} the smallest key, {C} and {byid} its order (keyOrder), {k} the command table's key column, {tb} the
// command table, {tv} the query table ({tvref} its name without its schema:
// how the statement that names it refers to it), {src} the document view;
// each as declared, schema-qualified when the declaration qualifies it.
const (
	// upsertSQL ends the full-sync refreshes (range): it writes the rows of
	// the CTE src (id, data) whose data changed and counts them.
	upsertSQL = `upserted AS (
    INSERT INTO {tv} (id, data{cols}, updated_at)
    SELECT src.id, src.data{src.cols}, clock_timestamp() FROM src
    ON CONFLICT (id) DO UPDATE
        SET data = EXCLUDED.data{set.cols}, updated_at = EXCLUDED.updated_at
        WHERE {changed}
    RETURNING {tvref}.id
)
SELECT (SELECT count(*) FROM src)::int      AS found,
       (SELECT count(*) FROM upserted)::int AS upserted,
       clock_timestamp()::timestamptz       AS finished_at;
`
	// upsertChangedSQL ends the refreshes of writes (by id, wide): as
	// upsertSQL, and it also lists what changed, for the engine to follow
	// cascades only from documents that changed: changed is a JSON array of
	// [id, keys], one per row written, keys the top-level document keys
	// whose value differs from the stored row's (null for a new row). The
	// stored row is read by id (the OFFSET 0 fence) as the statement's
	// snapshot holds it, before the upsert.
	upsertChangedSQL = `upserted AS (
    INSERT INTO {tv} (id, data{cols}, updated_at)
    SELECT src.id, src.data{src.cols}, clock_timestamp() FROM src
    ON CONFLICT (id) DO UPDATE
        SET data = EXCLUDED.data{set.cols}, updated_at = EXCLUDED.updated_at
        WHERE {changed}
    RETURNING {tvref}.id, {tvref}.data
)
SELECT (SELECT count(*) FROM src)::int      AS found,
       (SELECT count(*) FROM upserted)::int AS upserted,
       (SELECT coalesce(jsonb_agg(jsonb_build_array(u.id::text,
                CASE WHEN jsonb_typeof(o.data) = 'object' AND jsonb_typeof(u.data) = 'object' THEN
                    (SELECT coalesce(jsonb_agg(k.key ORDER BY k.key), '[]'::jsonb)
                     FROM (SELECT jsonb_object_keys(u.data) UNION SELECT jsonb_object_keys(o.data)) AS k(key)
                     WHERE u.data -> k.key IS DISTINCT FROM o.data -> k.key)
                END)), '[]'::jsonb)
        FROM upserted u
        LEFT JOIN LATERAL (SELECT t.data FROM {tv} t WHERE t.id = u.id OFFSET 0) o ON true)::jsonb AS changed,
       clock_timestamp()::timestamptz       AS finished_at;
`
	// widePlanSQL wraps a wide plan file: {comments} its leading comment
	// lines, {file} its path, {with} "WITH" or "WITH RECURSIVE", {ctes}
	// the CTEs of its own WITH clause as written, each line followed by
	// ",\n", {query} its main query.
	widePlanSQL = `-- name: {X}WideRefresh :batchone
{comments}
-- Generated around the hand-written query of {file} (plans.wide of {decl}), which builds the documents of the ids of @ids; the upsert writes only those whose data changed.
{with} {ctes}src AS (
{query}
),
` + upsertChangedSQL
	// rangePlanSQL wraps a range plan file.
	rangePlanSQL = `-- name: {X}RangeRefresh :batchone
{comments}
-- Generated around the hand-written query of {file} (plans.range of {decl}), which builds the documents of the keyset range (@after, @upto]: they are built apart (MATERIALIZED) and only then narrowed to the chunk's locked @ids (a row created after the chunk listed its ids is left to its own sync), so that a generic plan, which cannot count @ids, keeps the range's plan; the upsert writes only those whose data changed.
{with} {ctes}range_src AS MATERIALIZED (
{query}
),
src AS (
    SELECT r.id, r.data{r.cols} FROM range_src r WHERE r.id IN (SELECT unnest(@ids::{T}[]))
),
` + upsertSQL
	refreshSQL = `-- name: {X}Refresh :batchone
-- {X}Refresh upserts, in one statement, the {tv} documents of the given ids from their definition ({src}), writing only those whose data changed and listing them with the document keys that changed; the definition is read id by id (the OFFSET 0 fence), so the work follows the batch, never the table.
WITH src AS (
    SELECT s.id, s.data{s.cols}
    FROM (SELECT DISTINCT unnest(@ids::{T}[]) AS id) b
    CROSS JOIN LATERAL (SELECT v.id, v.data{v.cols} FROM {src} v WHERE v.id = b.id OFFSET 0) s
),
` + upsertChangedSQL
	rangeRefreshSQL = `-- name: {X}RangeRefresh :batchone
-- {X}RangeRefresh upserts the {tv} documents of the keyset range of ids (@after, @upto] of a full-sync chunk from their definition ({src}), writing only those whose data changed and only the chunk's locked @ids (a row created after the chunk listed its ids is left to its own sync); the range is built apart (MATERIALIZED) and only then narrowed to @ids, so that a generic plan, which cannot count @ids, keeps the range's plan.
WITH range_src AS MATERIALIZED (
    SELECT s.id, s.data{s.cols} FROM {src} s WHERE s.id{C} >= @after::{T} AND (s.id{C} > @after::{T} OR s.id = {min}) AND s.id{C} <= @upto::{T}
),
src AS (
    SELECT r.id, r.data{r.cols} FROM range_src r WHERE r.id IN (SELECT unnest(@ids::{T}[]))
),
` + upsertSQL
	deleteMissingSQL = `-- name: {X}DeleteMissing :batchone
-- {X}DeleteMissing removes the {tv} rows, among the given ids, whose {tb} row no longer exists, and lists them: each id is probed in {tb} (the OFFSET 0 fence keeps the planner from hashing the whole table), and only the ids found gone are looked up in {tv}.
WITH gone AS (
    DELETE FROM {tv} t
    WHERE t.id = ANY(ARRAY(
        SELECT b.id FROM unnest(@ids::{T}[]) AS b(id)
        WHERE NOT EXISTS (SELECT 1 FROM {tb} x WHERE x.{k} = b.id OFFSET 0)))
    RETURNING t.id
)
SELECT count(*)::int AS deleted, coalesce(array_agg(gone.id ORDER BY gone.id), '{}')::{T}[] AS deleted_ids,
       clock_timestamp()::timestamptz AS finished_at
FROM gone;
`
	rangeDeleteMissingSQL = `-- name: {X}RangeDeleteMissing :batchone
-- {X}RangeDeleteMissing removes the {tv} rows among the chunk's locked @ids in the keyset range (@after, @upto] whose {tb} row no longer exists; both sides of the anti-join read only the range (the inner side from @after inclusive, a superset of any id the outer side holds), so a chunk never reads the whole of {tb}.
WITH gone AS (
    DELETE FROM {tv} t
    WHERE t.id{C} >= @after::{T} AND (t.id{C} > @after::{T} OR t.id = {min}) AND t.id{C} <= @upto::{T}
      AND t.id IN (SELECT unnest(@ids::{T}[]))
      AND NOT EXISTS (SELECT 1 FROM {tb} x WHERE x.{k} = t.id AND x.{k}{C} >= @after::{T} AND x.{k}{C} <= @upto::{T})
    RETURNING t.id
)
SELECT count(*)::int AS deleted, clock_timestamp()::timestamptz AS finished_at FROM gone;
`
	idsAfterSQL = `-- name: {X}IDsAfter :many
-- {X}IDsAfter lists {tb} ids in id order after a keyset cursor, for full sync.
SELECT {k} FROM {tb} WHERE {k}{C} >= @after::{T} AND ({k}{C} > @after::{T} OR {k} = {min}) ORDER BY {k}{C} LIMIT @page_size::int;
`
	viewIDsAfterSQL = `-- name: {X}ViewIDsAfter :many
-- {X}ViewIDsAfter lists {tv} ids in id order after a keyset cursor, to find orphans during full sync.
SELECT id FROM {tv} WHERE id{C} >= @after::{T} AND (id{C} > @after::{T} OR id = {min}) ORDER BY id{C} LIMIT @page_size::int;
`
	verifySQL = `-- name: {X}Verify :many
-- {X}Verify compares, for the ids in (@after, @upto], the stored {tv} rows with their definition ({src}) and lists those missing, stale or orphaned.
SELECT coalesce(s.id, t.id)::{T} AS id,
       (CASE WHEN t.id IS NULL THEN 'missing' WHEN s.id IS NULL THEN 'orphaned' ELSE 'stale' END)::text AS problem
FROM (SELECT v.id, v.data{v.cols} FROM {src} v WHERE v.id{C} >= @after::{T} AND (v.id{C} > @after::{T} OR v.id = {min}) AND v.id{C} <= @upto::{T}) s
FULL JOIN (SELECT r.id, r.data{r.cols} FROM {tv} r WHERE r.id{C} >= @after::{T} AND (r.id{C} > @after::{T} OR r.id = {min}) AND r.id{C} <= @upto::{T}) t ON t.id = s.id
WHERE {drifted}
ORDER BY {byid};
`
	// verifyToEndSQL is verifySQL for a text key's last range, (@after, ∞).
	verifyToEndSQL = `-- name: {X}VerifyToEnd :many
-- {X}VerifyToEnd is {X}Verify for the last range of a walk, every id after @after (a text key has no largest value).
SELECT coalesce(s.id, t.id)::{T} AS id,
       (CASE WHEN t.id IS NULL THEN 'missing' WHEN s.id IS NULL THEN 'orphaned' ELSE 'stale' END)::text AS problem
FROM (SELECT v.id, v.data{v.cols} FROM {src} v WHERE v.id{C} >= @after::{T} AND (v.id{C} > @after::{T} OR v.id = {min})) s
FULL JOIN (SELECT r.id, r.data{r.cols} FROM {tv} r WHERE r.id{C} >= @after::{T} AND (r.id{C} > @after::{T} OR r.id = {min})) t ON t.id = s.id
WHERE {drifted}
ORDER BY {byid};
`
	// cascadeSQL: {N} the statement, {to} the target entity, {ct} the
	// table of the path, {m} its match column, {r} its result column.
	cascadeSQL = `-- name: {N} :batchmany
-- {N} lists the {to} ids whose documents embed the given {from} ids: the {r} of the {ct} rows whose {m} is one of them, read id by id through the index of {ct}.{m} (the OFFSET 0 fence), so the work follows the batch, never the table.
SELECT DISTINCT r.{r}
FROM (SELECT DISTINCT unnest(@ids::{T}[]) AS id) b
CROSS JOIN LATERAL (SELECT t.{r} FROM {ct} t WHERE t.{m} = b.id OFFSET 0) r;
`
	referencedSQL = `-- name: {RN} :batchmany
-- {RN} lists the {from} ids that the given {to} rows reference (their {m}), which a sync of those rows locks shared while it reads them.
SELECT DISTINCT t.{m}
FROM {ct} t
WHERE t.{r} = ANY(@ids::{TT}[]) AND t.{m} IS NOT NULL;
`
)

// Render returns the generated files of the declarations: one SQL file per
// entity in declaration order, then the Go registration.
func (c *Config) Render() ([]File, error) {
	base := filepath.Base(c.File)
	var files []File
	for i := range c.Entities {
		e := &c.Entities[i]
		sql, err := c.renderSQL(base, e)
		if err != nil {
			return nil, err
		}
		files = append(files, File{Path: filepath.Join(c.SQL.Out, e.Name+".gen.sql"), Content: sql})
	}
	for i := range c.Tables {
		e := &c.Tables[i]
		if !slices.ContainsFunc(e.Cascades, func(cs Cascade) bool { return cs.Lookup == "" }) {
			continue // only hand-written look-ups: nothing to generate
		}
		files = append(files, File{Path: filepath.Join(c.SQL.Out, e.Name+".gen.sql"), Content: c.renderTableSQL(base, e)})
	}
	src, err := c.renderGo(base)
	if err != nil {
		return nil, err
	}
	files = append(files, File{Path: filepath.FromSlash(c.Go.Out), Content: src})
	return files, nil
}

// renderSQL renders the statements of entity e, reading its plan files.
func (c *Config) renderSQL(base string, e *Entity) ([]byte, error) {
	var plans []string
	for _, p := range []struct {
		kind     planKind
		file     string
		template string
		fallback string
	}{
		{widePlan, e.Plans.Wide, widePlanSQL, "-- {X}WideRefresh upserts the {tv} documents of the given ids, for large batches."},
		{rangePlan, e.Plans.Range, rangePlanSQL, "-- {X}RangeRefresh upserts the {tv} documents of the chunk's locked @ids in the keyset range (@after, @upto] of a full-sync chunk."},
	} {
		if p.file == "" {
			continue
		}
		pl, err := c.readPlan(e, p.kind, p.file)
		if err != nil {
			return nil, err
		}
		names := strings.NewReplacer("{X}", Camel(e.Name), "{T}", string(e.Key.Type), "{tv}", e.TV,
			"{decl}", base, "{file}", path.Clean(filepath.ToSlash(p.file)))
		comments := strings.Join(pl.comments, "\n")
		if comments == "" {
			comments = names.Replace(p.fallback)
		}
		with, ctes := "WITH", ""
		if pl.recursive {
			with = "WITH RECURSIVE"
		}
		if pl.ctes != "" {
			ctes = pl.ctes + ",\n"
		}
		// One pass: the file's text is inserted as it is, never substituted.
		plans = append(plans, strings.NewReplacer(append([]string{"{X}", Camel(e.Name), "{T}", string(e.Key.Type), "{tv}", e.TV, "{tvref}", bareName(e.TV),
			"{decl}", base, "{file}", path.Clean(filepath.ToSlash(p.file)),
			"{comments}", comments, "{with}", with, "{ctes}", ctes, "{query}", pl.query}, extraColumns(bareName(e.TV), e.Columns)...)...).Replace(p.template))
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "-- Code generated by tvsync gen from %s (entity %s); DO NOT EDIT.\n", base, e.Name)
	// sqlc reads the comments above a query's "-- name:" line into its Go
	// doc comment and its text: the empty statement ends the header first.
	b.WriteString("-- (The empty statement below keeps this header out of the first query.)\n;\n")
	r := strings.NewReplacer(append([]string{"{X}", Camel(e.Name), "{T}", string(e.Key.Type), "{min}", minKey[e.Key.Type],
		"{k}", e.Key.Column, "{tb}", e.Table, "{tv}", e.TV, "{tvref}", bareName(e.TV), "{src}", e.Source},
		append(keyOrder(e.Key.Type), extraColumns(bareName(e.TV), e.Columns)...)...)...)
	stmts := []string{r.Replace(refreshSQL)}
	if e.Plans.Wide != "" {
		stmts = append(stmts, plans[0])
		plans = plans[1:]
	}
	text := e.Key.Type == KeyText
	switch {
	case text: // full sync by id lists: no range statements
	case e.Plans.Range != "":
		stmts = append(stmts, plans[0])
	case e.Overrides.RefreshRange == "":
		stmts = append(stmts, r.Replace(rangeRefreshSQL))
	}
	for _, s := range []string{deleteMissingSQL, rangeDeleteMissingSQL, idsAfterSQL, viewIDsAfterSQL, verifySQL} {
		if text && s == rangeDeleteMissingSQL {
			continue
		}
		stmts = append(stmts, r.Replace(s))
	}
	if text {
		stmts = append(stmts, r.Replace(verifyToEndSQL))
	}
	for _, s := range stmts {
		b.WriteString("\n")
		b.WriteString(s)
	}
	c.renderCascadesSQL(&b, e)
	return b.Bytes(), nil
}

// renderTableSQL renders the cascade look-ups of table e, which has no
// document of its own.
func (c *Config) renderTableSQL(base string, e *Entity) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "-- Code generated by tvsync gen from %s (table %s, without a document); DO NOT EDIT.\n", base, e.Name)
	b.WriteString("-- (The empty statement below keeps this header out of the first query.)\n;\n")
	c.renderCascadesSQL(&b, e)
	return b.Bytes()
}

// renderCascadesSQL renders the look-up of each cascade path of e.
func (c *Config) renderCascadesSQL(b *bytes.Buffer, e *Entity) {
	for _, cs := range e.Cascades {
		if cs.Lookup != "" {
			continue
		}
		r := strings.NewReplacer("{N}", cs.Name, "{to}", cs.To, "{from}", e.Name, "{T}", string(e.Key.Type),
			"{ct}", cs.table, "{m}", cs.match, "{r}", cs.result, "{RN}", cs.referenced, "{TT}", string(cs.toKey))
		b.WriteString("\n")
		r.WriteString(b, cascadeSQL)
		if cs.referenced != "" {
			b.WriteString("\n")
			r.WriteString(b, referencedSQL)
		}
	}
}

func (c *Config) renderGo(base string) ([]byte, error) {
	var b bytes.Buffer
	qpkg := pathBase(c.Go.Queries)
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	p("// Code generated by tvsync gen from %s; DO NOT EDIT.", base)
	p("")
	p("package %s", c.Go.Package)
	p("")
	p("import (")
	p(`"context"`)
	for _, e := range c.declared() {
		if e.Key.Type == KeyUUID {
			p("")
			p(`"github.com/google/uuid"`)
			break
		}
	}
	p("")
	p("%q", c.Go.Queries)
	p(`"github.com/tvsync/tvsync/sync"`)
	p(")")
	p("")
	p("// Names of the entities declared in %s.", base)
	p("const (")
	for _, e := range c.Entities {
		p("Entity%s = %q", Camel(e.Name), e.Name)
	}
	p(")")
	p("")
	p("// Entities returns the registrations of the entities declared in %s,", base)
	p("// over the statements tvsync gen wrote to %s/*.gen.sql and the hand-written", filepath.ToSlash(c.SQL.Out))
	p("// overrides and look-ups the declarations name.")
	p("func Entities() []sync.Entity {")
	p("q := %s.New()", qpkg)
	p("ctx := context.Background() // batch methods only queue; the pipeline's Send takes the real context")
	p("return []sync.Entity{")
	cascades := func(e *Entity) {
		k := goKey[e.Key.Type]
		for _, cs := range e.Cascades {
			stmt := cs.Name
			if cs.Lookup != "" {
				stmt = cs.Lookup
			}
			extra := ""
			if len(cs.On) > 0 {
				extra += fmt.Sprintf(" On: %#v,", cs.On)
			}
			if cs.referencing() && !e.noDoc {
				extra += " Referencing: true,"
			}
			p("{Entity: Entity%s,%s Lookup: func(p *sync.Pipeline, ids []sync.ID) func() ([]sync.ID, error) {", Camel(cs.To), extra)
			p("return sync.ReadMany(q.%s(ctx, p, %s{%s(ids)}))", stmt, k.slice, k.ids)
			if cs.referenced != "" {
				tk := goKey[cs.toKey]
				p("}, Referenced: func(p *sync.Pipeline, ids []sync.ID) func() ([]sync.ID, error) {")
				p("return sync.ReadMany(q.%s(ctx, p, %s{%s(ids)}))", cs.referenced, tk.slice, tk.ids)
			}
			p("}},")
		}
	}
	for _, e := range c.Entities {
		x, k := Camel(e.Name), goKey[e.Key.Type]
		batch := func(field, stmt string) {
			p("%s: func(p *sync.Pipeline, ids []sync.ID) func() (sync.RefreshResult, error) {", field)
			p("return sync.ReadRefresh(q.%s(ctx, p, %s{%s(ids)}))", stmt, k.slice, k.ids)
			p("},")
		}
		rangeStmt := func(field, stmt, result, read string) {
			p("%s: func(p *sync.Pipeline, after, upto sync.ID, ids []sync.ID) func() (sync.%s, error) {", field, result)
			p("return sync.%s(q.%s(ctx, p, []%s.%sParams{{After: after.%s(), Upto: upto.%s(), Ids: %s(ids)}}))", read, stmt, qpkg, stmt, k.id, k.id, k.ids)
			p("},")
		}
		listing := func(field, stmt string) {
			p("%s: func(ctx context.Context, conn sync.DB, after sync.ID, limit int) ([]sync.ID, error) {", field)
			p("return sync.Keys(q.%s(ctx, conn, %s.%sParams{After: after.%s(), PageSize: int32(limit)}))", stmt, qpkg, stmt, k.id)
			p("},")
		}
		p("{")
		p("Name: Entity%s,", x)
		p("View: %q,", e.TV)
		p("Source: %q,", e.Source)
		p("Key: %s,", k.kind)
		if len(e.Columns) > 0 {
			p("Columns: %#v,", e.Columns)
		}
		batch("Refresh", x+"Refresh")
		switch {
		case e.Plans.Wide != "":
			batch("RefreshWide", x+"WideRefresh")
		case e.Overrides.RefreshWide != "":
			batch("RefreshWide", e.Overrides.RefreshWide)
		}
		rangeRefresh := x + "RangeRefresh"
		if e.Plans.Range == "" && e.Overrides.RefreshRange != "" {
			rangeRefresh = e.Overrides.RefreshRange
		}
		if e.Key.Type != KeyText { // a text key's full sync walks id lists
			rangeStmt("RefreshRange", rangeRefresh, "RefreshResult", "ReadRefresh")
			rangeStmt("DeleteMissingRange", x+"RangeDeleteMissing", "DeleteResult", "ReadDelete")
		}
		p("DeleteMissing: func(p *sync.Pipeline, ids []sync.ID) func() (sync.DeleteResult, error) {")
		p("return sync.ReadDelete(q.%sDeleteMissing(ctx, p, %s{%s(ids)}))", x, k.slice, k.ids)
		p("},")
		listing("IDsAfter", x+"IDsAfter")
		listing("ViewIDsAfter", x+"ViewIDsAfter")
		p("Verify: func(ctx context.Context, conn sync.DB, after, upto sync.ID) ([]sync.Drift, error) {")
		if e.Key.Type == KeyText {
			p("if upto.IsMax() { // the last range: no text is the largest")
			p("return sync.Drifts(q.%sVerifyToEnd(ctx, conn, after.Text()))", x)
			p("}")
		}
		p("return sync.Drifts(q.%sVerify(ctx, conn, %s.%sVerifyParams{After: after.%s(), Upto: upto.%s()}))", x, qpkg, x, k.id, k.id)
		p("},")
		if len(e.Cascades) > 0 {
			p("Cascades: []sync.Cascade{")
			cascades(&e)
			p("},")
		}
		p("},")
	}
	p("}")
	p("}")
	for i := range c.Tables {
		e := &c.Tables[i]
		p("")
		p("// %sCascades returns the cascades declared in %s for", Camel(e.Name), base)
		p("// %s, a table without a document of its own: the documents", e.Table)
		p("// that embed its rows (keyed by %s), which a change of the rows makes stale.", e.Key.Column)
		p("// Record such a change in a unit of work with syncuow's")
		p("// Work.RecordCascades(ctx, %sCascades(), ids...), after an insert or", Camel(e.Name))
		p("// update and before a delete (the look-ups read the rows).")
		p("func %sCascades() []sync.Cascade {", Camel(e.Name))
		p("q := %s.New()", qpkg)
		p("ctx := context.Background() // batch methods only queue; the pipeline's Send takes the real context")
		p("return []sync.Cascade{")
		cascades(e)
		p("}")
		p("}")
	}
	out, err := format.Source(b.Bytes())
	if err != nil {
		return nil, fmt.Errorf("format the generated Go of %s: %w", c.File, err)
	}
	return out, nil
}

// referencing reports whether the cascade's target rows reference the
// declaring entity's rows (see Cascade.Referencing).
func (cs Cascade) referencing() bool {
	if cs.Lookup != "" {
		return cs.Referencing == nil || *cs.Referencing
	}
	return cs.ref
}
