package shop_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/examples/shop"
	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/syncgen"
	"github.com/tvsync/tvsync/sync/syncuow"
)

// shippingDoc is the part of tv_order that ages.
type shippingDoc struct {
	PromisedAt *string `json:"promisedAt"`
	ShippedAt  *string `json:"shippedAt"`
	Late       bool    `json:"late"`
}

func (f fixture) shipping(t *testing.T, id int64) shippingDoc {
	t.Helper()
	return decode[shippingDoc](t)(f.shop.GetOrder(context.Background(), id))
}

// anOrder creates a customer, a product and an order of it.
func (f fixture) anOrder(t *testing.T) int64 {
	t.Helper()
	cust, products := f.catalog(t, "Ada", 1)
	var id int64
	f.do(t, func(u *shop.UnitOfWork) (err error) {
		id, err = u.CreateOrder(context.Background(), cust, shop.Line{ProductID: products[0], Quantity: 1})
		return err
	})
	return id
}

// drainWorker syncs what is due in the queue, as the shop's worker does.
func (f fixture) drainWorker(t *testing.T) tvsync.DrainResult {
	t.Helper()
	res, err := must(tvsync.NewWorker(f.engine, f.pool, tvsync.WorkerConfig{})).Drain(context.Background())
	require.NoError(t, err)
	return res
}

// hoursPass moves the shop's clock on by h hours, as far as the shop can
// tell: the promised dates, the shipments and the scheduled re-syncs move
// back instead (the database's now() cannot move).
func (f fixture) hoursPass(t *testing.T, h int) {
	t.Helper()
	ctx := context.Background()
	_, err := f.pool.Exec(ctx, `UPDATE shop.tb_order SET promised_at = promised_at - make_interval(hours => $1)`, h)
	require.NoError(t, err)
	_, err = f.pool.Exec(ctx, `UPDATE shop.tb_shipment SET shipped_at = shipped_at - make_interval(hours => $1)`, h)
	require.NoError(t, err)
	_, err = f.pool.Exec(ctx, `UPDATE tvsync.sync_queue SET available_at = available_at - make_interval(hours => $1) WHERE scheduled`, h)
	require.NoError(t, err)
}

// Issue 19, documents that age: an order promised for a date turns late
// when the date passes unshipped, with no write: PromiseOrder scheduled
// its re-sync at that date with the write (in every mode, the unit's own
// sync leaving it), verify sees the document stale until the re-sync
// fires, and the worker's re-sync at the due time makes it late.
func TestLate_AnUnshippedOrderTurnsLateWhenItsPromisedDatePasses(t *testing.T) {
	t.Parallel()
	for _, mode := range []syncuow.Timing{syncuow.AfterCommit, syncuow.Inline, syncuow.Deferred} {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			f := newFixture(t, mode, 0)
			id := f.anOrder(t)
			f.drainWorker(t)
			f.do(t, func(u *shop.UnitOfWork) error { return u.PromiseOrder(ctx, id, time.Now().Add(time.Hour)) })
			f.drainWorker(t) // deferred: the unit's own change; the scheduled one is not due
			doc := f.shipping(t, id)
			require.NotNil(t, doc.PromisedAt)
			assert.False(t, doc.Late, "promised for in an hour")
			assert.Nil(t, doc.ShippedAt)
			assert.Equal(t, 1, f.count(t, `SELECT count(*) FROM tvsync.sync_queue WHERE scheduled AND available_at > now()`), "the re-sync at the promised date waits")
			f.requireNoDrift(t)

			f.hoursPass(t, 2)
			res, err := f.engine.Verify(ctx, shop.EntityOrder, tvsync.VerifyOptions{})
			require.NoError(t, err)
			assert.Equal(t, 1, res.Stale, "past the date, before the re-sync: verify sees the document stale")
			assert.Equal(t, 1, f.drainWorker(t).Synced, "the scheduled re-sync is due; lateness reaches neither the customer's totals nor the products' units sold (on:)")
			assert.True(t, f.shipping(t, id).Late, "late, with no write")
			assert.Zero(t, f.count(t, `SELECT count(*) FROM tvsync.sync_queue`))
			f.requireNoDrift(t)
		})
	}
}

// Issue 19, tables without a document: a shipment has no document of its
// own; ShipOrder and CancelShipment record its order's through the
// cascades declared for shop.tb_shipment (ShipmentCascades, generated), so
// tv_order shows shippedAt and late as soon as the unit of work syncs; an
// order shipped before its date does not turn late when it passes.
func TestShipment_ATableWithoutADocumentCascadesToItsOrder(t *testing.T) {
	t.Parallel()
	for _, mode := range []syncuow.Timing{syncuow.AfterCommit, syncuow.Inline} {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			f := newFixture(t, mode, 0)
			id := f.anOrder(t)
			var shipment int64
			f.do(t, func(u *shop.UnitOfWork) (err error) {
				if err = u.PromiseOrder(ctx, id, time.Now().Add(time.Hour)); err != nil {
					return err
				}
				shipment, err = u.ShipOrder(ctx, id)
				return err
			})
			doc := f.shipping(t, id)
			require.NotNil(t, doc.ShippedAt, "the unit's sync reached the order through the shipment's cascade")
			assert.False(t, doc.Late)

			f.hoursPass(t, 2)
			f.drainWorker(t)
			assert.False(t, f.shipping(t, id).Late, "shipped before the promised date")
			f.requireNoDrift(t)

			err := f.shop.InTx(ctx, func(u *shop.UnitOfWork) error { _, err := u.ShipOrder(ctx, id); return err })
			require.ErrorIs(t, err, shop.ErrInvalid, "shipped already")
			err = f.shop.InTx(ctx, func(u *shop.UnitOfWork) error { _, err := u.ShipOrder(ctx, 424242); return err })
			require.ErrorIs(t, err, shop.ErrNotFound)

			f.do(t, func(u *shop.UnitOfWork) error { return u.CancelShipment(ctx, shipment) })
			doc = f.shipping(t, id)
			assert.Nil(t, doc.ShippedAt, "the delete's look-up ran before the row was gone")
			assert.True(t, doc.Late, "unshipped, past the date")
			err = f.shop.InTx(ctx, func(u *shop.UnitOfWork) error { return u.CancelShipment(ctx, shipment) })
			require.ErrorIs(t, err, shop.ErrNotFound)
			f.requireNoDrift(t)
		})
	}
}

// TestDelete_TakesAnOrderWithItsShipment: deleting an order takes its
// shipment (ON DELETE CASCADE) and its scheduled re-sync finds nothing to
// bring back.
func TestDelete_TakesAnOrderWithItsShipment(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, syncuow.AfterCommit, 0)
	id := f.anOrder(t)
	f.do(t, func(u *shop.UnitOfWork) error {
		if err := u.PromiseOrder(ctx, id, time.Now().Add(time.Hour)); err != nil {
			return err
		}
		_, err := u.ShipOrder(ctx, id)
		return err
	})
	f.do(t, func(u *shop.UnitOfWork) error { return u.DeleteOrder(ctx, id) })
	assert.Zero(t, f.count(t, `SELECT count(*) FROM shop.tb_shipment`))
	assert.Zero(t, f.count(t, `SELECT count(*) FROM shop.tv_order`))
	f.hoursPass(t, 2)
	f.drainWorker(t)
	assert.Zero(t, f.count(t, `SELECT count(*) FROM shop.tv_order`))
	f.requireNoDrift(t)
}

// Issue 19, the pre-delete look-ups: a delete needs the ids of the
// documents that embed what it deletes before the rows are gone. The shop
// takes them from the cascades declared in tvsync.yaml (the look-ups tvsync
// gen writes, through Work.RecordBeforeDelete and Work.RecordCascades), so
// no hand-written statement repeats a declared path: none of the shop's own
// SELECTs reads the ids of a path's table by its column (a lock, SELECT 1
// … FOR UPDATE, reads none).
func TestDeletes_NoHandWrittenLookUpRepeatsADeclaredPath(t *testing.T) {
	t.Parallel()
	cfg, err := syncgen.Load("tvsync.yaml")
	require.NoError(t, err)
	type path struct{ table, column string }
	var paths []path
	for _, e := range append(append([]syncgen.Entity{}, cfg.Entities...), cfg.Tables...) {
		for _, c := range e.Cascades {
			if c.Path == "" {
				continue
			}
			left, _, _ := strings.Cut(c.Path, "->")
			left = strings.TrimSpace(left)
			dot := strings.LastIndex(left, ".")
			paths = append(paths, path{left[:dot], left[dot+1:]})
		}
	}
	require.NotEmpty(t, paths)
	files, err := filepath.Glob("queries/*.sql")
	require.NoError(t, err)
	checked := 0
	for _, file := range files {
		if strings.HasSuffix(file, ".gen.sql") {
			continue
		}
		src, err := os.ReadFile(file)
		require.NoError(t, err)
		for _, stmt := range strings.Split(string(src), "-- name: ")[1:] {
			name, _, _ := strings.Cut(stmt, " ")
			var body []string
			for _, line := range strings.Split(stmt, "\n")[1:] {
				if !strings.HasPrefix(line, "--") {
					body = append(body, line)
				}
			}
			sql := strings.TrimSpace(strings.Join(body, "\n"))
			if !strings.HasPrefix(sql, "SELECT") || strings.HasPrefix(sql, "SELECT 1 ") {
				continue
			}
			checked++
			for _, p := range paths {
				reads := regexp.MustCompile(`\b`+regexp.QuoteMeta(p.table)+`\b`).MatchString(sql) &&
					regexp.MustCompile(`\b(\w+\.)?`+p.column+`\s*=`).MatchString(sql)
				assert.False(t, reads, "%s: %s repeats the declared path %s.%s: declare it, and look it up with Work.RecordBeforeDelete or RecordCascades", file, name, p.table, p.column)
			}
		}
	}
	assert.NotZero(t, checked)
}
