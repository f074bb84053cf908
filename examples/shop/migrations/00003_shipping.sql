-- +goose Up

-- Shipping: an order may carry the date the shop promised to ship it by,
-- and is shipped once (a shipment row, which has no document of its own:
-- it shows in its order's). tv_order says whether the order is late: not
-- shipped by its promised date, which happens with no write at all when the
-- date passes, so the shop schedules a re-sync of the order at that date
-- (Work.Schedule) when it sets it.
ALTER TABLE shop.tb_order ADD COLUMN promised_at timestamptz;
COMMENT ON COLUMN shop.tb_order.promised_at IS 'When the shop promised to ship the order by, if it did; past it unshipped, the order is late.';

CREATE TABLE shop.tb_shipment (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id   bigint      NOT NULL UNIQUE REFERENCES shop.tb_order (id) ON DELETE CASCADE,
    shipped_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE shop.tb_shipment IS 'The shipment of an order, at most one; no document of its own (tvsync.yaml tables:), it shows in tv_order.';

-- The order's document gains promisedAt, shippedAt and late: past its
-- promised date and not shipped by it (computed against now(): it ages).
CREATE OR REPLACE VIEW shop.tv_order_source AS
SELECT o.id,
       jsonb_build_object(
           'id', o.id,
           'createdAt', tvsync.ts(o.created_at),
           'customer', jsonb_build_object('id', c.id, 'name', c.name),
           'lines', coalesce(l.lines, '[]'::jsonb),
           'totalCents', l.total_cents,
           'promisedAt', tvsync.ts(o.promised_at),
           'shippedAt', tvsync.ts(s.shipped_at),
           'late', o.promised_at IS NOT NULL AND coalesce(s.shipped_at, now()) > o.promised_at
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
) l
LEFT JOIN LATERAL (SELECT s.shipped_at FROM shop.tb_shipment s WHERE s.order_id = o.id OFFSET 0) s ON true;
COMMENT ON VIEW shop.tv_order_source IS 'Definition of tv_order documents: {id, createdAt, customer {id, name}, lines[] {product {id, name}, quantity, unitPriceCents, lineTotalCents} by product id, totalCents, promisedAt, shippedAt, late (not shipped by promisedAt, against now())}, and of the column customer_id.';

-- +goose Down

CREATE OR REPLACE VIEW shop.tv_order_source AS
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
DROP TABLE shop.tb_shipment;
ALTER TABLE shop.tb_order DROP COLUMN promised_at;
