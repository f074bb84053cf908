-- +goose Up
-- A team's own entity, widget: its command table, its document view (which
-- calls tvsync.ts, so tvsync's own migrations must come first) and its read
-- table.
CREATE TABLE tb_widget (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE VIEW v_widget AS
SELECT id, jsonb_build_object('id', id, 'name', name, 'createdAt', tvsync.ts(created_at)) AS data
FROM tb_widget;

CREATE TABLE tv_widget (
    id         bigint PRIMARY KEY,
    data       jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE tv_widget;
DROP VIEW v_widget;
DROP TABLE tb_widget;
