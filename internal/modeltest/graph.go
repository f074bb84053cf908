package modeltest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	tvsync "github.com/tvsync/tvsync/sync"
)

// Graph is a random set of entities and the foreign keys between them. Each
// entity is a tb_ table (key, name, num, one column per foreign key), a tv_
// table and a document:
//
//	{"id", "name", "num", "title",
//	 "<fk column>": null | {"id", "title"}                  (the parent's title, per foreign key)
//	 "<child>_by_<fk>_count": n                             (count back-edge, per foreign key to it)
//	 "<child>_by_<fk>": [{"id", "title"[, "num"]}, …]       (list back-edge, children in id order)}
//
// An entity's title is its name, or, when it has a title foreign key, its
// name followed by " < " and the title of the row that key points to ("-"
// when it is null). Title keys point to entities of a lower index only, so
// titles are finite; they are what makes chains: a document embeds a
// parent's title, which embeds that parent's parent's name, and so on.
type Graph struct {
	// Schema is the PostgreSQL schema of every table and view ("public" or not).
	Schema string
	// Entities are in index order: a title key points to a lower index.
	Entities []*Entity
}

// Entity is one generated entity.
type Entity struct {
	Index int
	Name  string
	Key   tvsync.KeyKind
	// FKs are the entity's foreign keys (its parents), in column order.
	FKs []*FK
	// Title is the foreign key whose target's title ends this entity's
	// title; nil when the title is the name alone.
	Title *FK
	// Children are the foreign keys of other entities (or this one) that
	// point to this entity: each is a count and/or a list back-edge.
	Children []*FK
}

// FK is a nullable foreign key column of From pointing to To, and how To's
// document embeds the rows of From that point to it.
type FK struct {
	From, To *Entity
	Column   string
	// OnDelete is "SET NULL" or "CASCADE".
	OnDelete string
	// Count embeds how many From rows point to a To row; List embeds them
	// (id and title, and num when ListNum), in id order. At least one is set.
	Count, List, ListNum bool
}

// CountKey and ListKey are the document keys of fk's back-edges in its
// target's document.
func (fk *FK) CountKey() string { return fk.From.Name + "_by_" + fk.Column + "_count" }

// ListKey is the document key of fk's list back-edge in its target's document.
func (fk *FK) ListKey() string { return fk.From.Name + "_by_" + fk.Column }

// GraphOptions says which shapes a generated graph may hold.
type GraphOptions struct {
	// Chains gives entities title keys, so documents depend on rows more
	// than one foreign key away (issue 18, item 1). Without it every
	// document depends only on its own row and its direct neighbours.
	Chains bool
}

// entityNames are the names entities draw from.
var entityNames = []string{"author", "post", "comment", "tag", "team", "task", "note", "album", "track", "venue"}

// NewGraph generates a graph of 3 to 7 entities from r. It always holds a
// cycle of foreign keys between entities (the first entity points to the
// last), a diamond (the third entity reaches the first directly and through
// the second) and, with Chains, a chain of titles three entities deep.
func NewGraph(r *rand.Rand, opts GraphOptions) *Graph {
	g := &Graph{Schema: "public"}
	if r.IntN(2) == 0 {
		g.Schema = "model"
	}
	n := 3 + r.IntN(5)
	names := slices.Clone(entityNames)
	r.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
	for i := range n {
		kind := tvsync.KeyUUID
		if r.IntN(2) == 0 {
			kind = tvsync.KeyBigint
		}
		g.Entities = append(g.Entities, &Entity{Index: i, Name: names[i], Key: kind})
	}
	e := g.Entities
	// The forced shapes: a chain 2 -> 1 -> 0, a diamond 2 -> 0 besides it,
	// a cycle 0 -> n-1 -> ... -> 0.
	title := func(from, to *Entity) {
		fk := g.addFK(r, from, to)
		if opts.Chains {
			from.Title = fk
		}
	}
	title(e[1], e[0])
	title(e[2], e[1])
	g.addFK(r, e[2], e[0])
	g.addFK(r, e[0], e[n-1])
	for i := 3; i < n; i++ {
		title(e[i], e[r.IntN(i)])
	}
	// A few more, anywhere (a self-reference included).
	for range r.IntN(n + 1) {
		g.addFK(r, e[r.IntN(n)], e[r.IntN(n)])
	}
	return g
}

// addFK adds a foreign key from -> to with random delete rule and back-edges.
func (g *Graph) addFK(r *rand.Rand, from, to *Entity) *FK {
	col := to.Name + "_id"
	if from == to {
		col = "parent_id"
	}
	for k := 2; slices.ContainsFunc(from.FKs, func(f *FK) bool { return f.Column == col }); k++ {
		col = fmt.Sprintf("%s_id%d", to.Name, k)
		if from == to {
			col = fmt.Sprintf("parent%d_id", k)
		}
	}
	fk := &FK{From: from, To: to, Column: col, OnDelete: "SET NULL"}
	if r.IntN(5) < 2 {
		fk.OnDelete = "CASCADE"
	}
	switch r.IntN(3) {
	case 0:
		fk.Count = true
	case 1:
		fk.List = true
	default:
		fk.Count, fk.List = true, true
	}
	fk.ListNum = fk.List && r.IntN(3) == 0
	from.FKs = append(from.FKs, fk)
	to.Children = append(to.Children, fk)
	return fk
}

// ParentKeys are the top-level keys of fk.To's document that fk.From's
// documents show (its title): what a cascade from fk.To to fk.From is "on"
// (tvsync.Cascade.On, issue 18).
func (fk *FK) ParentKeys() []string { return []string{"title"} }

// ChildKeys are the top-level keys of fk.From's document that fk.To's
// documents show through fk: the key itself (moving a child changes which
// parent counts or lists it), its title when listed, its num when listed
// with it.
func (fk *FK) ChildKeys() []string {
	keys := []string{fk.Column}
	if fk.List {
		keys = append(keys, "title")
	}
	if fk.ListNum {
		keys = append(keys, "num")
	}
	return keys
}

// NumEmbedded reports whether some document embeds e's num (a list
// back-edge with ListNum): a write of num must then cascade.
func (e *Entity) NumEmbedded() bool {
	for _, fk := range e.FKs {
		if fk.ListNum {
			return true
		}
	}
	return false
}

// Table, View and Source are the entity's tb_ table, tv_ table and
// document view, qualified with the graph's schema.
func (g *Graph) Table(e *Entity) string { return g.qualify("tb_" + e.Name) }

// View is the entity's tv_ table, qualified.
func (g *Graph) View(e *Entity) string { return g.qualify("tv_" + e.Name) }

// Source is the entity's document view, qualified.
func (g *Graph) Source(e *Entity) string { return g.qualify("tv_" + e.Name + "_source") }

func (g *Graph) qualify(name string) string { return g.Schema + "." + name }

// Entity returns the entity named name, or nil.
func (g *Graph) Entity(name string) *Entity {
	for _, e := range g.Entities {
		if e.Name == name {
			return e
		}
	}
	return nil
}

// String describes the graph in one line per entity, for the test's log.
func (g *Graph) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "schema %s", g.Schema)
	for _, e := range g.Entities {
		fmt.Fprintf(&b, "\n  %s (%v key)", e.Name, e.Key)
		for _, fk := range e.FKs {
			var shows []string
			if fk.Count {
				shows = append(shows, "count")
			}
			if fk.List {
				shows = append(shows, "list")
			}
			if fk.ListNum {
				shows = append(shows, "num")
			}
			t := ""
			if fk == e.Title {
				t = ", title"
			}
			fmt.Fprintf(&b, "; %s -> %s (on delete %s%s; %s shows %s)", fk.Column, fk.To.Name, fk.OnDelete, t, fk.To.Name, strings.Join(shows, "+"))
		}
	}
	return b.String()
}
