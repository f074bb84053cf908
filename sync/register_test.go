package sync_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	tvsync "github.com/tvsync/tvsync/sync"
)

// batchOne is a sqlc :batchone results object holding one row.
type batchOne[R any] struct {
	row R
	err error
}

func (b batchOne[R]) QueryRow(f func(int, R, error)) { f(0, b.row, b.err) }

type batchMany[R any] struct{ rows []R }

func (b batchMany[R]) Query(f func(int, []R, error)) { f(0, b.rows, nil) }

// Rows shaped as sqlc generates them from tvsync's column conventions.
type refreshRow struct {
	Found      int32
	Upserted   int32
	FinishedAt time.Time
}

type deleteRow struct {
	Deleted    int64
	FinishedAt time.Time
}

type verifyRow struct {
	ID      int64
	Problem string
}

// TestRegistrationHelpers_ReadSqlcRowsByTheirColumns: the helpers turn the
// rows sqlc generates (from the columns found, upserted, finished_at;
// deleted, finished_at; id, problem) into the engine's results, pass
// statement errors through, and name the row type and the missing column of
// a statement that does not follow the conventions.
func TestRegistrationHelpers_ReadSqlcRowsByTheirColumns(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	r, err := tvsync.ReadRefresh(batchOne[refreshRow]{row: refreshRow{Found: 3, Upserted: 2, FinishedAt: at}})()
	require.NoError(t, err)
	assert.Equal(t, tvsync.RefreshResult{Found: 3, Upserted: 2, FinishedAt: at}, r)
	d, err := tvsync.ReadDelete(batchOne[deleteRow]{row: deleteRow{Deleted: 4, FinishedAt: at}})()
	require.NoError(t, err)
	assert.Equal(t, tvsync.DeleteResult{Deleted: 4, FinishedAt: at}, d)

	boom := errors.New("boom")
	_, err = tvsync.ReadRefresh(batchOne[refreshRow]{err: boom})()
	assert.ErrorIs(t, err, boom)
	_, err = tvsync.ReadDelete(batchOne[refreshRow]{row: refreshRow{Found: 1}})()
	assert.ErrorContains(t, err, "sqlc row type sync_test.refreshRow has no field Deleted (name the statement's column deleted)")
	_, err = tvsync.ReadRefresh(batchOne[verifyRow]{})()
	assert.ErrorContains(t, err, "has no field Found")

	drifts, err := tvsync.Drifts([]verifyRow{{ID: -2, Problem: tvsync.DriftStale}}, nil)
	require.NoError(t, err)
	assert.Equal(t, []tvsync.Drift{{ID: tvsync.IntKey(-2), Kind: tvsync.DriftStale}}, drifts)
	_, err = tvsync.Drifts([]verifyRow(nil), boom)
	assert.ErrorIs(t, err, boom)

	u := uuid.New()
	ids, err := tvsync.ReadMany(batchMany[uuid.UUID]{rows: []uuid.UUID{u}})()
	require.NoError(t, err)
	assert.Equal(t, []tvsync.ID{tvsync.UUIDKey(u)}, ids)
	ids, err = tvsync.Keys([]int64{5, -5}, nil)
	require.NoError(t, err)
	assert.Equal(t, []tvsync.ID{tvsync.IntKey(5), tvsync.IntKey(-5)}, ids)
	assert.Equal(t, []int64{5, -5}, tvsync.Int64s(ids))
	assert.Equal(t, []uuid.UUID{u}, tvsync.UUIDs(tvsync.UUIDKeys([]uuid.UUID{u})))
	one, err := tvsync.ReadOne(batchOne[refreshRow]{row: refreshRow{Found: 9}}, func(r refreshRow) int { return int(r.Found) })()
	require.NoError(t, err)
	assert.Equal(t, 9, one)
}

// sqlcDBTXWithCopyFrom is the DBTX sqlc generates for a package that has
// :copyfrom queries: a Pipeline must still be its connection.
type sqlcDBTXWithCopyFrom interface {
	Exec(context.Context, string, ...interface{}) (pgconn.CommandTag, error)
	Query(context.Context, string, ...interface{}) (pgx.Rows, error)
	QueryRow(context.Context, string, ...interface{}) pgx.Row
	SendBatch(context.Context, *pgx.Batch) pgx.BatchResults
	CopyFrom(ctx context.Context, tableName pgx.Identifier, columnNames []string, rowSrc pgx.CopyFromSource) (int64, error)
}

var _ sqlcDBTXWithCopyFrom = (*tvsync.Pipeline)(nil)
