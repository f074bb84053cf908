// Package expect recomputes, in Go and independently of the SQL in
// queries/, the tv_ documents that the command tables imply, so tests can
// compare every stored tv_ row against an expectation that does not share
// the code under test.
package expect

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Querier is what the package needs of a pool, a connection or a transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// Docs maps entity ("user", "post", "comment") to id to a decoded JSON document.
type Docs map[string]map[uuid.UUID]any

type user struct {
	id        uuid.UUID
	username  string
	fullName  string
	createdAt time.Time
}

type post struct {
	id, authorID uuid.UUID
	title        string
	content      string
	published    bool
	createdAt    time.Time
}

type comment struct {
	id, postID, authorID uuid.UUID
	content              string
	createdAt            time.Time
}

func ts(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000Z") }

// Compute reads the command tables and builds the documents every tv_ table
// should hold.
func Compute(ctx context.Context, q Querier) (Docs, error) {
	users := map[uuid.UUID]user{}
	posts := map[uuid.UUID]post{}
	var comments []comment
	likes := map[uuid.UUID]int{}
	if err := scan(ctx, q, `SELECT id, username, full_name, created_at FROM tb_user`, func(r pgx.Rows) error {
		var u user
		err := r.Scan(&u.id, &u.username, &u.fullName, &u.createdAt)
		users[u.id] = u
		return err
	}); err != nil {
		return nil, err
	}
	if err := scan(ctx, q, `SELECT id, author_id, title, content, published, created_at FROM tb_post`, func(r pgx.Rows) error {
		var p post
		err := r.Scan(&p.id, &p.authorID, &p.title, &p.content, &p.published, &p.createdAt)
		posts[p.id] = p
		return err
	}); err != nil {
		return nil, err
	}
	if err := scan(ctx, q, `SELECT id, post_id, author_id, content, created_at FROM tb_comment`, func(r pgx.Rows) error {
		var c comment
		err := r.Scan(&c.id, &c.postID, &c.authorID, &c.content, &c.createdAt)
		comments = append(comments, c)
		return err
	}); err != nil {
		return nil, err
	}
	if err := scan(ctx, q, `SELECT post_id FROM tb_post_like`, func(r pgx.Rows) error {
		var id uuid.UUID
		err := r.Scan(&id)
		likes[id]++
		return err
	}); err != nil {
		return nil, err
	}
	// Newest first; ties broken by id descending, in PostgreSQL's uuid order (bytewise).
	sort.Slice(comments, func(i, j int) bool {
		if !comments[i].createdAt.Equal(comments[j].createdAt) {
			return comments[i].createdAt.After(comments[j].createdAt)
		}
		return bytes.Compare(comments[i].id[:], comments[j].id[:]) > 0
	})
	postCount, commentCount := map[uuid.UUID]int{}, map[uuid.UUID]int{}
	byPost := map[uuid.UUID][]any{}
	for _, p := range posts {
		postCount[p.authorID]++
	}
	docs := Docs{"user": {}, "post": {}, "comment": {}}
	for _, c := range comments {
		commentCount[c.authorID]++
		a, p := users[c.authorID], posts[c.postID]
		byPost[c.postID] = append(byPost[c.postID], map[string]any{
			"id": c.id, "content": c.content, "createdAt": ts(c.createdAt),
			"author": map[string]any{"id": a.id, "username": a.username},
		})
		docs["comment"][c.id] = map[string]any{
			"id": c.id, "content": c.content, "createdAt": ts(c.createdAt),
			"post":   map[string]any{"id": p.id, "title": p.title},
			"author": map[string]any{"id": a.id, "username": a.username},
		}
	}
	for _, u := range users {
		docs["user"][u.id] = map[string]any{
			"id": u.id, "username": u.username, "fullName": u.fullName, "createdAt": ts(u.createdAt),
			"postCount": postCount[u.id], "commentCount": commentCount[u.id],
		}
	}
	for _, p := range posts {
		a := users[p.authorID]
		cs := byPost[p.id]
		if cs == nil {
			cs = []any{}
		}
		docs["post"][p.id] = map[string]any{
			"id": p.id, "title": p.title, "content": p.content, "published": p.published, "createdAt": ts(p.createdAt),
			"author":       map[string]any{"id": a.id, "username": a.username, "fullName": a.fullName},
			"commentCount": len(cs), "likeCount": likes[p.id], "comments": cs,
		}
	}
	// Normalize through JSON so the documents compare with decoded stored ones.
	for entity, m := range docs {
		for id, d := range m {
			b, err := json.Marshal(d)
			if err != nil {
				return nil, err
			}
			var v any
			if err := json.Unmarshal(b, &v); err != nil {
				return nil, err
			}
			docs[entity][id] = v
		}
	}
	return docs, nil
}

// Stored reads every tv_ document.
func Stored(ctx context.Context, q Querier) (Docs, error) {
	docs := Docs{}
	for _, entity := range []string{"user", "post", "comment"} {
		docs[entity] = map[uuid.UUID]any{}
		if err := scan(ctx, q, "SELECT id, data FROM tv_"+entity, func(r pgx.Rows) error {
			var id uuid.UUID
			var data []byte
			if err := r.Scan(&id, &data); err != nil {
				return err
			}
			var v any
			if err := json.Unmarshal(data, &v); err != nil {
				return fmt.Errorf("tv_%s %s: %w", entity, id, err)
			}
			docs[entity][id] = v
			return nil
		}); err != nil {
			return nil, err
		}
	}
	return docs, nil
}

// Diff lists, at most max per entity, the ids whose stored document is
// missing, differs from the expected one, or should not exist.
func Diff(want, got Docs, max int) []string {
	var out []string
	for _, entity := range []string{"user", "post", "comment"} {
		var lines []string
		for id, w := range want[entity] {
			g, ok := got[entity][id]
			switch {
			case !ok:
				lines = append(lines, fmt.Sprintf("tv_%s %s: missing", entity, id))
			case !reflect.DeepEqual(w, g):
				wb, _ := json.Marshal(w)
				gb, _ := json.Marshal(g)
				lines = append(lines, fmt.Sprintf("tv_%s %s: stale\n  want %s\n  got  %s", entity, id, wb, gb))
			}
		}
		for id := range got[entity] {
			if _, ok := want[entity][id]; !ok {
				lines = append(lines, fmt.Sprintf("tv_%s %s: orphaned", entity, id))
			}
		}
		slices.Sort(lines)
		out = append(out, lines[:min(len(lines), max)]...)
	}
	return out
}

// Check compares the stored documents with a fresh recomputation and
// returns the differences (empty when tv_ is exactly what tb_ implies).
func Check(ctx context.Context, q Querier) ([]string, error) {
	want, err := Compute(ctx, q)
	if err != nil {
		return nil, err
	}
	got, err := Stored(ctx, q)
	if err != nil {
		return nil, err
	}
	return Diff(want, got, 10), nil
}

func scan(ctx context.Context, q Querier, sql string, each func(pgx.Rows) error) error {
	rows, err := q.Query(ctx, sql)
	if err != nil {
		return fmt.Errorf("%s: %w", sql, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := each(rows); err != nil {
			return fmt.Errorf("%s: %w", sql, err)
		}
	}
	return rows.Err()
}
