-- +goose Up
/* The command tables; CREATE TABLE nothing (x int); is no statement. */
CREATE TABLE tb_item (
    id         bigint      PRIMARY KEY,
    "Label"    text        NOT NULL CHECK ("Label" <> ''),
    price      numeric(10, 2) NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tb_item_price_positive CHECK (price >= 0),
    UNIQUE (id, price)
);
CREATE TABLE IF NOT EXISTS tb_old (id int);
CREATE TABLE tv_item (id bigint PRIMARY KEY, data jsonb NOT NULL, updated_at timestamptz NOT NULL);
CREATE TABLE tv_other (id bigint PRIMARY KEY, data jsonb NOT NULL, updated_at timestamptz NOT NULL);
CREATE VIEW tv_item_source AS SELECT id, jsonb_build_object('price', price) AS data FROM tb_item;
-- +goose StatementBegin
DO $$
BEGIN
    EXECUTE 'CREATE TABLE hidden (x int)'; -- built at run time: invisible
    CREATE TABLE IF NOT EXISTS hidden2 (y int);
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP VIEW tv_item_source;
DROP TABLE tv_item, tb_item;
