-- Deliberately bad queries: queries/vet_test.go runs sqlc vet on them with the
-- rules of ../../sqlc.yaml and expects each rule to fire where this file says.
-- Not part of the generated code (sqlc.yaml reads queries/*.sql only).

-- name: VetFixturePostStar :one
-- VetFixturePostStar must trip no-select-star (SELECT *).
SELECT * FROM tb_post WHERE id = @id;

-- name: VetFixtureCommentWithPostTitle :many
-- VetFixtureCommentWithPostTitle must trip no-select-star (c.* in a join).
SELECT c.*, p.title FROM tb_comment c JOIN tb_post p ON p.id = c.post_id WHERE c.id = ANY(@ids::uuid[]);

-- name: VetFixtureUserDeleteReturningStar :one
-- VetFixtureUserDeleteReturningStar must trip no-select-star (RETURNING *).
DELETE FROM tb_user WHERE id = @id RETURNING *;

-- name: VetFixturePostByTitleRefresh :batchone
-- VetFixturePostByTitleRefresh must trip no-seq-scan-in-sync: a refresh that
-- filters tb_post on an unindexed expression reads the whole table.
SELECT count(*)::int AS found FROM tb_post WHERE lower(title) = ANY(@titles::text[]);

-- name: VetFixturePostIDsByTitle :batchmany
-- VetFixturePostIDsByTitle must trip no-seq-scan-in-sync: a cascade lookup
-- with no index to reach its rows.
SELECT id FROM tb_post WHERE lower(title) = ANY(@titles::text[]);

-- name: VetFixtureCommentVerify :many
-- VetFixtureCommentVerify must trip no-seq-scan-in-sync on a tv_ table: a
-- verify chunk that filters inside the JSONB instead of on the id.
SELECT id FROM tv_comment WHERE data->>'content' = @content::text;

-- name: VetFixturePostDeepRefresh :batchone
-- VetFixturePostDeepRefresh must trip no-seq-scan-in-sync: its batch reads
-- tb_post by id, but a join on an unindexed expression scans tb_comment five
-- plan levels down.
WITH batch AS (SELECT id FROM tb_post WHERE id = ANY(@ids::uuid[]))
SELECT (SELECT count(*) FROM batch)::int AS found,
       (SELECT count(*) FROM (SELECT DISTINCT b.id FROM batch b JOIN tb_comment c ON lower(c.content) = b.id::text) s)::int AS matched;

-- name: VetFixturePostSearchByTitle :many
-- VetFixturePostSearchByTitle scans tb_post like the two above but is no
-- incremental sync statement: no rule may fire on it.
SELECT id FROM tb_post WHERE lower(title) = @title::text;
