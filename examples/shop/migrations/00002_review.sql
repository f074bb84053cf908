-- +goose Up

-- Reviews: a customer rates a product from 1 to 5, with a text. Deleting the
-- product or the customer deletes its reviews.
CREATE TABLE shop.tb_review (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    product_id  text        COLLATE "C" NOT NULL REFERENCES shop.tb_product (id) ON DELETE CASCADE,
    customer_id bigint      NOT NULL REFERENCES shop.tb_customer (id) ON DELETE CASCADE,
    rating      integer     NOT NULL CHECK (rating BETWEEN 1 AND 5),
    body        text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tb_review_product_id_idx ON shop.tb_review (product_id);
CREATE INDEX tb_review_customer_id_idx ON shop.tb_review (customer_id);

CREATE TABLE shop.tv_review (
    id         bigint PRIMARY KEY,
    data       jsonb       NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- The document, written once: its product and its author reached id by id.
CREATE VIEW shop.tv_review_source AS
SELECT r.id,
       jsonb_build_object(
           'id', r.id,
           'rating', r.rating,
           'body', r.body,
           'createdAt', tvsync.ts(r.created_at),
           'product', jsonb_build_object('id', p.id, 'name', p.name),
           'author', jsonb_build_object('id', c.id, 'name', c.name)
       ) AS data
FROM shop.tb_review r
CROSS JOIN LATERAL (SELECT p.id, p.name FROM shop.tb_product p WHERE p.id = r.product_id OFFSET 0) p
CROSS JOIN LATERAL (SELECT c.id, c.name FROM shop.tb_customer c WHERE c.id = r.customer_id OFFSET 0) c;

-- +goose Down

DROP VIEW shop.tv_review_source;
DROP TABLE shop.tv_review;
DROP TABLE shop.tb_review;
