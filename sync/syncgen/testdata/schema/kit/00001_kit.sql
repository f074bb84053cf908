-- +goose Up
CREATE SCHEMA IF NOT EXISTS kit;
CREATE TABLE kit.log (
    id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    note text NOT NULL DEFAULT 'a, b; c' -- a comment, with (parentheses;
);
-- +goose Down
DROP TABLE kit.log;
