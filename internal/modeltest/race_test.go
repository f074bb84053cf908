package modeltest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/syncdbtest"
)

// TestInlineRenameRacesAttach replays, step by step, an interleaving the
// model's concurrent steps hit: an inline rename of a parent and an inline
// unit attaching a child to it. The child's sync (in its own transaction)
// reads the parent's old name, the parent's rename is not committed yet;
// the parent's sync looked its children up before the child was attached
// (its cascades are expanded before it takes its locks) and then waits for
// the child's locks. Both commit; the child's document must show the new
// name. Each step waits for the previous one by looking at the server
// (pg_stat_activity), never by sleeping for a guess.
func TestInlineRenameRacesAttach(t *testing.T) {
	if !enabled(itemInlineRace) {
		t.Skipf("found by the model (not in issue 18's list): an inline sync expands its cascades before it locks, so it misses a dependent attached meanwhile: check it with -model.enable=%s, or set fixed[%q] = true once fixed", itemInlineRace, itemInlineRace)
	}
	ctx := t.Context()
	parent := &Entity{Index: 0, Name: "parent", Key: tvsync.KeyBigint}
	child := &Entity{Index: 1, Name: "child", Key: tvsync.KeyBigint}
	fk := &FK{From: child, To: parent, Column: "parent_id", OnDelete: "SET NULL", Count: true}
	child.FKs, parent.Children = []*FK{fk}, []*FK{fk}
	g := &Graph{Schema: "public", Entities: []*Entity{parent, child}}
	pool := syncdbtest.New(t)
	for _, stmt := range g.DDL() {
		_, err := pool.Exec(ctx, stmt)
		require.NoError(t, err)
	}
	engine, err := tvsync.NewEngine(pool, tvsync.Config{}, g.Registration()...)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, "INSERT INTO tb_parent (id, name) VALUES (1, 'old'); INSERT INTO tb_child (id, name) VALUES (10, 'kid')")
	require.NoError(t, err)
	for _, e := range g.Entities {
		_, err := engine.FullSync(ctx, e.Name, tvsync.FullOptions{})
		require.NoError(t, err)
	}

	// The attach: its sync takes the child's and the parent's locks first.
	attach, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = attach.Rollback(context.Background()) }()
	_, err = attach.Exec(ctx, "UPDATE tb_child SET parent_id = 1 WHERE id = 10")
	require.NoError(t, err)
	_, err = engine.SyncTx(ctx, attach, tvsync.ModeIncremental, tvsync.Change{Entity: "child", IDs: tvsync.IntKeys([]int64{10}), Cascade: true})
	require.NoError(t, err)

	// The rename: its sync expands (no child yet), then waits for the locks.
	rename, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = rename.Rollback(context.Background()) }()
	var renamePID uint32
	require.NoError(t, rename.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&renamePID))
	_, err = rename.Exec(ctx, "UPDATE tb_parent SET name = 'new' WHERE id = 1")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() {
		_, err := engine.SyncTx(ctx, rename, tvsync.ModeIncremental, tvsync.Change{Entity: "parent", IDs: tvsync.IntKeys([]int64{1}), Cascade: true})
		if err == nil {
			err = rename.Commit(ctx)
		}
		done <- err
	}()
	for waiting := false; !waiting; {
		require.NoError(t, pool.QueryRow(ctx, "SELECT coalesce(bool_or(wait_event = 'advisory'), false) FROM pg_stat_activity WHERE pid = $1", renamePID).Scan(&waiting))
		if !waiting {
			select {
			case err := <-done:
				t.Fatalf("the rename's sync finished without waiting for the attach's locks: %v", err)
			case <-time.After(5 * time.Millisecond): // poll the server's state
			}
		}
	}
	require.NoError(t, attach.Commit(ctx))
	require.NoError(t, <-done)

	snap, err := ReadSnapshot(ctx, pool, g)
	require.NoError(t, err)
	drift, err := snap.Compare(ctx, pool, false)
	require.NoError(t, err)
	require.Empty(t, drift, "the child shows its parent's old name")
}
