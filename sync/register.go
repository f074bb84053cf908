package sync

import (
	"fmt"
	"reflect"
	gosync "sync"
	"time"

	"github.com/google/uuid"
)

// Registration helpers: they adapt the methods sqlc generates (with
// emit_methods_with_db_argument, over a Pipeline as the connection) to the
// functions of an Entity, so that a registration is one short closure per
// statement (see the blog package, github.com/tvsync/tvsync/blog):
//
//	Refresh: func(p *sync.Pipeline, ids []sync.ID) func() (sync.RefreshResult, error) {
//		return sync.ReadRefresh(q.ProductRefresh(ctx, p, [][]int64{sync.Int64s(ids)}))
//	},
//
// The statements' result columns follow tvsync's conventions, which sqlc
// turns into the fields the helpers read: a refresh returns found, upserted
// and finished_at; a delete returns deleted and finished_at; a verify
// returns id and problem.

// BatchOne is the results object of a sqlc :batchone method.
type BatchOne[R any] interface {
	QueryRow(f func(int, R, error))
}

// BatchMany is the results object of a sqlc :batchmany method.
type BatchMany[R any] interface {
	Query(f func(int, []R, error))
}

// ReadOne adapts the results of a sqlc :batchone method, called with a
// Pipeline as its connection, to the reader an Entity function returns: once
// the pipeline is sent, the reader reads the row and converts it with conv.
func ReadOne[R, T any](br BatchOne[R], conv func(R) T) func() (T, error) {
	return func() (out T, err error) {
		br.QueryRow(func(_ int, r R, qerr error) {
			if err = qerr; err == nil {
				out = conv(r)
			}
		})
		return out, err
	}
}

// Key is the Go type sqlc gives a key column of each KeyKind: uuid.UUID
// (with the override of uuid to github.com/google/uuid.UUID), int64
// (bigint), int32 (integer) or string (text).
type Key interface {
	uuid.UUID | int64 | int32 | string
}

// ReadMany adapts the results of a sqlc :batchmany method that lists ids (a
// cascade Lookup) to a reader of IDs.
func ReadMany[K Key](br BatchMany[K]) func() ([]ID, error) {
	return func() (out []ID, err error) {
		br.Query(func(_ int, ids []K, qerr error) { out, err = keys(ids), qerr })
		return out, err
	}
}

// Keys converts the ids a sqlc listing returns (IDsAfter, ViewIDsAfter),
// passing its error through: return sync.Keys(q.ProductIDsAfter(ctx, conn, params)).
func Keys[K Key](ids []K, err error) ([]ID, error) {
	if err != nil {
		return nil, err
	}
	return keys(ids), nil
}

func keys[K Key](ids []K) []ID {
	out := make([]ID, len(ids))
	for i, k := range ids {
		switch k := any(k).(type) {
		case uuid.UUID:
			out[i] = UUIDKey(k)
		case int64:
			out[i] = IntKey(k)
		case int32:
			out[i] = Int32Key(k)
		case string:
			out[i] = TextKey(k)
		}
	}
	return out
}

// ReadRefresh adapts the results of a sqlc :batchone refresh statement
// whose columns are found, upserted (integers) and finished_at
// (timestamptz): the fields Found, Upserted and FinishedAt of its row. An
// optional jsonb column changed ([[id as text, [key, ...] or null], ...],
// one element per document written) fills RefreshResult.Changed.
// A row type without them makes the reader fail with an error naming it.
func ReadRefresh[R any](br BatchOne[R]) func() (RefreshResult, error) {
	return readRow(br, refreshFields, func(v reflect.Value, f []int) RefreshResult {
		r := RefreshResult{Found: int(v.Field(f[0]).Int()), Upserted: int(v.Field(f[1]).Int()), FinishedAt: v.Field(f[2]).Interface().(time.Time)}
		if c := v.FieldByName("Changed"); c.IsValid() && c.Type() == reflect.TypeFor[[]byte]() {
			// Parsed by the engine, which knows the entity's key kind.
			r.changedJSON = c.Bytes()
			if r.changedJSON == nil {
				r.changedJSON = []byte("[]")
			}
		}
		return r
	})
}

// ReadDelete adapts the results of a sqlc :batchone delete statement whose
// columns are deleted (an integer) and finished_at (timestamptz): the fields
// Deleted and FinishedAt of its row. An optional column deleted_ids (an
// array of keys) fills DeleteResult.DeletedIDs.
func ReadDelete[R any](br BatchOne[R]) func() (DeleteResult, error) {
	return readRow(br, deleteFields, func(v reflect.Value, f []int) DeleteResult {
		r := DeleteResult{Deleted: int(v.Field(f[0]).Int()), FinishedAt: v.Field(f[1]).Interface().(time.Time)}
		if d := v.FieldByName("DeletedIds"); d.IsValid() {
			switch ids := d.Interface().(type) {
			case []uuid.UUID:
				r.DeletedIDs = keys(ids)
			case []int64:
				r.DeletedIDs = keys(ids)
			}
			if r.DeletedIDs == nil {
				r.DeletedIDs = []ID{}
			}
		}
		return r
	})
}

// Drifts converts the rows of a sqlc verify statement whose columns are id
// (uuid, bigint, integer or text) and problem (text: missing, stale or orphaned), passing
// its error through: return sync.Drifts(q.ProductVerify(ctx, conn, params)).
func Drifts[R any](rows []R, err error) ([]Drift, error) {
	if err != nil {
		return nil, err
	}
	f, err := fieldsOf(reflect.TypeFor[R](), driftFields)
	if err != nil {
		return nil, err
	}
	out := make([]Drift, len(rows))
	for i, r := range rows {
		v := reflect.ValueOf(r)
		out[i].Kind = v.Field(f[1]).String()
		switch id := v.Field(f[0]).Interface().(type) {
		case uuid.UUID:
			out[i].ID = UUIDKey(id)
		case int64:
			out[i].ID = IntKey(id)
		case int32:
			out[i].ID = Int32Key(id)
		case string:
			out[i].ID = TextKey(id)
		}
	}
	return out, nil
}

// field is a field a helper reads from a sqlc row, and the types it accepts.
type field struct {
	name  string
	types []reflect.Type
}

var (
	integer       = []reflect.Type{reflect.TypeFor[int32](), reflect.TypeFor[int64](), reflect.TypeFor[int]()}
	timestamp     = []reflect.Type{reflect.TypeFor[time.Time]()}
	refreshFields = []field{{"Found", integer}, {"Upserted", integer}, {"FinishedAt", timestamp}}
	deleteFields  = []field{{"Deleted", integer}, {"FinishedAt", timestamp}}
	driftFields   = []field{{"ID", []reflect.Type{reflect.TypeFor[uuid.UUID](), reflect.TypeFor[int64](), reflect.TypeFor[int32](), reflect.TypeFor[string]()}}, {"Problem", []reflect.Type{reflect.TypeFor[string]()}}}
)

// fieldCache maps a row type and its wanted fields to their indexes.
var fieldCache gosync.Map // fieldKey -> []int or error

type fieldKey struct {
	t     reflect.Type
	first string // the first wanted field: each list starts differently
}

// fieldsOf returns the indexes of the wanted fields of struct type t, or an
// error naming t and the first field it lacks.
func fieldsOf(t reflect.Type, want []field) ([]int, error) {
	key := fieldKey{t, want[0].name}
	if v, ok := fieldCache.Load(key); ok {
		if err, ok := v.(error); ok {
			return nil, err
		}
		return v.([]int), nil
	}
	idx, err := func() ([]int, error) {
		if t.Kind() != reflect.Struct {
			return nil, fmt.Errorf("tvsync: sqlc row type %v is not a struct", t)
		}
		idx := make([]int, len(want))
		for i, w := range want {
			f, ok := t.FieldByName(w.name)
			if !ok || len(f.Index) != 1 {
				return nil, fmt.Errorf("tvsync: sqlc row type %v has no field %s (name the statement's column %s)", t, w.name, snake(w.name))
			}
			typeOK := false
			for _, wt := range w.types {
				typeOK = typeOK || f.Type == wt
			}
			if !typeOK {
				return nil, fmt.Errorf("tvsync: field %s of sqlc row type %v is a %v, want one of %v", w.name, t, f.Type, w.types)
			}
			idx[i] = f.Index[0]
		}
		return idx, nil
	}()
	if err != nil {
		fieldCache.Store(key, err)
		return nil, err
	}
	fieldCache.Store(key, idx)
	return idx, nil
}

func readRow[R, T any](br BatchOne[R], want []field, conv func(reflect.Value, []int) T) func() (T, error) {
	return func() (out T, err error) {
		f, ferr := fieldsOf(reflect.TypeFor[R](), want)
		br.QueryRow(func(_ int, r R, qerr error) {
			switch {
			case qerr != nil:
				err = qerr
			case ferr != nil:
				err = ferr
			default:
				out = conv(reflect.ValueOf(r), f)
			}
		})
		return out, err
	}
}

// snake returns the column name sqlc turns into a field name.
func snake(name string) string {
	switch name {
	case "FinishedAt":
		return "finished_at"
	case "ID":
		return "id"
	}
	b := []byte(name)
	b[0] += 'a' - 'A'
	return string(b)
}
