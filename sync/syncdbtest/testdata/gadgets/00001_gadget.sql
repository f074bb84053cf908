-- +goose Up
-- A second set of the team, applied after widgets (it references tb_widget),
-- in goose's default version table.
CREATE TABLE tb_gadget (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    widget_id bigint NOT NULL REFERENCES tb_widget (id)
);

-- +goose Down
DROP TABLE tb_gadget;
