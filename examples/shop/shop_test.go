package shop_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/tvsync/tvsync/examples/shop"
	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/syncdbtest"
	"github.com/tvsync/tvsync/sync/syncuow"
)

// The documents, as the views define them.
type (
	orderDoc struct {
		ID       int64 `json:"id"`
		Customer struct {
			ID   int64  `json:"id"`
			Name string `json:"name"`
		} `json:"customer"`
		Lines []struct {
			Product struct {
				ID   string `json:"id"`
				Name string `json:"name"`
			} `json:"product"`
			Quantity       int32 `json:"quantity"`
			UnitPriceCents int64 `json:"unitPriceCents"`
			LineTotalCents int64 `json:"lineTotalCents"`
		} `json:"lines"`
		TotalCents int64 `json:"totalCents"`
	}
	productDoc struct {
		ID         string `json:"id"`
		Name       string `json:"name"`
		PriceCents int64  `json:"priceCents"`
		UnitsSold  int64  `json:"unitsSold"`
	}
	customerDoc struct {
		ID                 int64  `json:"id"`
		Name               string `json:"name"`
		OrderCount         int64  `json:"orderCount"`
		LifetimeTotalCents int64  `json:"lifetimeTotalCents"`
	}
)

// fixture is a shop on a fresh database.
type fixture struct {
	pool   *pgxpool.Pool
	engine *tvsync.Engine
	shop   *shop.Shop
}

// newFixture returns a shop on a fresh database whose units of work sync in
// mode, on a pool of maxConns connections (0: the kit's default).
func newFixture(t *testing.T, mode syncuow.Timing, maxConns int32) fixture {
	t.Helper()
	var pool *pgxpool.Pool
	if maxConns == 0 {
		pool = syncdbtest.New(t)
	} else {
		cfg, err := pgxpool.ParseConfig(syncdbtest.URL(t))
		require.NoError(t, err)
		cfg.MaxConns = maxConns
		pool, err = pgxpool.NewWithConfig(context.Background(), cfg)
		require.NoError(t, err)
		t.Cleanup(pool.Close)
	}
	engine, err := shop.NewEngine(pool, tvsync.Config{})
	require.NoError(t, err)
	return fixture{pool: pool, engine: engine, shop: must(shop.New(pool, engine, syncuow.Options{Timing: mode}))}
}

// do runs fn in one unit of work and fails the test on error.
func (f fixture) do(t *testing.T, fn func(u *shop.UnitOfWork) error) {
	t.Helper()
	require.NoError(t, f.shop.InTx(context.Background(), fn))
}

func (f fixture) order(t *testing.T, id int64) orderDoc {
	t.Helper()
	return decode[orderDoc](t)(f.shop.GetOrder(context.Background(), id))
}

func (f fixture) product(t *testing.T, id string) productDoc {
	t.Helper()
	return decode[productDoc](t)(f.shop.GetProduct(context.Background(), id))
}

func (f fixture) customer(t *testing.T, id int64) customerDoc {
	t.Helper()
	return decode[customerDoc](t)(f.shop.GetCustomer(context.Background(), id))
}

// decode returns a function that decodes a read document into a T.
func decode[T any](t *testing.T) func(json.RawMessage, error) T {
	return func(data json.RawMessage, err error) T {
		t.Helper()
		require.NoError(t, err)
		var v T
		require.NoError(t, json.Unmarshal(data, &v))
		return v
	}
}

// count returns the number of rows of a query.
func (f fixture) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, f.pool.QueryRow(context.Background(), sql, args...).Scan(&n))
	return n
}

// requireNoDrift verifies every entity and fails on any drift.
func (f fixture) requireNoDrift(t *testing.T) {
	t.Helper()
	for _, e := range f.engine.Entities() {
		res, err := f.engine.Verify(context.Background(), e, tvsync.VerifyOptions{})
		require.NoError(t, err)
		require.Zero(t, res.Drifted(), "%s: %+v", e, res)
	}
}

// catalog creates a customer and products priced 100, 250, 1000... cents,
// keyed by SKUs that sort otherwise in C and in a natural-language
// collation ("MUG-0", "cup-1", "Élan-2", "_tee-3", ...).
func (f fixture) catalog(t *testing.T, customer string, products int) (int64, []string) {
	t.Helper()
	var cust int64
	ids := make([]string, products)
	f.do(t, func(u *shop.UnitOfWork) (err error) {
		ctx := context.Background()
		if cust, err = u.CreateCustomer(ctx, customer); err != nil {
			return err
		}
		for i := range ids {
			ids[i] = fmt.Sprintf("%s-%d", []string{"MUG", "cup", "Élan", "_tee"}[i%4], i)
			if err = u.CreateProduct(ctx, ids[i], fmt.Sprintf("product %d", i), []int64{100, 250, 1000, 5}[i%4]); err != nil {
				return err
			}
		}
		return nil
	})
	return cust, ids
}

// TestBatch_ManyOrdersInOneSync creates fifty orders in one unit of work:
// one sync brings every tv_order, the customer's totals and the products'
// units sold up to date, one batch per entity.
func TestBatch_ManyOrdersInOneSync(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, syncuow.AfterCommit, 0)
	cust, products := f.catalog(t, "Ada", 3)
	orders := make([]int64, 50)
	f.do(t, func(u *shop.UnitOfWork) (err error) {
		for i := range orders {
			if orders[i], err = u.CreateOrder(ctx, cust, shop.Line{ProductID: products[0], Quantity: 2}, shop.Line{ProductID: products[1+i%2], Quantity: int32(1 + i%3)}); err != nil {
				return err
			}
		}
		return nil
	})

	var total, sold1, sold2 int64
	for i, id := range orders {
		doc := f.order(t, id)
		q := int64(1 + i%3)
		want := 2*100 + q*[]int64{250, 1000}[i%2]
		assert.Equal(t, want, doc.TotalCents, "order %d", id)
		assert.Equal(t, "Ada", doc.Customer.Name)
		require.Len(t, doc.Lines, 2)
		assert.Equal(t, "product 0", doc.Lines[0].Product.Name)
		assert.Equal(t, int64(200), doc.Lines[0].LineTotalCents)
		total += want
		if i%2 == 0 {
			sold1 += q
		} else {
			sold2 += q
		}
	}
	assert.Equal(t, customerDoc{ID: cust, Name: "Ada", OrderCount: 50, LifetimeTotalCents: total}, f.customer(t, cust))
	assert.Equal(t, int64(100), f.product(t, products[0]).UnitsSold)
	assert.Equal(t, sold1, f.product(t, products[1]).UnitsSold)
	assert.Equal(t, sold2, f.product(t, products[2]).UnitsSold)
	// The fifty orders went to PostgreSQL as one batch (one sync_log row).
	assert.Equal(t, 1, f.count(t, "SELECT count(*) FROM tvsync.sync_log WHERE entity = 'order' AND requested = 50"))
	f.requireNoDrift(t)
}

// TestCascade_ProductRenameUpdatesEveryOrderContainingIt renames a product
// on three orders of two customers: those three tv_order documents show the
// new name, and an order without the product is not rewritten.
func TestCascade_ProductRenameUpdatesEveryOrderContainingIt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, syncuow.AfterCommit, 0)
	ada, products := f.catalog(t, "Ada", 2)
	var bob int64
	var with []int64
	var without int64
	f.do(t, func(u *shop.UnitOfWork) (err error) {
		if bob, err = u.CreateCustomer(ctx, "Bob"); err != nil {
			return err
		}
		for _, c := range []int64{ada, ada, bob} {
			id, err := u.CreateOrder(ctx, c, shop.Line{ProductID: products[1], Quantity: 1}, shop.Line{ProductID: products[0], Quantity: 3})
			if err != nil {
				return err
			}
			with = append(with, id)
		}
		without, err = u.CreateOrder(ctx, bob, shop.Line{ProductID: products[1], Quantity: 1})
		return err
	})
	var before time.Time
	require.NoError(t, f.pool.QueryRow(ctx, "SELECT updated_at FROM shop.tv_order WHERE id = $1", without).Scan(&before))

	f.do(t, func(u *shop.UnitOfWork) error { return u.RenameProduct(ctx, products[0], "Espresso cup") })

	for _, id := range with {
		doc := f.order(t, id)
		require.Len(t, doc.Lines, 2, "order %d", id)
		assert.Equal(t, "Espresso cup", doc.Lines[0].Product.Name, "order %d", id)
		assert.Equal(t, "product 1", doc.Lines[1].Product.Name, "order %d", id)
	}
	assert.Equal(t, "Espresso cup", f.product(t, products[0]).Name)
	var after time.Time
	require.NoError(t, f.pool.QueryRow(ctx, "SELECT updated_at FROM shop.tv_order WHERE id = $1", without).Scan(&after))
	assert.Equal(t, before, after, "the order without the product was rewritten")
	f.requireNoDrift(t)
}

// TestCascade_LineQuantityUpdatesUnitsSoldAndCustomerTotals changes the
// quantity of a line: the order's total, its customer's lifetime total and
// the product's units sold follow.
func TestCascade_LineQuantityUpdatesUnitsSoldAndCustomerTotals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, syncuow.AfterCommit, 0)
	cust, products := f.catalog(t, "Ada", 2)
	var o1, o2 int64
	f.do(t, func(u *shop.UnitOfWork) (err error) {
		if o1, err = u.CreateOrder(ctx, cust, shop.Line{ProductID: products[0], Quantity: 1}, shop.Line{ProductID: products[1], Quantity: 2}); err != nil {
			return err
		}
		o2, err = u.CreateOrder(ctx, cust, shop.Line{ProductID: products[1], Quantity: 1})
		return err
	})
	require.Equal(t, int64(3), f.product(t, products[1]).UnitsSold)
	require.Equal(t, int64(100+2*250+250), f.customer(t, cust).LifetimeTotalCents)

	f.do(t, func(u *shop.UnitOfWork) error { return u.SetLineQuantity(ctx, o1, products[1], 7) })

	assert.Equal(t, int64(100+7*250), f.order(t, o1).TotalCents)
	assert.Equal(t, int64(250), f.order(t, o2).TotalCents)
	assert.Equal(t, int64(8), f.product(t, products[1]).UnitsSold)
	assert.Equal(t, int64(1), f.product(t, products[0]).UnitsSold)
	assert.Equal(t, customerDoc{ID: cust, Name: "Ada", OrderCount: 2, LifetimeTotalCents: 100 + 7*250 + 250}, f.customer(t, cust))
	f.requireNoDrift(t)
}

// TestDelete_CustomerRemovesItsOrdersAndUpdatesUnitsSold deletes a customer:
// its tv_customer and the tv_order of each of its orders go (the orders and
// lines cascade in the database), the products' units sold drop, and the
// other customer's documents stay.
func TestDelete_CustomerRemovesItsOrdersAndUpdatesUnitsSold(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, syncuow.AfterCommit, 0)
	ada, products := f.catalog(t, "Ada", 3)
	var bob, bobOrder int64
	var adaOrders []int64
	f.do(t, func(u *shop.UnitOfWork) (err error) {
		if bob, err = u.CreateCustomer(ctx, "Bob"); err != nil {
			return err
		}
		for _, p := range products[:2] {
			id, err := u.CreateOrder(ctx, ada, shop.Line{ProductID: p, Quantity: 4}, shop.Line{ProductID: products[2], Quantity: 1})
			if err != nil {
				return err
			}
			adaOrders = append(adaOrders, id)
		}
		bobOrder, err = u.CreateOrder(ctx, bob, shop.Line{ProductID: products[0], Quantity: 2})
		return err
	})
	require.Equal(t, int64(6), f.product(t, products[0]).UnitsSold)

	f.do(t, func(u *shop.UnitOfWork) error { return u.DeleteCustomer(ctx, ada) })

	assert.Zero(t, f.count(t, "SELECT count(*) FROM shop.tv_customer WHERE id = $1", ada))
	assert.Zero(t, f.count(t, "SELECT count(*) FROM shop.tv_order WHERE id = ANY($1)", adaOrders))
	assert.Zero(t, f.count(t, "SELECT count(*) FROM shop.tb_order_line WHERE order_id = ANY($1)", adaOrders), "lines cascade")
	assert.Equal(t, int64(2), f.product(t, products[0]).UnitsSold)
	assert.Equal(t, int64(0), f.product(t, products[1]).UnitsSold)
	assert.Equal(t, int64(0), f.product(t, products[2]).UnitsSold)
	assert.Equal(t, customerDoc{ID: bob, Name: "Bob", OrderCount: 1, LifetimeTotalCents: 200}, f.customer(t, bob))
	assert.Equal(t, int64(200), f.order(t, bobOrder).TotalCents)
	f.requireNoDrift(t)
}

// TestDelete_OrderUpdatesItsCustomerAndProducts deletes an order: its
// tv_order goes, its customer's totals and its products' units sold drop.
func TestDelete_OrderUpdatesItsCustomerAndProducts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, syncuow.AfterCommit, 0)
	cust, products := f.catalog(t, "Ada", 2)
	var o1, o2 int64
	f.do(t, func(u *shop.UnitOfWork) (err error) {
		if o1, err = u.CreateOrder(ctx, cust, shop.Line{ProductID: products[0], Quantity: 1}, shop.Line{ProductID: products[1], Quantity: 2}); err != nil {
			return err
		}
		o2, err = u.CreateOrder(ctx, cust, shop.Line{ProductID: products[1], Quantity: 1})
		return err
	})

	f.do(t, func(u *shop.UnitOfWork) error { return u.DeleteOrder(ctx, o1) })

	assert.Zero(t, f.count(t, "SELECT count(*) FROM shop.tv_order WHERE id = $1", o1))
	assert.Equal(t, customerDoc{ID: cust, Name: "Ada", OrderCount: 1, LifetimeTotalCents: 250}, f.customer(t, cust))
	assert.Equal(t, int64(0), f.product(t, products[0]).UnitsSold)
	assert.Equal(t, int64(1), f.product(t, products[1]).UnitsSold)
	assert.Equal(t, int64(250), f.order(t, o2).TotalCents)
	f.requireNoDrift(t)
}

// TestNoOp_SecondSyncOfUnchangedIDsUpsertsNothing syncs ids whose documents
// are current: nothing is upserted and updated_at stays.
func TestNoOp_SecondSyncOfUnchangedIDsUpsertsNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, syncuow.AfterCommit, 0)
	cust, products := f.catalog(t, "Ada", 2)
	var order int64
	f.do(t, func(u *shop.UnitOfWork) (err error) {
		order, err = u.CreateOrder(ctx, cust, shop.Line{ProductID: products[0], Quantity: 1})
		return err
	})
	stamps := func() (out []time.Time) {
		rows, err := f.pool.Query(ctx, "SELECT updated_at FROM shop.tv_order UNION ALL SELECT updated_at FROM shop.tv_product UNION ALL SELECT updated_at FROM shop.tv_customer ORDER BY 1")
		require.NoError(t, err)
		for rows.Next() {
			var ts time.Time
			require.NoError(t, rows.Scan(&ts))
			out = append(out, ts)
		}
		require.NoError(t, rows.Err())
		return out
	}
	before := stamps()

	rep, err := f.engine.Sync(ctx, tvsync.ModeIncremental,
		tvsync.Change{Entity: shop.EntityOrder, IDs: tvsync.IntKeys([]int64{order}), Cascade: true},
		tvsync.Change{Entity: shop.EntityProduct, IDs: tvsync.TextKeys(products), Cascade: true},
		tvsync.Change{Entity: shop.EntityCustomer, IDs: tvsync.IntKeys([]int64{cust}), Cascade: true})
	require.NoError(t, err)

	require.Len(t, rep.Results, 3)
	for _, r := range rep.Results {
		assert.Zero(t, r.Upserted, "%s", r.Entity)
		assert.Equal(t, r.Requested, r.Unchanged, "%s", r.Entity)
	}
	// The products' orders are synced after them, and the orders' products
	// once more (a document refreshed before a concurrent change would
	// stay stale otherwise): never an upsert.
	assert.GreaterOrEqual(t, rep.For(shop.EntityProduct).Unchanged, 2)
	assert.Equal(t, before, stamps())
}

// TestFullSync_RepairsRowsPlantedAndRemovedBehindTheEngine writes command
// rows and tv_ rows with plain SQL, bypassing the unit of work: a full sync
// of each entity builds the missing documents, corrects the stale one and
// removes the orphan.
func TestFullSync_RepairsRowsPlantedAndRemovedBehindTheEngine(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, syncuow.AfterCommit, 0)
	cust, products := f.catalog(t, "Ada", 2)
	var synced int64
	f.do(t, func(u *shop.UnitOfWork) (err error) {
		synced, err = u.CreateOrder(ctx, cust, shop.Line{ProductID: products[0], Quantity: 1})
		return err
	})
	_, err := f.pool.Exec(ctx, `
		WITH c AS (INSERT INTO shop.tb_customer (name) SELECT 'bulk ' || g FROM generate_series(1, 30) g RETURNING id),
		     o AS (INSERT INTO shop.tb_order (customer_id) SELECT id FROM c RETURNING id)
		INSERT INTO shop.tb_order_line (order_id, product_id, quantity, unit_price_cents) SELECT id, $1, 3, 999 FROM o`, products[1])
	require.NoError(t, err)
	_, err = f.pool.Exec(ctx, `UPDATE shop.tv_order SET data = jsonb_set(data, '{totalCents}', '1') WHERE id = $1`, synced)
	require.NoError(t, err)
	_, err = f.pool.Exec(ctx, `INSERT INTO shop.tv_order (id, data, customer_id) VALUES (9000000001, '{}', 0), (-5, '{}', 0)`)
	require.NoError(t, err)
	_, err = f.pool.Exec(ctx, `DELETE FROM shop.tv_product WHERE id = $1`, products[0])
	require.NoError(t, err)

	for _, e := range []string{shop.EntityCustomer, shop.EntityProduct, shop.EntityOrder} {
		_, err := f.engine.FullSync(ctx, e, tvsync.FullOptions{ChunkSize: 7, Workers: 2})
		require.NoError(t, err, e)
	}

	assert.Equal(t, 31, f.count(t, "SELECT count(*) FROM shop.tv_order"))
	assert.Equal(t, 31, f.count(t, "SELECT count(*) FROM shop.tv_customer"))
	assert.Zero(t, f.count(t, "SELECT count(*) FROM shop.tv_order WHERE id IN (9000000001, -5)"))
	assert.Equal(t, int64(100), f.order(t, synced).TotalCents)
	assert.Equal(t, productDoc{ID: products[0], Name: "product 0", PriceCents: 100, UnitsSold: 1}, f.product(t, products[0]))
	assert.Equal(t, int64(90), f.product(t, products[1]).UnitsSold)
	f.requireNoDrift(t)
}

// TestWorker_DeferredModeThenWorkerDrainsTheQueue writes in deferred mode:
// nothing is synced at commit, the changes wait in tvsync.sync_queue, and a
// worker drains them into the documents.
func TestWorker_DeferredModeThenWorkerDrainsTheQueue(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, syncuow.Deferred, 0)
	var cust, order int64
	const product = "TEA-1"
	f.do(t, func(u *shop.UnitOfWork) (err error) {
		if cust, err = u.CreateCustomer(ctx, "Ada"); err != nil {
			return err
		}
		if err = u.CreateProduct(ctx, product, "Teapot", 2500); err != nil {
			return err
		}
		order, err = u.CreateOrder(ctx, cust, shop.Line{ProductID: product, Quantity: 2})
		return err
	})
	assert.Zero(t, f.count(t, "SELECT (SELECT count(*) FROM shop.tv_order) + (SELECT count(*) FROM shop.tv_product) + (SELECT count(*) FROM shop.tv_customer)"))
	require.Positive(t, f.count(t, "SELECT count(*) FROM tvsync.sync_queue"))

	n, err := must(tvsync.NewWorker(f.engine, f.pool, tvsync.WorkerConfig{})).Drain(ctx)
	require.NoError(t, err)
	assert.Positive(t, n.Synced)

	assert.Zero(t, f.count(t, "SELECT count(*) FROM tvsync.sync_queue"))
	assert.Equal(t, int64(5000), f.order(t, order).TotalCents)
	assert.Equal(t, int64(2), f.product(t, product).UnitsSold)
	assert.Equal(t, customerDoc{ID: cust, Name: "Ada", OrderCount: 1, LifetimeTotalCents: 5000}, f.customer(t, cust))
	f.requireNoDrift(t)
}

// TestRace_ConcurrentRenamesAndLineChangesConverge runs more goroutines
// than connections, renaming products and customers and changing quantities
// of shared orders at once, in every sync mode but deferred; once they are
// done, verify finds no drift in any entity.
func TestRace_ConcurrentRenamesAndLineChangesConverge(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		pool       int32
		goroutines int
	}{{"pool of 4", 4, 8}, {"pool of 1", 1, 3}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			f := newFixture(t, syncuow.AfterCommit, tc.pool)
			cust, products := f.catalog(t, "Ada", 4)
			var orders []int64
			f.do(t, func(u *shop.UnitOfWork) error {
				for i := range 6 {
					id, err := u.CreateOrder(ctx, cust, shop.Line{ProductID: products[i%4], Quantity: 1}, shop.Line{ProductID: products[(i+1)%4], Quantity: 1})
					if err != nil {
						return err
					}
					orders = append(orders, id)
				}
				return nil
			})
			g, gctx := errgroup.WithContext(ctx)
			for w := range tc.goroutines {
				s := f.shop
				if w%2 == 1 {
					s = s.WithTiming(syncuow.Inline)
				}
				g.Go(func() error {
					rng := rand.New(rand.NewPCG(uint64(w), 7))
					for i := range 15 {
						k := rng.IntN(6)
						err := s.InTx(gctx, func(u *shop.UnitOfWork) error {
							// Always rename first, then change a line: row
							// locks are taken in one order.
							if i%3 == 0 {
								if err := u.RenameCustomer(gctx, cust, fmt.Sprintf("Ada %d.%d", w, i)); err != nil {
									return err
								}
							}
							if err := u.RenameProduct(gctx, products[k%4], fmt.Sprintf("p%d by %d.%d", k%4, w, i)); err != nil {
								return err
							}
							return u.SetLineQuantity(gctx, orders[k], products[k%4], int32(1+rng.IntN(9)))
						})
						if err != nil {
							return fmt.Errorf("goroutine %d, write %d: %w", w, i, err)
						}
					}
					return nil
				})
			}
			require.NoError(t, g.Wait())
			f.requireNoDrift(t)
		})
	}
}

// TestUnitOfWork_FailedWriteRollsBackAndNamesItsInput shows a typed write
// that fails (an unknown product on an order, a rename of a missing
// customer) returning ErrNotFound with the bad input named, and the unit of
// work rolling back all of its writes: nothing is created or synced.
func TestUnitOfWork_FailedWriteRollsBackAndNamesItsInput(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, syncuow.AfterCommit, 0)
	cust, products := f.catalog(t, "Ada", 1)

	err := f.shop.InTx(ctx, func(u *shop.UnitOfWork) error {
		if _, err := u.CreateCustomer(ctx, "Bob"); err != nil {
			return err
		}
		_, err := u.CreateOrder(ctx, cust, shop.Line{ProductID: products[0], Quantity: 1}, shop.Line{ProductID: "NO-424242", Quantity: 1})
		return err
	})
	require.ErrorIs(t, err, shop.ErrNotFound)
	assert.Contains(t, err.Error(), "424242")
	assert.Zero(t, f.count(t, "SELECT count(*) FROM shop.tb_order"))
	assert.Equal(t, 1, f.count(t, "SELECT count(*) FROM shop.tb_customer"), "Bob rolled back")
	assert.Equal(t, 1, f.count(t, "SELECT count(*) FROM shop.tv_customer"))

	err = f.shop.InTx(ctx, func(u *shop.UnitOfWork) error { return u.RenameCustomer(ctx, 777, "Nobody") })
	require.ErrorIs(t, err, shop.ErrNotFound)
	assert.Contains(t, err.Error(), "777")
	err = f.shop.InTx(ctx, func(u *shop.UnitOfWork) error { return u.DeleteOrder(ctx, 778) })
	require.ErrorIs(t, err, shop.ErrNotFound)
	err = f.shop.InTx(ctx, func(u *shop.UnitOfWork) error {
		_, err := u.CreateOrder(ctx, 779, shop.Line{ProductID: products[0], Quantity: 1})
		return err
	})
	require.ErrorIs(t, err, shop.ErrNotFound)
	assert.Contains(t, err.Error(), "779")
	f.requireNoDrift(t)
}

// TestOrdersOfCustomer_FiltersOnTheExtraColumnKeptInStep lists a
// customer's orders through tv_order's own customer_id column (declared
// under columns:, filled by every sync of the order): each customer sees
// exactly its orders, newest first. A customer_id planted wrong while the
// document is right is drift that verify finds (the column alone) and
// repairs.
func TestOrdersOfCustomer_FiltersOnTheExtraColumnKeptInStep(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, syncuow.AfterCommit, 0)
	ada, products := f.catalog(t, "Ada", 2)
	var bob int64
	var adas []int64
	f.do(t, func(u *shop.UnitOfWork) (err error) {
		if bob, err = u.CreateCustomer(ctx, "Bob"); err != nil {
			return err
		}
		for i := range 3 {
			id, err := u.CreateOrder(ctx, ada, shop.Line{ProductID: products[i%2], Quantity: int32(1 + i)})
			if err != nil {
				return err
			}
			adas = append(adas, id)
		}
		_, err = u.CreateOrder(ctx, bob, shop.Line{ProductID: products[0], Quantity: 9})
		return err
	})
	ids := func(customer int64) []int64 {
		t.Helper()
		docs, err := f.shop.OrdersOfCustomer(ctx, customer)
		require.NoError(t, err)
		out := make([]int64, len(docs))
		for i, d := range docs {
			var o orderDoc
			require.NoError(t, json.Unmarshal(d, &o))
			assert.Equal(t, customer, o.Customer.ID)
			out[i] = o.ID
		}
		return out
	}
	assert.Equal(t, []int64{adas[2], adas[1], adas[0]}, ids(ada), "newest first")
	assert.Len(t, ids(bob), 1)
	none, err := f.shop.OrdersOfCustomer(ctx, 424242)
	require.NoError(t, err)
	assert.Empty(t, none)

	_, err = f.pool.Exec(ctx, `UPDATE shop.tv_order SET customer_id = $1 WHERE id = $2`, bob, adas[0])
	require.NoError(t, err)
	res, err := f.engine.Verify(ctx, shop.EntityOrder, tvsync.VerifyOptions{Repair: true})
	require.NoError(t, err)
	assert.Equal(t, 1, res.Stale, "the column alone drifted")
	assert.Equal(t, []tvsync.ID{tvsync.IntKey(adas[0])}, res.Samples[tvsync.DriftStale])
	assert.Equal(t, 1, res.Repaired)
	assert.Equal(t, []int64{adas[2], adas[1], adas[0]}, ids(ada))
	f.requireNoDrift(t)
}
