package shop_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/examples/shop"
	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/plancheck"
	"github.com/tvsync/tvsync/sync/syncdbtest"
	"github.com/tvsync/tvsync/sync/syncuow"
)

// shopAt returns a database holding n customers, n products, n orders (an
// order per customer, two lines each, every product on two lines) and 2n
// reviews (two per customer, every product reviewed twice), its
// tv_ tables filled from their views, vacuumed and analyzed: the same shape
// at every n, so a batch of ids finds as many rows to read at any scale.
func shopAt(t *testing.T, n int) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	pool := syncdbtest.New(t)
	for _, sql := range []string{
		"INSERT INTO shop.tb_customer (name) SELECT 'customer ' || g FROM generate_series(1, $1::int) g",
		"INSERT INTO shop.tb_product (id, name, price_cents) SELECT 'SKU-' || g, 'product ' || g, 100 + g % 900 FROM generate_series(1, $1::int) g",
		"INSERT INTO shop.tb_order (customer_id) SELECT id FROM shop.tb_customer ORDER BY id",
		"UPDATE shop.tb_order SET promised_at = created_at + make_interval(days => (id % 5)::int - 2) WHERE id % 2 = 0",
		"INSERT INTO shop.tb_shipment (order_id, shipped_at) SELECT id, created_at - interval '1 day' FROM shop.tb_order WHERE id % 3 = 0",
		"INSERT INTO shop.tb_order_line (order_id, product_id, quantity, unit_price_cents) SELECT id, 'SKU-' || id, 1 + id % 5, 250 FROM shop.tb_order",
		"INSERT INTO shop.tb_order_line (order_id, product_id, quantity, unit_price_cents) SELECT id, 'SKU-' || (id % $1::int + 1), 2, 100 FROM shop.tb_order",
		"INSERT INTO shop.tb_review (product_id, customer_id, rating, body) SELECT 'SKU-' || id, id, 1 + id % 5, 'review ' || id FROM shop.tb_customer",
		"INSERT INTO shop.tb_review (product_id, customer_id, rating, body) SELECT 'SKU-' || (id % $1::int + 1), id, 5, 'again ' || id FROM shop.tb_customer",
	} {
		var args []any
		if strings.Contains(sql, "$1") {
			args = append(args, n)
		}
		_, err := pool.Exec(ctx, sql, args...)
		require.NoError(t, err, sql)
	}
	for _, tv := range []string{"shop.tv_customer", "shop.tv_product", "shop.tv_order", "shop.tv_review"} {
		cols := "id, data"
		if tv == "shop.tv_order" {
			cols += ", customer_id"
		}
		_, err := pool.Exec(ctx, "INSERT INTO "+tv+" ("+cols+") SELECT "+cols+" FROM "+tv+"_source")
		require.NoError(t, err, tv)
	}
	_, err := pool.Exec(ctx, "VACUUM ANALYZE")
	require.NoError(t, err)
	return pool
}

// TestPlans_EveryStatementFollowsItsBatch runs the kit's plan-scaling check
// (sync/plancheck) on every sync statement of every shop entity at two
// scales ten times apart: each reads rows in proportion to its batch, not
// to its tables, so the views' LATERAL ... OFFSET 0 probes hold.
func TestPlans_EveryStatementFollowsItsBatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const batch = 100
	engine := func(pool *pgxpool.Pool) *tvsync.Engine {
		e, err := shop.NewEngine(pool, tvsync.Config{})
		require.NoError(t, err)
		return e
	}
	small, large := engine(shopAt(t, 1_000)), engine(shopAt(t, 10_000))
	cmp, err := plancheck.Check(ctx, small, large, plancheck.Options{Batch: batch})
	require.NoError(t, err)
	var table strings.Builder
	require.NoError(t, cmp.WriteTable(&table))
	t.Logf("plan-scaling check, batch %d, 1,000 and 10,000 orders:\n%s", batch, table.String())

	var names []string
	for _, v := range cmp.Verdicts {
		names = append(names, v.Statement().Name())
		assert.Positive(t, v.Large.Buffers, "%s: EXPLAIN ANALYZE ran it", v.Statement().Label())
	}
	assert.ElementsMatch(t, []string{
		"CustomerRefresh", "CustomerDeleteMissing", "CustomerRangeRefresh", "CustomerRangeDeleteMissing", "CustomerVerify", "OrderIDsByCustomer", "ReviewIDsByCustomer",
		"ProductRefresh", "ProductDeleteMissing", "ProductVerify", // a text key: full sync by id lists
		"OrderIDsByProduct", "ReviewIDsByProduct",
		"OrderRefresh", "OrderDeleteMissing", "OrderRangeRefresh", "OrderRangeDeleteMissing", "OrderVerify", "CustomerIDsByOrder", "ProductIDsByOrder",
		"ReviewRefresh", "ReviewDeleteMissing", "ReviewRangeRefresh", "ReviewRangeDeleteMissing", "ReviewVerify",
	}, names, "every sync statement of every shop entity is checked")
	assert.NoError(t, cmp.Err(), "every shop sync statement must read rows in proportion to its batch, not to its tables")

	// pgx prepares every statement; from its sixth run on a connection
	// PostgreSQL may use the generic plan, built without the batch: the
	// same check on those plans.
	generic, err := plancheck.Check(ctx, small, large, plancheck.Options{Batch: batch, Generic: true})
	require.NoError(t, err)
	table.Reset()
	require.NoError(t, generic.WriteTable(&table))
	t.Logf("generic plans, batch %d, 1,000 and 10,000 orders:\n%s", batch, table.String())
	assert.Len(t, generic.Verdicts, len(cmp.Verdicts), "every statement is checked in its generic plan too")
	assert.NoError(t, generic.Err(), "every shop sync statement's generic plan must read rows in proportion to its batch")
}

// TestPlans_EveryPlanBuildsTheDocumentsOfItsView runs the kit's one-line
// plan-equality check for each shop entity on a seeded shop (a customer
// without orders and a product never sold included): every registered
// refresh plan builds exactly the documents of the entity's view (a review
// of every product included).
func TestPlans_EveryPlanBuildsTheDocumentsOfItsView(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, syncuow.Inline, 0)
	cust, products := f.catalog(t, "Ada", 4)
	f.do(t, func(u *shop.UnitOfWork) error {
		if _, err := u.CreateCustomer(ctx, "Bob, no orders"); err != nil {
			return err
		}
		for i := range 12 {
			if _, err := u.CreateOrder(ctx, cust, shop.Line{ProductID: products[i%3], Quantity: int32(1 + i)}, shop.Line{ProductID: products[(i+1)%3], Quantity: 2}); err != nil {
				return err
			}
		}
		for i, p := range products {
			if _, err := u.AddReview(ctx, p, cust, int32(1+i), fmt.Sprintf("review %d", i)); err != nil {
				return err
			}
		}
		return nil
	})

	syncdbtest.RequirePlansMatchSource(t, f.engine, shop.EntityCustomer)
	syncdbtest.RequirePlansMatchSource(t, f.engine, shop.EntityProduct)
	syncdbtest.RequirePlansMatchSource(t, f.engine, shop.EntityOrder)
	syncdbtest.RequirePlansMatchSource(t, f.engine, shop.EntityReview)
}
