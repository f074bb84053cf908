package shop

// The shop's registrations, hand-written over the sync statements of
// queries/customer.sql, product.sql and order.sql until tvsync gen writes
// them from tvsync.yaml.

import (
	"context"

	"github.com/tvsync/tvsync/examples/shop/db"
	tvsync "github.com/tvsync/tvsync/sync"
)

// Names of the shop's entities.
const (
	EntityCustomer = "customer"
	EntityProduct  = "product"
	EntityOrder    = "order"
)

// Entities returns the registrations of tv_customer, tv_product and
// tv_order.
func Entities() []tvsync.Entity {
	q := db.New()
	ctx := context.Background() // batch methods only queue; the pipeline's Send takes the real context
	return []tvsync.Entity{
		{
			Name: EntityCustomer,
			View: "tv_customer",
			Key:  tvsync.KeyBigint,
			Refresh: func(p *tvsync.Pipeline, ids []tvsync.ID) func() (tvsync.RefreshResult, error) {
				return tvsync.ReadRefresh(q.CustomerRefresh(ctx, p, [][]int64{tvsync.Int64s(ids)}))
			},
			RefreshRange: func(p *tvsync.Pipeline, after, upto tvsync.ID, ids []tvsync.ID) func() (tvsync.RefreshResult, error) {
				return tvsync.ReadRefresh(q.CustomerRangeRefresh(ctx, p, []db.CustomerRangeRefreshParams{{After: after.Int64(), Upto: upto.Int64(), Ids: tvsync.Int64s(ids)}}))
			},
			DeleteMissingRange: func(p *tvsync.Pipeline, after, upto tvsync.ID, ids []tvsync.ID) func() (tvsync.DeleteResult, error) {
				return tvsync.ReadDelete(q.CustomerRangeDeleteMissing(ctx, p, []db.CustomerRangeDeleteMissingParams{{After: after.Int64(), Upto: upto.Int64(), Ids: tvsync.Int64s(ids)}}))
			},
			DeleteMissing: func(p *tvsync.Pipeline, ids []tvsync.ID) func() (tvsync.DeleteResult, error) {
				return tvsync.ReadDelete(q.CustomerDeleteMissing(ctx, p, [][]int64{tvsync.Int64s(ids)}))
			},
			IDsAfter: func(ctx context.Context, conn tvsync.DB, after tvsync.ID, limit int) ([]tvsync.ID, error) {
				return tvsync.Keys(q.CustomerIDsAfter(ctx, conn, db.CustomerIDsAfterParams{After: after.Int64(), PageSize: int32(limit)}))
			},
			ViewIDsAfter: func(ctx context.Context, conn tvsync.DB, after tvsync.ID, limit int) ([]tvsync.ID, error) {
				return tvsync.Keys(q.CustomerViewIDsAfter(ctx, conn, db.CustomerViewIDsAfterParams{After: after.Int64(), PageSize: int32(limit)}))
			},
			Verify: func(ctx context.Context, conn tvsync.DB, after, upto tvsync.ID) ([]tvsync.Drift, error) {
				return tvsync.Drifts(q.CustomerVerify(ctx, conn, db.CustomerVerifyParams{After: after.Int64(), Upto: upto.Int64()}))
			},
			Cascades: []tvsync.Cascade{
				{Entity: EntityOrder, Lookup: func(p *tvsync.Pipeline, ids []tvsync.ID) func() ([]tvsync.ID, error) {
					return tvsync.ReadMany(q.OrderIDsByCustomer(ctx, p, [][]int64{tvsync.Int64s(ids)}))
				}},
			},
		},
		{
			Name: EntityProduct,
			View: "tv_product",
			Key:  tvsync.KeyBigint,
			Refresh: func(p *tvsync.Pipeline, ids []tvsync.ID) func() (tvsync.RefreshResult, error) {
				return tvsync.ReadRefresh(q.ProductRefresh(ctx, p, [][]int64{tvsync.Int64s(ids)}))
			},
			RefreshRange: func(p *tvsync.Pipeline, after, upto tvsync.ID, ids []tvsync.ID) func() (tvsync.RefreshResult, error) {
				return tvsync.ReadRefresh(q.ProductRangeRefresh(ctx, p, []db.ProductRangeRefreshParams{{After: after.Int64(), Upto: upto.Int64(), Ids: tvsync.Int64s(ids)}}))
			},
			DeleteMissingRange: func(p *tvsync.Pipeline, after, upto tvsync.ID, ids []tvsync.ID) func() (tvsync.DeleteResult, error) {
				return tvsync.ReadDelete(q.ProductRangeDeleteMissing(ctx, p, []db.ProductRangeDeleteMissingParams{{After: after.Int64(), Upto: upto.Int64(), Ids: tvsync.Int64s(ids)}}))
			},
			DeleteMissing: func(p *tvsync.Pipeline, ids []tvsync.ID) func() (tvsync.DeleteResult, error) {
				return tvsync.ReadDelete(q.ProductDeleteMissing(ctx, p, [][]int64{tvsync.Int64s(ids)}))
			},
			IDsAfter: func(ctx context.Context, conn tvsync.DB, after tvsync.ID, limit int) ([]tvsync.ID, error) {
				return tvsync.Keys(q.ProductIDsAfter(ctx, conn, db.ProductIDsAfterParams{After: after.Int64(), PageSize: int32(limit)}))
			},
			ViewIDsAfter: func(ctx context.Context, conn tvsync.DB, after tvsync.ID, limit int) ([]tvsync.ID, error) {
				return tvsync.Keys(q.ProductViewIDsAfter(ctx, conn, db.ProductViewIDsAfterParams{After: after.Int64(), PageSize: int32(limit)}))
			},
			Verify: func(ctx context.Context, conn tvsync.DB, after, upto tvsync.ID) ([]tvsync.Drift, error) {
				return tvsync.Drifts(q.ProductVerify(ctx, conn, db.ProductVerifyParams{After: after.Int64(), Upto: upto.Int64()}))
			},
			Cascades: []tvsync.Cascade{
				{Entity: EntityOrder, Lookup: func(p *tvsync.Pipeline, ids []tvsync.ID) func() ([]tvsync.ID, error) {
					return tvsync.ReadMany(q.OrderIDsByProduct(ctx, p, [][]int64{tvsync.Int64s(ids)}))
				}},
			},
		},
		{
			Name: EntityOrder,
			View: "tv_order",
			Key:  tvsync.KeyBigint,
			Refresh: func(p *tvsync.Pipeline, ids []tvsync.ID) func() (tvsync.RefreshResult, error) {
				return tvsync.ReadRefresh(q.OrderRefresh(ctx, p, [][]int64{tvsync.Int64s(ids)}))
			},
			RefreshRange: func(p *tvsync.Pipeline, after, upto tvsync.ID, ids []tvsync.ID) func() (tvsync.RefreshResult, error) {
				return tvsync.ReadRefresh(q.OrderRangeRefresh(ctx, p, []db.OrderRangeRefreshParams{{After: after.Int64(), Upto: upto.Int64(), Ids: tvsync.Int64s(ids)}}))
			},
			DeleteMissingRange: func(p *tvsync.Pipeline, after, upto tvsync.ID, ids []tvsync.ID) func() (tvsync.DeleteResult, error) {
				return tvsync.ReadDelete(q.OrderRangeDeleteMissing(ctx, p, []db.OrderRangeDeleteMissingParams{{After: after.Int64(), Upto: upto.Int64(), Ids: tvsync.Int64s(ids)}}))
			},
			DeleteMissing: func(p *tvsync.Pipeline, ids []tvsync.ID) func() (tvsync.DeleteResult, error) {
				return tvsync.ReadDelete(q.OrderDeleteMissing(ctx, p, [][]int64{tvsync.Int64s(ids)}))
			},
			IDsAfter: func(ctx context.Context, conn tvsync.DB, after tvsync.ID, limit int) ([]tvsync.ID, error) {
				return tvsync.Keys(q.OrderIDsAfter(ctx, conn, db.OrderIDsAfterParams{After: after.Int64(), PageSize: int32(limit)}))
			},
			ViewIDsAfter: func(ctx context.Context, conn tvsync.DB, after tvsync.ID, limit int) ([]tvsync.ID, error) {
				return tvsync.Keys(q.OrderViewIDsAfter(ctx, conn, db.OrderViewIDsAfterParams{After: after.Int64(), PageSize: int32(limit)}))
			},
			Verify: func(ctx context.Context, conn tvsync.DB, after, upto tvsync.ID) ([]tvsync.Drift, error) {
				return tvsync.Drifts(q.OrderVerify(ctx, conn, db.OrderVerifyParams{After: after.Int64(), Upto: upto.Int64()}))
			},
			Cascades: []tvsync.Cascade{
				{Entity: EntityCustomer, Lookup: func(p *tvsync.Pipeline, ids []tvsync.ID) func() ([]tvsync.ID, error) {
					return tvsync.ReadMany(q.CustomerIDsByOrder(ctx, p, [][]int64{tvsync.Int64s(ids)}))
				}},
				{Entity: EntityProduct, Lookup: func(p *tvsync.Pipeline, ids []tvsync.ID) func() ([]tvsync.ID, error) {
					return tvsync.ReadMany(q.ProductIDsByOrder(ctx, p, [][]int64{tvsync.Int64s(ids)}))
				}},
			},
		},
	}
}
