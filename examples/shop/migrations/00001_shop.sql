-- +goose Up

-- The shop, in a schema of its own (shop, which holds the set's goose
-- version table too): customers place orders of lines, each line a quantity
-- of a product at the unit price of the moment (money is integer cents).
-- Customers and orders have bigint identities; a product is keyed by its
-- SKU, a text the shop chooses. tv_order keeps its customer's id beside the
-- document, for the API to filter on. Every object is named with its
-- schema, so nothing depends on a search_path. The tv_ tables hold one JSONB document per command row,
-- defined by ONE view each (tv_x_source); every lookup a document embeds is
-- reached row by row (a LATERAL subquery, fenced with OFFSET 0 where the
-- planner could otherwise flatten it into a hash join over the whole table),
-- so that refreshing a batch reads only the batch.

-- +goose StatementBegin
DO $$
BEGIN
    IF to_regprocedure('tvsync.ts(timestamptz)') IS NULL THEN
        RAISE EXCEPTION 'schema tvsync is not migrated: apply tvsync''s migrations (syncmigrate.Up, or shop migrate up) before the shop''s';
    END IF;
END
$$;
-- +goose StatementEnd

CREATE SCHEMA shop;
COMMENT ON SCHEMA shop IS 'The shop: its tb_ and tv_ tables, the views of its documents, its goose version table.';

CREATE TABLE shop.tb_customer (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE shop.tb_customer IS 'Customers; deleting one deletes its orders and their lines.';

CREATE TABLE shop.tb_product (
    id          text   COLLATE "C" PRIMARY KEY CHECK (id <> ''),
    name        text   NOT NULL,
    price_cents bigint NOT NULL CHECK (price_cents >= 0)
);
COMMENT ON TABLE shop.tb_product IS 'Products, keyed by their SKU; a product on an order line cannot be deleted.';
COMMENT ON COLUMN shop.tb_product.id IS 'The SKU. COLLATE "C": tvsync walks text keys in that order, which the index then serves.';
COMMENT ON COLUMN shop.tb_product.price_cents IS 'Current unit price in cents; a line keeps the price of the moment it was ordered.';

CREATE TABLE shop.tb_order (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id bigint      NOT NULL REFERENCES shop.tb_customer (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tb_order_customer_id_idx ON shop.tb_order (customer_id);

CREATE TABLE shop.tb_order_line (
    order_id         bigint  NOT NULL REFERENCES shop.tb_order (id) ON DELETE CASCADE,
    product_id       text    COLLATE "C" NOT NULL REFERENCES shop.tb_product (id),
    quantity         integer NOT NULL CHECK (quantity > 0),
    unit_price_cents bigint  NOT NULL CHECK (unit_price_cents >= 0),
    PRIMARY KEY (order_id, product_id)
);
CREATE INDEX tb_order_line_product_id_idx ON shop.tb_order_line (product_id);
COMMENT ON TABLE shop.tb_order_line IS 'One line per product of an order: a quantity at the unit price of the moment.';

CREATE TABLE shop.tv_customer (
    id         bigint PRIMARY KEY,
    data       jsonb       NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE shop.tv_product (
    id         text COLLATE "C" PRIMARY KEY,
    data       jsonb       NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE shop.tv_order (
    id          bigint PRIMARY KEY,
    data        jsonb       NOT NULL,
    customer_id bigint      NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tv_order_customer_id_idx ON shop.tv_order (customer_id);
COMMENT ON COLUMN shop.tv_order.customer_id IS 'The customer of the order, beside its document: the API lists a customer''s orders by it (tvsync.yaml columns:).';

CREATE VIEW shop.tv_order_source AS
SELECT o.id,
       jsonb_build_object(
           'id', o.id,
           'createdAt', tvsync.ts(o.created_at),
           'customer', jsonb_build_object('id', c.id, 'name', c.name),
           'lines', coalesce(l.lines, '[]'::jsonb),
           'totalCents', l.total_cents
       ) AS data,
       o.customer_id
FROM shop.tb_order o
CROSS JOIN LATERAL (SELECT c.id, c.name FROM shop.tb_customer c WHERE c.id = o.customer_id OFFSET 0) c
CROSS JOIN LATERAL (
    SELECT coalesce(sum(ol.quantity * ol.unit_price_cents), 0)::bigint AS total_cents,
           jsonb_agg(jsonb_build_object(
               'product', jsonb_build_object('id', p.id, 'name', p.name),
               'quantity', ol.quantity,
               'unitPriceCents', ol.unit_price_cents,
               'lineTotalCents', ol.quantity * ol.unit_price_cents
           ) ORDER BY ol.product_id) AS lines
    FROM shop.tb_order_line ol
    CROSS JOIN LATERAL (SELECT p.id, p.name FROM shop.tb_product p WHERE p.id = ol.product_id OFFSET 0) p
    WHERE ol.order_id = o.id
) l;
COMMENT ON VIEW shop.tv_order_source IS 'Definition of tv_order documents: {id, createdAt, customer {id, name}, lines[] {product {id, name}, quantity, unitPriceCents, lineTotalCents} by product id, totalCents}, and of the column customer_id.';

CREATE VIEW shop.tv_product_source AS
SELECT p.id,
       jsonb_build_object(
           'id', p.id,
           'name', p.name,
           'priceCents', p.price_cents,
           'unitsSold', s.units_sold
       ) AS data
FROM shop.tb_product p
CROSS JOIN LATERAL (
    SELECT coalesce(sum(ol.quantity), 0)::bigint AS units_sold FROM shop.tb_order_line ol WHERE ol.product_id = p.id
) s;
COMMENT ON VIEW shop.tv_product_source IS 'Definition of tv_product documents: {id, name, priceCents, unitsSold (over every order line)}.';

CREATE VIEW shop.tv_customer_source AS
SELECT c.id,
       jsonb_build_object(
           'id', c.id,
           'name', c.name,
           'orderCount', s.order_count,
           'lifetimeTotalCents', s.total_cents
       ) AS data
FROM shop.tb_customer c
CROSS JOIN LATERAL (
    SELECT count(*) AS order_count, coalesce(sum(t.total_cents), 0)::bigint AS total_cents
    FROM shop.tb_order o
    CROSS JOIN LATERAL (
        SELECT coalesce(sum(ol.quantity * ol.unit_price_cents), 0) AS total_cents FROM shop.tb_order_line ol WHERE ol.order_id = o.id
    ) t
    WHERE o.customer_id = c.id
) s;
COMMENT ON VIEW shop.tv_customer_source IS 'Definition of tv_customer documents: {id, name, orderCount, lifetimeTotalCents (over all its orders)}.';

-- +goose Down

-- The schema stays: it holds the set's goose version table.
DROP VIEW shop.tv_customer_source;
DROP VIEW shop.tv_product_source;
DROP VIEW shop.tv_order_source;
DROP TABLE shop.tv_order;
DROP TABLE shop.tv_product;
DROP TABLE shop.tv_customer;
DROP TABLE shop.tb_order_line;
DROP TABLE shop.tb_order;
DROP TABLE shop.tb_product;
DROP TABLE shop.tb_customer;
