package synctest_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/synctest"
)

func TestRecorder_RecordsSyncCallsAndFiltersByEntity(t *testing.T) {
	ctx := context.Background()
	rec := &synctest.Recorder{}
	ids := []tvsync.ID{tvsync.IntKey(1), tvsync.IntKey(2)}
	_, err := rec.Sync(ctx, tvsync.ModeRepair,
		tvsync.Change{Entity: "product", IDs: ids, Cascade: true},
		tvsync.Change{Entity: "review", IDs: ids[:1]})
	require.NoError(t, err)
	_, err = rec.Sync(ctx, tvsync.ModeIncremental, tvsync.Change{Entity: "review", IDs: ids[1:]})
	require.NoError(t, err)
	ids[0] = tvsync.IntKey(99) // the caller reuses its slice: the record keeps what was asked

	require.Len(t, rec.Calls(), 2)
	assert.Equal(t, synctest.Call{Mode: tvsync.ModeRepair, Changes: []tvsync.Change{
		{Entity: "product", IDs: []tvsync.ID{tvsync.IntKey(1), tvsync.IntKey(2)}, Cascade: true},
		{Entity: "review", IDs: []tvsync.ID{tvsync.IntKey(1)}},
	}}, rec.Calls()[0])
	assert.Len(t, rec.CallsFor("product"), 1)
	assert.Len(t, rec.CallsFor("review"), 2)
	assert.Empty(t, rec.CallsFor("order"))
	assert.Equal(t, []tvsync.Change{
		{Entity: "review", IDs: []tvsync.ID{tvsync.IntKey(1)}},
		{Entity: "review", IDs: []tvsync.ID{tvsync.IntKey(2)}},
	}, rec.ChangesFor("review"))

	rec.Reset()
	assert.Empty(t, rec.Calls())
}

func TestRecorder_ErrIsReturnedAfterRecording(t *testing.T) {
	boom := errors.New("database unavailable")
	rec := &synctest.Recorder{Err: boom}
	report, err := rec.Sync(context.Background(), tvsync.ModeIncremental, tvsync.Change{Entity: "product"})
	assert.ErrorIs(t, err, boom)
	assert.Equal(t, tvsync.ModeIncremental, report.Mode)
	assert.Len(t, rec.Calls(), 1)
}
