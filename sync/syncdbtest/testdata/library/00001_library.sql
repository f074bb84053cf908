-- +goose Up
-- A team set kept in a schema of its own, which this first migration
-- creates (no IF NOT EXISTS), with the set's version table in it
-- (lib.library_migrations): tvsync must not create the schema first.
CREATE SCHEMA lib;
CREATE TABLE lib.tb_book (
    isbn  text PRIMARY KEY,
    title text NOT NULL
);

-- +goose Down
DROP TABLE lib.tb_book;
