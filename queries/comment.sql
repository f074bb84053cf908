-- name: CommentRefresh :batchone
-- CommentRefresh upserts, in one statement, the tv_comment documents of the given comments from their definition (view tv_comment_source), writing only those whose data changed; the view is read id by id (the OFFSET 0 fence), so the work follows the batch, never the table.
WITH src AS (
    SELECT s.id, s.data
    FROM (SELECT DISTINCT unnest(@ids::uuid[]) AS id) b
    CROSS JOIN LATERAL (SELECT v.id, v.data FROM tv_comment_source v WHERE v.id = b.id OFFSET 0) s
),
upserted AS (
    INSERT INTO tv_comment (id, data, updated_at)
    SELECT src.id, src.data, clock_timestamp() FROM src
    ON CONFLICT (id) DO UPDATE
        SET data = EXCLUDED.data, updated_at = EXCLUDED.updated_at
        WHERE tv_comment.data IS DISTINCT FROM EXCLUDED.data
    RETURNING tv_comment.id
)
SELECT (SELECT count(*) FROM src)::int      AS found,
       (SELECT count(*) FROM upserted)::int AS upserted,
       clock_timestamp()::timestamptz       AS finished_at;

-- name: CommentRangeRefresh :batchone
-- CommentRangeRefresh upserts the tv_comment documents of the keyset range of ids (@after, @upto] of a full-sync chunk from their definition, writing only those whose data changed and only the chunk's locked @ids (a row created after the chunk listed its ids is left to its own sync); the range is built apart (MATERIALIZED) and only then narrowed to @ids, so that a generic plan, which cannot count @ids, keeps the range's plan.
WITH range_src AS MATERIALIZED (
    SELECT s.id, s.data FROM tv_comment_source s WHERE s.id >= @after::uuid AND (s.id > @after::uuid OR s.id = '00000000-0000-0000-0000-000000000000') AND s.id <= @upto::uuid
),
src AS (
    SELECT r.id, r.data FROM range_src r WHERE r.id IN (SELECT unnest(@ids::uuid[]))
),
upserted AS (
    INSERT INTO tv_comment (id, data, updated_at)
    SELECT src.id, src.data, clock_timestamp() FROM src
    ON CONFLICT (id) DO UPDATE
        SET data = EXCLUDED.data, updated_at = EXCLUDED.updated_at
        WHERE tv_comment.data IS DISTINCT FROM EXCLUDED.data
    RETURNING tv_comment.id
)
SELECT (SELECT count(*) FROM src)::int      AS found,
       (SELECT count(*) FROM upserted)::int AS upserted,
       clock_timestamp()::timestamptz       AS finished_at;

-- name: CommentDeleteMissing :batchone
-- CommentDeleteMissing removes the tv_comment rows, among the given ids, whose tb_comment row no longer exists: each id is probed in tb_comment (the OFFSET 0 fence keeps the planner from hashing the whole table), and only the ids found gone are looked up in tv_comment.
WITH gone AS (
    DELETE FROM tv_comment t
    WHERE t.id = ANY(ARRAY(
        SELECT b.id FROM unnest(@ids::uuid[]) AS b(id)
        WHERE NOT EXISTS (SELECT 1 FROM tb_comment c WHERE c.id = b.id OFFSET 0)))
    RETURNING t.id
)
SELECT count(*)::int AS deleted, clock_timestamp()::timestamptz AS finished_at FROM gone;

-- name: CommentRangeDeleteMissing :batchone
-- CommentRangeDeleteMissing removes the tv_comment rows among the chunk's locked @ids in the keyset range (@after, @upto] whose tb_comment row no longer exists; both sides of the anti-join read only the range (the inner side from @after inclusive, a superset of any id the outer side holds), so a chunk never reads the whole of tb_comment.
WITH gone AS (
    DELETE FROM tv_comment t
    WHERE t.id >= @after::uuid AND (t.id > @after::uuid OR t.id = '00000000-0000-0000-0000-000000000000') AND t.id <= @upto::uuid
      AND t.id IN (SELECT unnest(@ids::uuid[]))
      AND NOT EXISTS (SELECT 1 FROM tb_comment x WHERE x.id = t.id AND x.id >= @after::uuid AND x.id <= @upto::uuid)
    RETURNING t.id
)
SELECT count(*)::int AS deleted, clock_timestamp()::timestamptz AS finished_at FROM gone;

-- name: CommentIDsAfter :many
-- CommentIDsAfter lists tb_comment ids in id order after a keyset cursor, for full sync.
SELECT id FROM tb_comment WHERE id >= @after::uuid AND (id > @after::uuid OR id = '00000000-0000-0000-0000-000000000000') ORDER BY id LIMIT @page_size::int;

-- name: CommentViewIDsAfter :many
-- CommentViewIDsAfter lists tv_comment ids in id order after a keyset cursor, to find orphans during full sync.
SELECT id FROM tv_comment WHERE id >= @after::uuid AND (id > @after::uuid OR id = '00000000-0000-0000-0000-000000000000') ORDER BY id LIMIT @page_size::int;

-- name: CommentIDsByAuthor :batchmany
-- CommentIDsByAuthor lists the comments written by the given users (their tv_comment embeds the author).
SELECT id FROM tb_comment WHERE author_id = ANY(@author_ids::uuid[]);

-- name: CommentIDsByPost :batchmany
-- CommentIDsByPost lists the comments on the given posts (their tv_comment embeds the post title).
SELECT id FROM tb_comment WHERE post_id = ANY(@post_ids::uuid[]);

-- name: CommentGetByID :one
-- CommentGetByID reads one stored tv_comment document as raw JSON bytes.
SELECT data FROM tv_comment WHERE id = @id;

-- name: CommentCreate :one
-- CommentCreate inserts a comment and returns its id.
INSERT INTO tb_comment (post_id, author_id, content) VALUES (@post_id, @author_id, @content) RETURNING id;

-- name: CommentDelete :one
-- CommentDelete deletes a comment and returns the post and author it belonged to.
DELETE FROM tb_comment WHERE id = @id RETURNING post_id, author_id;

-- name: CommentVerify :many
-- CommentVerify compares, for the ids in (@after, @upto], the stored tv_comment rows with their definition and lists those missing, stale or orphaned.
SELECT coalesce(s.id, t.id)::uuid AS id,
       (CASE WHEN t.id IS NULL THEN 'missing' WHEN s.id IS NULL THEN 'orphaned' ELSE 'stale' END)::text AS problem
FROM (SELECT v.id, v.data FROM tv_comment_source v WHERE v.id >= @after::uuid AND (v.id > @after::uuid OR v.id = '00000000-0000-0000-0000-000000000000') AND v.id <= @upto::uuid) s
FULL JOIN (SELECT r.id, r.data FROM tv_comment r WHERE r.id >= @after::uuid AND (r.id > @after::uuid OR r.id = '00000000-0000-0000-0000-000000000000') AND r.id <= @upto::uuid) t ON t.id = s.id
WHERE s.data IS DISTINCT FROM t.data
ORDER BY 1;
