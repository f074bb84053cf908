package modeltest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	tvsync "github.com/tvsync/tvsync/sync"
)

// DDL returns the statements that create the graph's tables, indexes and
// document views, in order.
func (g *Graph) DDL() []string {
	var out []string
	if g.Schema != "public" {
		out = append(out, "CREATE SCHEMA "+g.Schema)
	}
	for _, e := range g.Entities {
		out = append(out,
			fmt.Sprintf("CREATE TABLE %s (id %s PRIMARY KEY, name text NOT NULL, num bigint NOT NULL DEFAULT 0)", g.Table(e), e.Key),
			fmt.Sprintf("CREATE TABLE %s (id %s PRIMARY KEY, data jsonb NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())", g.View(e), e.Key))
	}
	for _, e := range g.Entities {
		for _, fk := range e.FKs {
			out = append(out,
				fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s %s REFERENCES %s (id) ON DELETE %s", g.Table(e), fk.Column, fk.To.Key, g.Table(fk.To), fk.OnDelete),
				fmt.Sprintf("CREATE INDEX ON %s (%s)", g.Table(e), fk.Column))
		}
	}
	for _, e := range g.Entities {
		out = append(out, fmt.Sprintf("CREATE VIEW %s (id, data) AS\n%s", g.Source(e), g.documentSQL(e)))
	}
	return out
}

// documentSQL is the query of e's documents, one row (id, data) per tb_ row:
// the only place, besides the judge's Go, where the shape is written.
func (g *Graph) documentSQL(e *Entity) string {
	args := []string{"'id', x.id", "'name', x.name", "'num', x.num", "'title', " + g.titleSQL(e, "x", 0)}
	for _, fk := range e.FKs {
		args = append(args, fmt.Sprintf("'%s', (SELECT jsonb_build_object('id', p.id, 'title', %s) FROM %s p WHERE p.id = x.%s)",
			fk.Column, g.titleSQL(fk.To, "p", 1), g.Table(fk.To), fk.Column))
	}
	for _, fk := range e.Children {
		if fk.Count {
			args = append(args, fmt.Sprintf("'%s', (SELECT count(*) FROM %s c WHERE c.%s = x.id)", fk.CountKey(), g.Table(fk.From), fk.Column))
		}
		if fk.List {
			num := ""
			if fk.ListNum {
				num = ", 'num', c.num"
			}
			args = append(args, fmt.Sprintf("'%s', (SELECT coalesce(jsonb_agg(jsonb_build_object('id', c.id, 'title', %s%s) ORDER BY c.id), '[]'::jsonb) FROM %s c WHERE c.%s = x.id)",
				fk.ListKey(), g.titleSQL(fk.From, "c", 1), num, g.Table(fk.From), fk.Column))
		}
	}
	return fmt.Sprintf("SELECT x.id, jsonb_build_object(\n    %s) FROM %s x", strings.Join(args, ",\n    "), g.Table(e))
}

// titleSQL is the SQL expression of the title of the e row aliased alias;
// depth keeps the aliases of nested look-ups apart.
func (g *Graph) titleSQL(e *Entity, alias string, depth int) string {
	if e.Title == nil {
		return alias + ".name"
	}
	t := fmt.Sprintf("t%d", depth)
	return fmt.Sprintf("%s.name || ' < ' || coalesce((SELECT %s FROM %s %s WHERE %s.id = %s.%s), '-')",
		alias, g.titleSQL(e.Title.To, t, depth+1), g.Table(e.Title.To), t, t, alias, e.Title.Column)
}

// minKey is the SQL literal of the smallest key of kind, where keyset walks
// start inclusively (see tvsync.Entity).
func minKey(kind tvsync.KeyKind) string {
	if kind == tvsync.KeyBigint {
		return "(-9223372036854775808)::bigint"
	}
	return "'00000000-0000-0000-0000-000000000000'::uuid"
}

// Registration returns the engine registration of every entity of the
// graph: hand-built statements queued on the engine's Pipeline, one Cascade
// per embedding edge (a parent's title shown by its children, children
// counted or listed by their parent), declared one step at a time.
func (g *Graph) Registration() []tvsync.Entity {
	out := make([]tvsync.Entity, 0, len(g.Entities))
	for _, e := range g.Entities {
		out = append(out, g.entity(e))
	}
	return out
}

func (g *Graph) entity(e *Entity) tvsync.Entity {
	k := e.Key.String()
	refresh, deleteMissing := g.refreshSQL(e), g.deleteSQL(e)
	listAfter := func(table string) string {
		// t.id in ORDER BY: a bare id would name the text output column.
		return fmt.Sprintf("SELECT t.id::text FROM %s t WHERE t.id >= $1::%s AND (t.id > $1::%s OR t.id = %s) ORDER BY t.id LIMIT $2",
			table, k, k, minKey(e.Key))
	}
	inRange := func(alias string) string {
		return fmt.Sprintf("%[1]s.id >= $1::%[2]s AND (%[1]s.id > $1::%[2]s OR %[1]s.id = %[3]s) AND %[1]s.id <= $2::%[2]s", alias, k, minKey(e.Key))
	}
	verify := fmt.Sprintf(`SELECT coalesce(s.id, t.id)::text,
       CASE WHEN t.id IS NULL THEN 'missing' WHEN s.id IS NULL THEN 'orphaned' ELSE 'stale' END
FROM (SELECT v.id, v.data FROM %s v WHERE %s) s
FULL JOIN (SELECT r.id, r.data FROM %s r WHERE %s) t ON t.id = s.id
WHERE s.data IS DISTINCT FROM t.data
ORDER BY coalesce(s.id, t.id)`, g.Source(e), inRange("v"), g.View(e), inRange("r"))

	ent := tvsync.Entity{
		Name:   e.Name,
		View:   g.View(e),
		Source: g.Source(e),
		Key:    e.Key,
		Refresh: func(p *tvsync.Pipeline, ids []tvsync.ID) func() (tvsync.RefreshResult, error) {
			br := queue(p, refresh, idTexts(ids))
			return func() (tvsync.RefreshResult, error) {
				var found, upserted int
				var changedJSON []byte
				var at time.Time
				if err := br.QueryRow().Scan(&found, &upserted, &changedJSON, &at); err != nil {
					return tvsync.RefreshResult{}, err
				}
				changed, err := parseChanged(e.Key, changedJSON)
				if err != nil {
					return tvsync.RefreshResult{}, err
				}
				return refreshResult(found, upserted, at, changed), nil
			}
		},
		DeleteMissing: func(p *tvsync.Pipeline, ids []tvsync.ID) func() (tvsync.DeleteResult, error) {
			br := queue(p, deleteMissing, idTexts(ids))
			return func() (tvsync.DeleteResult, error) {
				var deleted int
				var gone []string
				var at time.Time
				if err := br.QueryRow().Scan(&deleted, &gone, &at); err != nil {
					return tvsync.DeleteResult{}, err
				}
				ids, err := parseIDs(e.Key, gone)
				if err != nil {
					return tvsync.DeleteResult{}, err
				}
				return deleteResult(deleted, at, ids), nil
			}
		},
		IDsAfter: func(ctx context.Context, conn tvsync.DB, after tvsync.ID, limit int) ([]tvsync.ID, error) {
			return listIDs(ctx, conn, e.Key, listAfter(g.Table(e)), after.String(), limit)
		},
		ViewIDsAfter: func(ctx context.Context, conn tvsync.DB, after tvsync.ID, limit int) ([]tvsync.ID, error) {
			return listIDs(ctx, conn, e.Key, listAfter(g.View(e)), after.String(), limit)
		},
		Verify: func(ctx context.Context, conn tvsync.DB, after, upto tvsync.ID) ([]tvsync.Drift, error) {
			rows, err := conn.Query(ctx, verify, after.String(), upto.String())
			if err != nil {
				return nil, err
			}
			return pgx.CollectRows(rows, func(row pgx.CollectableRow) (tvsync.Drift, error) {
				var id, kind string
				if err := row.Scan(&id, &kind); err != nil {
					return tvsync.Drift{}, err
				}
				parsed, err := tvsync.ParseID(e.Key, id)
				return tvsync.Drift{ID: parsed, Kind: kind}, err
			})
		},
	}
	// Children show this entity's title: a change of it reaches them
	// (On). They reference this entity: a delete may delete them, or set
	// their key to null, and Expand must follow them to the end
	// (Referencing).
	// Referenced lists the rows of this entity the children reference, so
	// that a sync of a child locks them shared.
	for _, fk := range e.Children {
		ent.Cascades = append(ent.Cascades, tvsync.Cascade{Entity: fk.From.Name, On: fk.ParentKeys(), Referencing: true,
			Lookup: g.lookup(fk.From.Key,
				fmt.Sprintf("SELECT DISTINCT c.id::text FROM %s c WHERE c.%s = ANY($1::text[]::%s[])", g.Table(fk.From), fk.Column, k)),
			Referenced: g.lookup(e.Key,
				fmt.Sprintf("SELECT DISTINCT c.%s::text FROM %s c WHERE c.id = ANY($1::text[]::%s[]) AND c.%s IS NOT NULL", fk.Column, g.Table(fk.From), fk.From.Key, fk.Column)),
		})
	}
	// Parents count or list this entity's rows: a change of one of the keys
	// they show reaches its parent (On).
	for _, fk := range e.FKs {
		ent.Cascades = append(ent.Cascades, tvsync.Cascade{Entity: fk.To.Name, On: fk.ChildKeys(), Lookup: g.lookup(fk.To.Key,
			fmt.Sprintf("SELECT DISTINCT x.%s::text FROM %s x WHERE x.id = ANY($1::text[]::%s[]) AND x.%s IS NOT NULL", fk.Column, g.Table(e), k, fk.Column))})
	}
	return ent
}

// refreshSQL is e's refresh statement: it upserts the documents of the ids
// ($1, their text) from the view, writing only those that changed, and
// returns found, upserted, changed (a JSON array of {"id", "keys"}: the
// documents written and the top-level keys whose value changed, null for a
// new document) and finished_at.
func (g *Graph) refreshSQL(e *Entity) string {
	k := e.Key.String()
	return fmt.Sprintf(`WITH src AS (
    SELECT s.id, s.data
    FROM (SELECT DISTINCT unnest($1::text[]::%[1]s[]) AS id) b
    CROSS JOIN LATERAL (SELECT v.id, v.data FROM %[2]s v WHERE v.id = b.id OFFSET 0) s
), old AS (
    SELECT o.id, o.data FROM %[3]s o WHERE o.id IN (SELECT src.id FROM src)
), up AS (
    INSERT INTO %[3]s AS t (id, data, updated_at)
    SELECT src.id, src.data, clock_timestamp() FROM src
    ON CONFLICT (id) DO UPDATE SET data = EXCLUDED.data, updated_at = EXCLUDED.updated_at
        WHERE t.data IS DISTINCT FROM EXCLUDED.data
    RETURNING t.id, t.data
)
SELECT (SELECT count(*) FROM src)::int AS found, (SELECT count(*) FROM up)::int AS upserted,
       coalesce((SELECT jsonb_agg(jsonb_build_object('id', up.id::text, 'keys', CASE WHEN old.id IS NULL THEN NULL ELSE (
                     SELECT coalesce(jsonb_agg(key ORDER BY key), '[]'::jsonb)
                     FROM jsonb_each(up.data) n FULL JOIN jsonb_each(old.data) o USING (key)
                     WHERE n.value IS DISTINCT FROM o.value) END) ORDER BY up.id)
                 FROM up LEFT JOIN old ON old.id = up.id), '[]'::jsonb) AS changed,
       clock_timestamp() AS finished_at`, k, g.Source(e), g.View(e))
}

// deleteSQL is e's delete statement: it removes the tv_ rows of the ids
// ($1, their text) whose tb_ row is gone and returns deleted, deleted_ids
// (text) and finished_at.
func (g *Graph) deleteSQL(e *Entity) string {
	k := e.Key.String()
	return fmt.Sprintf(`WITH gone AS (
    DELETE FROM %[2]s t
    WHERE t.id = ANY($1::text[]::%[1]s[]) AND NOT EXISTS (SELECT 1 FROM %[3]s x WHERE x.id = t.id)
    RETURNING t.id
)
SELECT (SELECT count(*) FROM gone)::int AS deleted, ARRAY(SELECT id::text FROM gone ORDER BY id) AS deleted_ids,
       clock_timestamp() AS finished_at`, k, g.View(e), g.Table(e))
}

// lookup is a cascade Lookup running query, which lists ids of kind as
// text for the ids of its only parameter.
func (g *Graph) lookup(kind tvsync.KeyKind, query string) func(p *tvsync.Pipeline, ids []tvsync.ID) func() ([]tvsync.ID, error) {
	return func(p *tvsync.Pipeline, ids []tvsync.ID) func() ([]tvsync.ID, error) {
		br := queue(p, query, idTexts(ids))
		return func() ([]tvsync.ID, error) {
			rows, err := br.Query()
			if err != nil {
				return nil, err
			}
			texts, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return nil, err
			}
			return parseIDs(kind, texts)
		}
	}
}

// docChange is one document a refresh statement inserted or changed: its
// id and the top-level keys of its document whose value changed (nil for a
// new document: every key changed).
type docChange struct {
	id   tvsync.ID
	keys []string
}

// parseChanged parses the changed column of a refresh statement: a JSON
// array of {"id": text, "keys": [text] or null}.
func parseChanged(kind tvsync.KeyKind, raw []byte) ([]docChange, error) {
	var rows []struct {
		ID   string   `json:"id"`
		Keys []string `json:"keys"`
	}
	if err := json.Unmarshal(raw, &rows); err != nil {
		return nil, fmt.Errorf("parse the changed documents: %w", err)
	}
	out := make([]docChange, len(rows))
	for i, r := range rows {
		id, err := tvsync.ParseID(kind, r.ID)
		if err != nil {
			return nil, err
		}
		out[i] = docChange{id: id, keys: r.Keys}
	}
	return out, nil
}

// refreshResult converts what a refresh statement returned: the ids found,
// the rows upserted, the database clock, and changed, the documents it
// inserted or changed with their changed keys (never nil). It is the one
// place that builds a tvsync.RefreshResult.
func refreshResult(found, upserted int, at time.Time, changed []docChange) tvsync.RefreshResult {
	r := tvsync.RefreshResult{Found: found, Upserted: upserted, FinishedAt: at}
	r.Changed = make([]tvsync.DocChange, len(changed))
	for i, c := range changed {
		r.Changed[i] = tvsync.DocChange{ID: c.id, Keys: c.keys}
	}
	return r
}

// deleteResult converts what a delete statement returned; deleted lists the
// ids whose tv_ row it removed (never nil). It is the one place that builds
// a tvsync.DeleteResult.
func deleteResult(n int, at time.Time, deleted []tvsync.ID) tvsync.DeleteResult {
	return tvsync.DeleteResult{Deleted: n, DeletedIDs: deleted, FinishedAt: at}
}

// queue queues one statement on the pipeline and returns its results, to
// read once the engine has sent the pipeline.
func queue(p *tvsync.Pipeline, sql string, args ...any) pgx.BatchResults {
	b := &pgx.Batch{}
	b.Queue(sql, args...)
	return p.SendBatch(context.Background(), b)
}

// listIDs runs a keyset listing (cursor $1, limit $2) returning ids as text.
func listIDs(ctx context.Context, conn tvsync.DB, kind tvsync.KeyKind, query, after string, limit int) ([]tvsync.ID, error) {
	rows, err := conn.Query(ctx, query, after, limit)
	if err != nil {
		return nil, err
	}
	texts, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	return parseIDs(kind, texts)
}

// idTexts returns the canonical texts of ids (the statements cast them).
func idTexts(ids []tvsync.ID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.String()
	}
	return out
}

// parseIDs parses ids of kind from their text.
func parseIDs(kind tvsync.KeyKind, texts []string) ([]tvsync.ID, error) {
	out := make([]tvsync.ID, len(texts))
	for i, s := range texts {
		id, err := tvsync.ParseID(kind, s)
		if err != nil {
			return nil, err
		}
		out[i] = id
	}
	return out, nil
}
