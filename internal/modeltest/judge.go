package modeltest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"

	tvsync "github.com/tvsync/tvsync/sync"
)

// Drift is one document that differs from its independent recomputation.
type Drift struct {
	Entity string
	ID     string
	// Kind is "missing" (a tb_ row without document), "orphaned" (a
	// document without tb_ row) or "stale" (a document that differs).
	Kind string
	// Want and Got are the recomputed and stored documents (stale only).
	Want, Got string
}

func (d Drift) String() string {
	if d.Kind != "stale" {
		return fmt.Sprintf("%s %s: %s", d.Entity, d.ID, d.Kind)
	}
	return fmt.Sprintf("%s %s: stale\n      want %s\n      got  %s", d.Entity, d.ID, d.Want, d.Got)
}

// row is one tb_ row as the judge reads it: ids as their canonical text.
type row struct {
	id, name string
	num      int64
	fks      []*string // per Entity.FKs; nil when null
}

// Snapshot is every tb_ row of a graph, read in one transaction.
type Snapshot struct {
	g    *Graph
	rows map[*Entity]map[string]*row
	// children[fk][parent id] lists the ids of fk.From rows pointing to it.
	children map[*FK]map[string][]string
	titles   map[*Entity]map[string]string
}

// ReadSnapshot reads every tb_ row of g on conn, in one repeatable-read
// transaction.
func ReadSnapshot(ctx context.Context, conn tvsync.Beginner, g *Graph) (*Snapshot, error) {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := tx.Exec(ctx, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"); err != nil {
		return nil, err
	}
	s := &Snapshot{g: g, rows: map[*Entity]map[string]*row{}, children: map[*FK]map[string][]string{}, titles: map[*Entity]map[string]string{}}
	for _, e := range g.Entities {
		cols := []string{"id::text", "name", "num"}
		for _, fk := range e.FKs {
			cols = append(cols, fk.Column+"::text")
		}
		rows, err := tx.Query(ctx, fmt.Sprintf("SELECT %s FROM %s", strings.Join(cols, ", "), g.Table(e)))
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", g.Table(e), err)
		}
		m := map[string]*row{}
		for rows.Next() {
			r := &row{fks: make([]*string, len(e.FKs))}
			dest := []any{&r.id, &r.name, &r.num}
			for i := range r.fks {
				dest = append(dest, &r.fks[i])
			}
			if err := rows.Scan(dest...); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read %s: %w", g.Table(e), err)
			}
			m[r.id] = r
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read %s: %w", g.Table(e), err)
		}
		s.rows[e] = m
	}
	for _, e := range g.Entities {
		for i, fk := range e.FKs {
			byParent := map[string][]string{}
			for _, r := range s.rows[e] {
				if r.fks[i] != nil {
					byParent[*r.fks[i]] = append(byParent[*r.fks[i]], r.id)
				}
			}
			for _, ids := range byParent {
				sortIDs(e.Key, ids)
			}
			s.children[fk] = byParent
		}
	}
	return s, nil
}

// IDs returns the ids of e's rows, sorted.
func (s *Snapshot) IDs(e *Entity) []string {
	ids := make([]string, 0, len(s.rows[e]))
	for id := range s.rows[e] {
		ids = append(ids, id)
	}
	sortIDs(e.Key, ids)
	return ids
}

// Rows reports how many rows e holds.
func (s *Snapshot) Rows(e *Entity) int { return len(s.rows[e]) }

// sortIDs sorts id texts as PostgreSQL orders the key.
func sortIDs(kind tvsync.KeyKind, ids []string) {
	slices.SortFunc(ids, func(a, b string) int {
		x, _ := tvsync.ParseID(kind, a)
		y, _ := tvsync.ParseID(kind, b)
		return x.Compare(y)
	})
}

// title is the title of e's row id, by the rule of Graph's doc; "-" for a
// row that does not exist (as the view's coalesce).
func (s *Snapshot) title(e *Entity, id string) string {
	if t, ok := s.titles[e][id]; ok {
		return t
	}
	r := s.rows[e][id]
	if r == nil {
		return "-"
	}
	t := r.name
	if e.Title != nil {
		parent := "-"
		if p := r.fks[slices.Index(e.FKs, e.Title)]; p != nil {
			parent = s.title(e.Title.To, *p)
		}
		t += " < " + parent
	}
	if s.titles[e] == nil {
		s.titles[e] = map[string]string{}
	}
	s.titles[e][id] = t
	return t
}

// jsonID is how a document holds an id of kind: a string for a uuid, a
// number for a bigint.
func jsonID(kind tvsync.KeyKind, id string) any {
	if kind == tvsync.KeyBigint {
		return json.Number(id)
	}
	return id
}

// Document recomputes e's document of row id in Go, from the rows alone.
func (s *Snapshot) Document(e *Entity, id string) map[string]any {
	r := s.rows[e][id]
	doc := map[string]any{
		"id":    jsonID(e.Key, id),
		"name":  r.name,
		"num":   json.Number(fmt.Sprint(r.num)),
		"title": s.title(e, id),
	}
	for i, fk := range e.FKs {
		var v any
		if p := r.fks[i]; p != nil && s.rows[fk.To][*p] != nil {
			v = map[string]any{"id": jsonID(fk.To.Key, *p), "title": s.title(fk.To, *p)}
		}
		doc[fk.Column] = v
	}
	for _, fk := range e.Children {
		kids := s.children[fk][id]
		if fk.Count {
			doc[fk.CountKey()] = json.Number(fmt.Sprint(len(kids)))
		}
		if fk.List {
			list := make([]any, 0, len(kids))
			for _, k := range kids {
				item := map[string]any{"id": jsonID(fk.From.Key, k), "title": s.title(fk.From, k)}
				if fk.ListNum {
					item["num"] = json.Number(fmt.Sprint(s.rows[fk.From][k].num))
				}
				list = append(list, item)
			}
			doc[fk.ListKey()] = list
		}
	}
	return doc
}

// Compare reads every row of each entity's relation (its tv_ table, or with
// sources set its document view) on conn and compares it with the Go
// recomputation of the snapshot: the drift, in entity and id order.
func (s *Snapshot) Compare(ctx context.Context, conn tvsync.DB, sources bool) ([]Drift, error) {
	var out []Drift
	for _, e := range s.g.Entities {
		rel := s.g.View(e)
		if sources {
			rel = s.g.Source(e)
		}
		rows, err := conn.Query(ctx, "SELECT id::text, data::text FROM "+rel)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", rel, err)
		}
		stored := map[string]string{}
		for rows.Next() {
			var id, data string
			if err := rows.Scan(&id, &data); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read %s: %w", rel, err)
			}
			stored[id] = data
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read %s: %w", rel, err)
		}
		ids := s.IDs(e)
		for id := range stored {
			if s.rows[e][id] == nil {
				ids = append(ids, id)
			}
		}
		sortIDs(e.Key, ids)
		for _, id := range ids {
			got, ok := stored[id]
			switch {
			case s.rows[e][id] == nil:
				out = append(out, Drift{Entity: e.Name, ID: id, Kind: "orphaned"})
			case !ok:
				out = append(out, Drift{Entity: e.Name, ID: id, Kind: "missing"})
			default:
				want, err := canonical(s.Document(e, id))
				if err != nil {
					return nil, err
				}
				gotDoc, err := decode([]byte(got))
				if err != nil {
					return nil, fmt.Errorf("%s %s: %w", rel, id, err)
				}
				if !reflect.DeepEqual(want, gotDoc) {
					w, _ := json.Marshal(want)
					out = append(out, Drift{Entity: e.Name, ID: id, Kind: "stale", Want: string(w), Got: got})
				}
			}
		}
	}
	return out, nil
}

// canonical turns a recomputed document into what decoding its JSON gives,
// so that it compares with a decoded stored document.
func canonical(doc map[string]any) (any, error) {
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	return decode(b)
}

// decode decodes JSON keeping numbers exact.
func decode(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}
