package syncuow_test

import (
	"context"
	"log"

	"github.com/jackc/pgx/v5/pgxpool"

	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/syncuow"
)

// Orders is a domain repository: a Runner and the domain's typed writes.
type Orders struct{ runner *syncuow.Runner }

// OrderWork is the domain's unit of work: every write records what it affects.
type OrderWork struct{ w *syncuow.Work }

// PlaceOrder inserts an order; the order's document and its customer's change.
func (u OrderWork) PlaceOrder(ctx context.Context, customerID int64) (int64, error) {
	var id int64
	err := u.w.Tx().QueryRow(ctx, "INSERT INTO tb_order (customer_id) VALUES ($1) RETURNING id", customerID).Scan(&id)
	if err == nil {
		u.w.Record(tvsync.Change{Entity: "order", IDs: tvsync.IntKeys([]int64{id})},
			tvsync.Change{Entity: "customer", IDs: tvsync.IntKeys([]int64{customerID})})
	}
	return id, err
}

// InTx runs fn in a unit of work that syncs what it recorded when it commits.
func (o Orders) InTx(ctx context.Context, fn func(u OrderWork) error) error {
	return o.runner.Run(ctx, func(w *syncuow.Work) error { return fn(OrderWork{w}) })
}

// Example wraps a Runner in a domain repository with typed writes.
func Example() {
	ctx := context.Background()
	var pool *pgxpool.Pool    // pgxpool.New(ctx, url)
	var engine *tvsync.Engine // tvsync.NewEngine(pool, tvsync.Config{}, entities...)
	runner, err := syncuow.New(pool, engine, syncuow.Options{Timing: syncuow.AfterCommit})
	if err != nil { // an invalid option, or a nil pool or engine
		log.Print(err)
		return
	}
	orders := Orders{runner}
	err = orders.InTx(ctx, func(u OrderWork) error {
		_, err := u.PlaceOrder(ctx, 42) // tv_order and tv_customer are synced when InTx returns
		return err
	})
	if err != nil {
		log.Print(err)
	}
}
