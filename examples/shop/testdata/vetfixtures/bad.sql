-- Deliberately bad queries: vet_test.go runs sqlc vet on them with the rules
-- of ../../sqlc.yaml and expects each rule to fire where this file says.
-- Not part of the generated code (sqlc.yaml reads queries/*.sql only).

-- name: VetFixtureOrderStar :one
-- VetFixtureOrderStar must trip no-select-star (SELECT *).
SELECT * FROM shop.tb_order WHERE id = @id;

-- name: VetFixtureOrderLineByQuantityRefresh :batchone
-- VetFixtureOrderLineByQuantityRefresh must trip no-seq-scan-in-sync: a
-- refresh that filters tb_order_line on an unindexed column reads every line
-- of every order for each batch.
SELECT count(*)::int AS found FROM shop.tb_order_line WHERE quantity = ANY(@quantities::int[]);

-- name: VetFixtureOrderDeepRefresh :batchone
-- VetFixtureOrderDeepRefresh must trip sync-plan-depth: it reads tb_order by
-- id, but eleven nested DISTINCTs make its plan deeper than the ten levels
-- no-seq-scan-in-sync inspects.
SELECT count(*)::int AS found FROM (
 SELECT DISTINCT id FROM (SELECT DISTINCT id FROM (SELECT DISTINCT id FROM (SELECT DISTINCT id FROM (
 SELECT DISTINCT id FROM (SELECT DISTINCT id FROM (SELECT DISTINCT id FROM (SELECT DISTINCT id FROM (
 SELECT DISTINCT id FROM (SELECT DISTINCT id FROM (SELECT DISTINCT id FROM shop.tb_order WHERE id = ANY(@ids::bigint[])
 ) s10) s9) s8) s7) s6) s5) s4) s3) s2) s1) s0;

-- name: VetFixtureOrderLineSearchByQuantity :many
-- VetFixtureOrderLineSearchByQuantity scans tb_order_line like the refresh
-- above but is no incremental sync statement: no rule may fire on it.
SELECT order_id, product_id FROM shop.tb_order_line WHERE quantity = @quantity::int;
