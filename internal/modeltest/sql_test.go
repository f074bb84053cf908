package modeltest

import (
	"testing"

	"github.com/stretchr/testify/require"

	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/syncdbtest"
)

// TestRefreshReportsChangedDocuments checks the changed column of the
// refresh statement, from which the engine is to follow cascades: a new
// document has null keys (every key changed), a changed one the keys whose
// value changed, an unchanged one is not listed; and the delete statement
// lists the ids it removed.
func TestRefreshReportsChangedDocuments(t *testing.T) {
	ctx := t.Context()
	parent := &Entity{Index: 0, Name: "parent", Key: tvsync.KeyUUID}
	child := &Entity{Index: 1, Name: "child", Key: tvsync.KeyBigint}
	fk := &FK{From: child, To: parent, Column: "parent_id", OnDelete: "SET NULL", Count: true}
	child.FKs, parent.Children = []*FK{fk}, []*FK{fk}
	g := &Graph{Schema: "model", Entities: []*Entity{parent, child}}
	pool := syncdbtest.New(t)
	for _, stmt := range g.DDL() {
		_, err := pool.Exec(ctx, stmt)
		require.NoError(t, err)
	}
	const p = "0190c1c6-0000-7000-8000-000000000001"
	_, err := pool.Exec(ctx, "INSERT INTO model.tb_parent (id, name) VALUES ('"+p+"', 'old'); INSERT INTO model.tb_child (id, name, parent_id) VALUES (1, 'a', '"+p+"'), (2, 'b', NULL)")
	require.NoError(t, err)
	refresh := func(e *Entity, ids ...string) (found, upserted int, changed []docChange) {
		t.Helper()
		var raw []byte
		var at any
		require.NoError(t, pool.QueryRow(ctx, g.refreshSQL(e), ids).Scan(&found, &upserted, &raw, &at))
		changed, err := parseChanged(e.Key, raw)
		require.NoError(t, err)
		return found, upserted, changed
	}
	found, upserted, changed := refresh(child, "1", "2", "3")
	require.Equal(t, 2, found)
	require.Equal(t, 2, upserted)
	require.Equal(t, []docChange{{id: tvsync.IntKey(1)}, {id: tvsync.IntKey(2)}}, changed, "new documents: every key")
	_, _, changed = refresh(child, "1", "2")
	require.Empty(t, changed, "nothing changed")
	require.NotNil(t, changed, "an empty list, not nil: nil would mean every id changed")

	_, err = pool.Exec(ctx, "UPDATE model.tb_parent SET name = 'new'; UPDATE model.tb_child SET num = 5 WHERE id = 2")
	require.NoError(t, err)
	_, upserted, changed = refresh(child, "1", "2")
	require.Equal(t, 2, upserted)
	require.Equal(t, []docChange{{id: tvsync.IntKey(1), keys: []string{"parent_id"}}, {id: tvsync.IntKey(2), keys: []string{"num"}}}, changed)

	_, err = pool.Exec(ctx, "DELETE FROM model.tb_child WHERE id = 2")
	require.NoError(t, err)
	var deleted int
	var deletedIDs []string
	var at any
	require.NoError(t, pool.QueryRow(ctx, g.deleteSQL(child), []string{"1", "2"}).Scan(&deleted, &deletedIDs, &at))
	require.Equal(t, 1, deleted)
	require.Equal(t, []string{"2"}, deletedIDs)
}
