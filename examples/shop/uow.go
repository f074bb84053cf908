package shop

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tvsync/tvsync/examples/shop/db"
	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/syncuow"
)

// Line is one line of a new order: a quantity of a product, priced at the
// product's current price.
type Line struct {
	ProductID string // the product's SKU
	Quantity  int32
}

// UnitOfWork is one unit of work of a Shop: its typed writes run in the unit
// of work's transaction and record every document they affect. Use it only
// inside the function given to Shop.InTx.
type UnitOfWork struct {
	w *syncuow.Work
	q *db.Queries
}

// Work returns the generic unit of work underneath, for writes of one's own
// (Work().Tx()) and their changes (Work().Record).
func (u *UnitOfWork) Work() *syncuow.Work { return u.w }

// record records ids of entity to sync at commit; cascade also syncs the
// documents that embed them (as registered in Entities).
func (u *UnitOfWork) record(entity string, cascade bool, ids ...int64) {
	if len(ids) > 0 {
		u.w.Record(tvsync.Change{Entity: entity, IDs: tvsync.IntKeys(ids), Cascade: cascade})
	}
}

// recordProducts records products, by SKU (a text key), as record does.
func (u *UnitOfWork) recordProducts(cascade bool, skus ...string) {
	if len(skus) > 0 {
		u.w.Record(tvsync.Change{Entity: EntityProduct, IDs: tvsync.TextKeys(skus), Cascade: cascade})
	}
}

// CreateCustomer inserts a customer and returns its id. It records its
// tv_customer.
func (u *UnitOfWork) CreateCustomer(ctx context.Context, name string) (int64, error) {
	if strings.TrimSpace(name) == "" {
		return 0, fmt.Errorf("create customer: empty name: %w", ErrInvalid)
	}
	id, err := u.q.CustomerCreate(ctx, u.w.Tx(), name)
	if err != nil {
		return 0, fmt.Errorf("create customer %q: %w", name, err)
	}
	u.record(EntityCustomer, false, id)
	return id, nil
}

// RenameCustomer changes a customer's name. It records its tv_customer and,
// by cascade, the tv_order of each of its orders and the tv_review of each
// of its reviews (which embed the name).
func (u *UnitOfWork) RenameCustomer(ctx context.Context, id int64, name string) error {
	if strings.TrimSpace(name) == "" {
		return fmt.Errorf("rename customer %d: empty name: %w", id, ErrInvalid)
	}
	n, err := u.q.CustomerRename(ctx, u.w.Tx(), db.CustomerRenameParams{ID: id, Name: name})
	if err != nil {
		return fmt.Errorf("rename customer %d: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("rename customer %d: %w", id, ErrNotFound)
	}
	u.record(EntityCustomer, true, id)
	return nil
}

// DeleteCustomer deletes a customer; its orders and their lines, and its
// reviews, go with it (ON DELETE CASCADE). It records its tv_customer, the
// tv_order of each of its orders, the tv_product of every product on their
// lines (units sold drop) and the tv_review of each of its reviews, all
// looked up BEFORE the delete, which leaves nothing to find, by the
// look-ups tvsync gen wrote from the cascades declared in tvsync.yaml
// (Work.RecordBeforeDelete): the customer and its orders are locked first,
// so no order, line or review can be added to them meanwhile.
func (u *UnitOfWork) DeleteCustomer(ctx context.Context, id int64) error {
	n, err := u.q.CustomerLockForDelete(ctx, u.w.Tx(), id)
	if err != nil {
		return fmt.Errorf("delete customer %d: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("delete customer %d: %w", id, ErrNotFound)
	}
	if err := u.q.CustomerOrdersLockForDelete(ctx, u.w.Tx(), id); err != nil {
		return fmt.Errorf("delete customer %d: lock its orders: %w", id, err)
	}
	if err := u.w.RecordBeforeDelete(ctx, tvsync.Change{Entity: EntityCustomer, IDs: tvsync.IntKeys([]int64{id})}); err != nil {
		return fmt.Errorf("delete customer %d: %w", id, err)
	}
	if _, err := u.q.CustomerDelete(ctx, u.w.Tx(), id); err != nil {
		return fmt.Errorf("delete customer %d: %w", id, err)
	}
	return nil
}

// CreateProduct inserts a product under its SKU (its key: any non-empty
// text) at a unit price in cents. It records its tv_product. A SKU taken
// already is ErrInvalid.
func (u *UnitOfWork) CreateProduct(ctx context.Context, sku, name string, priceCents int64) error {
	if sku == "" || strings.TrimSpace(name) == "" || priceCents < 0 {
		return fmt.Errorf("create product %q (%q at %d cents): %w", sku, name, priceCents, ErrInvalid)
	}
	if _, err := u.q.ProductCreate(ctx, u.w.Tx(), db.ProductCreateParams{ID: sku, Name: name, PriceCents: priceCents}); err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23505" {
			return fmt.Errorf("create product %q: the SKU is taken: %w", sku, ErrInvalid)
		}
		return fmt.Errorf("create product %q: %w", sku, err)
	}
	u.recordProducts(false, sku)
	return nil
}

// RenameProduct changes a product's name. It records its tv_product and, by
// cascade, the tv_order of every order with a line of it and the tv_review
// of each of its reviews.
func (u *UnitOfWork) RenameProduct(ctx context.Context, id, name string) error {
	if strings.TrimSpace(name) == "" {
		return fmt.Errorf("rename product %q: empty name: %w", id, ErrInvalid)
	}
	n, err := u.q.ProductRename(ctx, u.w.Tx(), db.ProductRenameParams{ID: id, Name: name})
	if err != nil {
		return fmt.Errorf("rename product %q: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("rename product %q: %w", id, ErrNotFound)
	}
	u.recordProducts(true, id)
	return nil
}

// DeleteProduct deletes a product that is on no order; its reviews go with
// it (ON DELETE CASCADE). It records its tv_product and the tv_review of
// each of its reviews, looked up BEFORE the delete from the declared
// cascades (Work.RecordBeforeDelete), which leaves nothing to find: the
// product is locked first, so no review or order line can reference it
// meanwhile. A product on an order is refused (ErrInvalid): its orders
// embed it.
func (u *UnitOfWork) DeleteProduct(ctx context.Context, id string) error {
	n, err := u.q.ProductLockForDelete(ctx, u.w.Tx(), id)
	if err != nil {
		return fmt.Errorf("delete product %q: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("delete product %q: %w", id, ErrNotFound)
	}
	if err := u.w.RecordBeforeDelete(ctx, tvsync.Change{Entity: EntityProduct, IDs: tvsync.TextKeys([]string{id})}); err != nil {
		return fmt.Errorf("delete product %q: %w", id, err)
	}
	if _, err := u.q.ProductDelete(ctx, u.w.Tx(), id); err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23503" {
			return fmt.Errorf("delete product %q: it is on an order (%s): %w", id, pgErr.Detail, ErrInvalid)
		}
		return fmt.Errorf("delete product %q: %w", id, err)
	}
	return nil
}

// CreateOrder inserts an order of a customer with its lines, each at its
// product's current price, and returns its id. It records its tv_order and,
// by cascade, the customer's tv_customer (order count, lifetime total) and
// the tv_product of each product on it (units sold).
func (u *UnitOfWork) CreateOrder(ctx context.Context, customerID int64, lines ...Line) (int64, error) {
	if len(lines) == 0 {
		return 0, fmt.Errorf("create order of customer %d: no lines: %w", customerID, ErrInvalid)
	}
	products := make([]string, len(lines))
	quantities := make([]int32, len(lines))
	seen := make(map[string]bool, len(lines))
	for i, l := range lines {
		if l.Quantity < 1 || seen[l.ProductID] {
			return 0, fmt.Errorf("create order of customer %d: line %d (product %q, quantity %d): %w", customerID, i, l.ProductID, l.Quantity, ErrInvalid)
		}
		seen[l.ProductID] = true
		products[i], quantities[i] = l.ProductID, l.Quantity
	}
	id, err := u.q.OrderCreate(ctx, u.w.Tx(), customerID)
	if err != nil {
		return 0, fmt.Errorf("create order of customer %d: %w", customerID, foreignKey(err))
	}
	n, err := u.q.OrderLinesAdd(ctx, u.w.Tx(), db.OrderLinesAddParams{OrderID: id, ProductIds: products, Quantities: quantities})
	if err != nil {
		return 0, fmt.Errorf("create order of customer %d: add lines: %w", customerID, err)
	}
	if n != int64(len(lines)) {
		return 0, fmt.Errorf("create order of customer %d: %d of the products %v: %w", customerID, int64(len(lines))-n, products, ErrNotFound)
	}
	u.record(EntityOrder, true, id)
	return id, nil
}

// SetLineQuantity changes the quantity of the line of a product in an
// order. It records the order's tv_order and, by cascade, its customer's
// tv_customer (lifetime total) and its products' tv_product (units sold).
func (u *UnitOfWork) SetLineQuantity(ctx context.Context, orderID int64, productID string, quantity int32) error {
	if quantity < 1 {
		return fmt.Errorf("set quantity of product %q in order %d to %d: %w", productID, orderID, quantity, ErrInvalid)
	}
	n, err := u.q.OrderLineSetQuantity(ctx, u.w.Tx(), db.OrderLineSetQuantityParams{OrderID: orderID, ProductID: productID, Quantity: quantity})
	if err != nil {
		return fmt.Errorf("set quantity of product %q in order %d: %w", productID, orderID, err)
	}
	if n == 0 {
		return fmt.Errorf("set quantity of product %q in order %d: no such line: %w", productID, orderID, ErrNotFound)
	}
	u.record(EntityOrder, true, orderID)
	return nil
}

// DeleteOrder deletes an order, its lines and its shipment. It records its
// tv_order, its customer's tv_customer and the tv_product of each product
// on its lines, looked up before the delete from the declared cascades
// (Work.RecordBeforeDelete; the order is locked first, so no line can be
// added meanwhile).
func (u *UnitOfWork) DeleteOrder(ctx context.Context, id int64) error {
	n, err := u.q.OrderLockForDelete(ctx, u.w.Tx(), id)
	if err != nil {
		return fmt.Errorf("delete order %d: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("delete order %d: %w", id, ErrNotFound)
	}
	if err := u.w.RecordBeforeDelete(ctx, tvsync.Change{Entity: EntityOrder, IDs: tvsync.IntKeys([]int64{id})}); err != nil {
		return fmt.Errorf("delete order %d: %w", id, err)
	}
	if _, err := u.q.OrderDelete(ctx, u.w.Tx(), id); err != nil {
		return fmt.Errorf("delete order %d: %w", id, err)
	}
	return nil
}

// PromiseOrder sets the date the shop promises to ship an order by. It
// records the order's tv_order and schedules its re-sync at that date
// (Work.Schedule), atomically with the write: the order turns late then,
// with no write, if it is not shipped by it. A date in the past makes it
// late at once (and the worker's re-sync finds it so).
func (u *UnitOfWork) PromiseOrder(ctx context.Context, id int64, by time.Time) error {
	if by.IsZero() {
		return fmt.Errorf("promise order %d: no date: %w", id, ErrInvalid)
	}
	n, err := u.q.OrderPromise(ctx, u.w.Tx(), db.OrderPromiseParams{ID: id, PromisedAt: pgtype.Timestamptz{Time: by, Valid: true}})
	if err != nil {
		return fmt.Errorf("promise order %d by %s: %w", id, by.UTC().Format(time.RFC3339), err)
	}
	if n == 0 {
		return fmt.Errorf("promise order %d: %w", id, ErrNotFound)
	}
	order := tvsync.Change{Entity: EntityOrder, IDs: tvsync.IntKeys([]int64{id})}
	u.w.Record(order)
	if err := u.w.Schedule(ctx, by, order); err != nil {
		return fmt.Errorf("promise order %d: %w", id, err)
	}
	return nil
}

// ShipOrder ships an order (once) and returns the shipment's id. A
// shipment has no document of its own: it records the documents that show
// it (its order's tv_order: shippedAt, late), found by the look-ups tvsync
// gen wrote for the table (ShipmentCascades, Work.RecordCascades). An
// order shipped already is ErrInvalid.
func (u *UnitOfWork) ShipOrder(ctx context.Context, orderID int64) (int64, error) {
	id, err := u.q.ShipmentCreate(ctx, u.w.Tx(), orderID)
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23505" {
			return 0, fmt.Errorf("ship order %d: shipped already: %w", orderID, ErrInvalid)
		}
		return 0, fmt.Errorf("ship order %d: %w", orderID, foreignKey(err))
	}
	if err := u.w.RecordCascades(ctx, ShipmentCascades(), tvsync.IntKey(id)); err != nil {
		return 0, fmt.Errorf("ship order %d: %w", orderID, err)
	}
	return id, nil
}

// CancelShipment deletes a shipment. It records the documents that showed
// it (its order's tv_order), looked up before the delete from the
// declarations (ShipmentCascades, Work.RecordCascades).
func (u *UnitOfWork) CancelShipment(ctx context.Context, id int64) error {
	if err := u.w.RecordCascades(ctx, ShipmentCascades(), tvsync.IntKey(id)); err != nil {
		return fmt.Errorf("cancel shipment %d: %w", id, err)
	}
	n, err := u.q.ShipmentDelete(ctx, u.w.Tx(), id)
	if err != nil {
		return fmt.Errorf("cancel shipment %d: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("cancel shipment %d: %w", id, ErrNotFound)
	}
	return nil
}

// foreignKey translates a foreign-key violation (a customer or product that
// does not exist) to ErrNotFound.
func foreignKey(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23503" {
		return fmt.Errorf("%s: %w", pgErr.Detail, ErrNotFound)
	}
	return err
}
