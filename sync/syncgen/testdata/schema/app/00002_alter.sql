-- +goose Up
ALTER TABLE tb_item ADD COLUMN stock integer NOT NULL DEFAULT 0, DROP COLUMN created_at;
ALTER TABLE ONLY tb_item RENAME COLUMN price TO unit_price;
ALTER TABLE tb_item ADD CONSTRAINT stock_positive CHECK (stock >= 0);
ALTER TABLE IF EXISTS tb_item ADD sku text;
ALTER TABLE tv_other RENAME TO tv_thing;
ALTER TABLE kit.log SET SCHEMA public;
DROP TABLE IF EXISTS tb_old CASCADE;
-- +goose Down
ALTER TABLE tb_item ADD COLUMN created_at timestamptz;
