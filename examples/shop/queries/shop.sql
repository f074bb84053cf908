-- The shop's writes and reads, hand-written. The sync statements of each
-- entity are generated next to this file (<entity>.gen.sql, by tvsync gen).

-- name: CustomerCreate :one
-- CustomerCreate inserts a customer and returns its id.
INSERT INTO shop.tb_customer (name) VALUES (@name) RETURNING id;

-- name: CustomerRename :execrows
-- CustomerRename changes a customer's name.
UPDATE shop.tb_customer SET name = @name WHERE id = @id;

-- name: CustomerLockForDelete :execrows
-- CustomerLockForDelete locks a customer row so that no order can reference it until the deleting transaction ends.
SELECT 1 FROM shop.tb_customer WHERE id = @id FOR UPDATE;

-- name: CustomerOrdersLockForDelete :exec
-- CustomerOrdersLockForDelete locks the orders of a customer being deleted, in id order, so no line can be added to them until the transaction ends.
SELECT 1 FROM shop.tb_order WHERE customer_id = @customer_id ORDER BY id FOR UPDATE;

-- name: CustomerDelete :execrows
-- CustomerDelete deletes a customer; its orders and their lines cascade.
DELETE FROM shop.tb_customer WHERE id = @id;

-- name: ProductCreate :execrows
-- ProductCreate inserts a product under its SKU at a unit price in cents.
INSERT INTO shop.tb_product (id, name, price_cents) VALUES (@id, @name, @price_cents);

-- name: ProductLockForDelete :execrows
-- ProductLockForDelete locks a product row so no order line or review can reference it until the deleting transaction ends.
SELECT 1 FROM shop.tb_product WHERE id = @id FOR UPDATE;

-- name: ProductDelete :execrows
-- ProductDelete deletes a product; its reviews cascade, an order line referencing it refuses the delete.
DELETE FROM shop.tb_product WHERE id = @id;

-- name: ProductRename :execrows
-- ProductRename changes a product's name.
UPDATE shop.tb_product SET name = @name WHERE id = @id;

-- name: OrderCreate :one
-- OrderCreate inserts an order of a customer (without lines) and returns its id.
INSERT INTO shop.tb_order (customer_id) VALUES (@customer_id) RETURNING id;

-- name: OrderLinesAdd :execrows
-- OrderLinesAdd adds lines to an order, one per product (@product_ids and @quantities side by side), each at the product's current price; a product that does not exist adds no line, so callers compare the count.
INSERT INTO shop.tb_order_line (order_id, product_id, quantity, unit_price_cents)
SELECT @order_id::bigint, p.id, l.quantity, p.price_cents
FROM (SELECT unnest(@product_ids::text[]) AS product_id, unnest(@quantities::int[]) AS quantity) l
JOIN shop.tb_product p ON p.id = l.product_id;

-- name: OrderLineSetQuantity :execrows
-- OrderLineSetQuantity changes the quantity of the line of a product in an order.
UPDATE shop.tb_order_line SET quantity = @quantity WHERE order_id = @order_id AND product_id = @product_id;

-- name: OrderLockForDelete :execrows
-- OrderLockForDelete locks an order row so no line or shipment can be added to it until the transaction ends.
SELECT 1 FROM shop.tb_order WHERE id = @id FOR UPDATE;

-- name: OrderPromise :execrows
-- OrderPromise sets the date the shop promises to ship an order by (null: no promise).
UPDATE shop.tb_order SET promised_at = @promised_at WHERE id = @id;

-- name: ShipmentCreate :one
-- ShipmentCreate ships an order (at most once) and returns the shipment's id.
INSERT INTO shop.tb_shipment (order_id) VALUES (@order_id) RETURNING id;

-- name: ShipmentDelete :execrows
-- ShipmentDelete deletes a shipment (a shipment cancelled).
DELETE FROM shop.tb_shipment WHERE id = @id;

-- name: OrderDelete :execrows
-- OrderDelete deletes an order; its lines cascade.
DELETE FROM shop.tb_order WHERE id = @id;

-- name: CustomerGetByID :one
-- CustomerGetByID reads one stored tv_customer document as raw JSON bytes.
SELECT data FROM shop.tv_customer WHERE id = @id;

-- name: ProductGetByID :one
-- ProductGetByID reads one stored tv_product document as raw JSON bytes.
SELECT data FROM shop.tv_product WHERE id = @id;

-- name: OrderGetByID :one
-- OrderGetByID reads one stored tv_order document as raw JSON bytes.
SELECT data FROM shop.tv_order WHERE id = @id;

-- name: OrdersOfCustomer :many
-- OrdersOfCustomer reads the stored tv_order documents of a customer, newest first, through tv_order's own customer_id column and its index: no tb_ table is read.
SELECT data FROM shop.tv_order WHERE customer_id = @customer_id ORDER BY id DESC;
