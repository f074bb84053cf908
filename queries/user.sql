-- name: UserRefresh :batchone
-- UserRefresh upserts, in one statement, the tv_user documents of the given users from their definition (view tv_user_source), writing only those whose data changed; the view is read id by id (the OFFSET 0 fence), so the work follows the batch, never the table.
WITH src AS (
    SELECT s.id, s.data
    FROM (SELECT DISTINCT unnest(@ids::uuid[]) AS id) b
    CROSS JOIN LATERAL (SELECT v.id, v.data FROM tv_user_source v WHERE v.id = b.id OFFSET 0) s
),
upserted AS (
    INSERT INTO tv_user (id, data, updated_at)
    SELECT src.id, src.data, clock_timestamp() FROM src
    ON CONFLICT (id) DO UPDATE
        SET data = EXCLUDED.data, updated_at = EXCLUDED.updated_at
        WHERE tv_user.data IS DISTINCT FROM EXCLUDED.data
    RETURNING tv_user.id
)
SELECT (SELECT count(*) FROM src)::int      AS found,
       (SELECT count(*) FROM upserted)::int AS upserted,
       clock_timestamp()::timestamptz       AS finished_at;

-- name: UserRangeRefresh :batchone
-- UserRangeRefresh upserts the tv_user documents of the keyset range of ids (@after, @upto] of a full-sync chunk from their definition, writing only those whose data changed and only the chunk's locked @ids (a row created after the chunk listed its ids is left to its own sync); the range is built apart (MATERIALIZED) and only then narrowed to @ids, so that a generic plan, which cannot count @ids, keeps the range's plan.
WITH range_src AS MATERIALIZED (
    SELECT s.id, s.data FROM tv_user_source s WHERE s.id >= @after::uuid AND (s.id > @after::uuid OR s.id = '00000000-0000-0000-0000-000000000000') AND s.id <= @upto::uuid
),
src AS (
    SELECT r.id, r.data FROM range_src r WHERE r.id IN (SELECT unnest(@ids::uuid[]))
),
upserted AS (
    INSERT INTO tv_user (id, data, updated_at)
    SELECT src.id, src.data, clock_timestamp() FROM src
    ON CONFLICT (id) DO UPDATE
        SET data = EXCLUDED.data, updated_at = EXCLUDED.updated_at
        WHERE tv_user.data IS DISTINCT FROM EXCLUDED.data
    RETURNING tv_user.id
)
SELECT (SELECT count(*) FROM src)::int      AS found,
       (SELECT count(*) FROM upserted)::int AS upserted,
       clock_timestamp()::timestamptz       AS finished_at;

-- name: UserDeleteMissing :batchone
-- UserDeleteMissing removes the tv_user rows, among the given ids, whose tb_user row no longer exists: each id is probed in tb_user (the OFFSET 0 fence keeps the planner from hashing the whole table), and only the ids found gone are looked up in tv_user.
WITH gone AS (
    DELETE FROM tv_user t
    WHERE t.id = ANY(ARRAY(
        SELECT b.id FROM unnest(@ids::uuid[]) AS b(id)
        WHERE NOT EXISTS (SELECT 1 FROM tb_user u WHERE u.id = b.id OFFSET 0)))
    RETURNING t.id
)
SELECT count(*)::int AS deleted, clock_timestamp()::timestamptz AS finished_at FROM gone;

-- name: UserRangeDeleteMissing :batchone
-- UserRangeDeleteMissing removes the tv_user rows among the chunk's locked @ids in the keyset range (@after, @upto] whose tb_user row no longer exists; both sides of the anti-join read only the range (the inner side from @after inclusive, a superset of any id the outer side holds), so a chunk never reads the whole of tb_user.
WITH gone AS (
    DELETE FROM tv_user t
    WHERE t.id >= @after::uuid AND (t.id > @after::uuid OR t.id = '00000000-0000-0000-0000-000000000000') AND t.id <= @upto::uuid
      AND t.id IN (SELECT unnest(@ids::uuid[]))
      AND NOT EXISTS (SELECT 1 FROM tb_user x WHERE x.id = t.id AND x.id >= @after::uuid AND x.id <= @upto::uuid)
    RETURNING t.id
)
SELECT count(*)::int AS deleted, clock_timestamp()::timestamptz AS finished_at FROM gone;

-- name: UserIDsAfter :many
-- UserIDsAfter lists tb_user ids in id order after a keyset cursor, for full sync.
SELECT id FROM tb_user WHERE id >= @after::uuid AND (id > @after::uuid OR id = '00000000-0000-0000-0000-000000000000') ORDER BY id LIMIT @page_size::int;

-- name: UserViewIDsAfter :many
-- UserViewIDsAfter lists tv_user ids in id order after a keyset cursor, to find orphans during full sync.
SELECT id FROM tv_user WHERE id >= @after::uuid AND (id > @after::uuid OR id = '00000000-0000-0000-0000-000000000000') ORDER BY id LIMIT @page_size::int;

-- name: UserIDsCommentingOnPosts :batchmany
-- UserIDsCommentingOnPosts lists the authors of comments on the given posts (their commentCount changes when the posts go).
SELECT DISTINCT author_id FROM tb_comment WHERE post_id = ANY(@post_ids::uuid[]);

-- name: UserGetByID :one
-- UserGetByID reads one stored tv_user document as raw JSON bytes.
SELECT data FROM tv_user WHERE id = @id;

-- name: UserCreate :one
-- UserCreate inserts a user and returns its id.
INSERT INTO tb_user (username, full_name) VALUES (@username, @full_name) RETURNING id;

-- name: UserRename :execrows
-- UserRename changes a user's username and full name.
UPDATE tb_user SET username = @username, full_name = @full_name, updated_at = now() WHERE id = @id;

-- name: UserDelete :execrows
-- UserDelete deletes a user; their posts, comments and likes cascade.
DELETE FROM tb_user WHERE id = @id;

-- name: UserIDsCommentingOnPostsOfAuthor :batchmany
-- UserIDsCommentingOnPostsOfAuthor lists the users who commented on posts written by the given users (their commentCount drops when those posts go).
SELECT DISTINCT c.author_id FROM tb_comment c JOIN tb_post p ON p.id = c.post_id WHERE p.author_id = ANY(@author_ids::uuid[]);

-- name: UserVerify :many
-- UserVerify compares, for the ids in (@after, @upto], the stored tv_user rows with their definition and lists those missing, stale or orphaned.
SELECT coalesce(s.id, t.id)::uuid AS id,
       (CASE WHEN t.id IS NULL THEN 'missing' WHEN s.id IS NULL THEN 'orphaned' ELSE 'stale' END)::text AS problem
FROM (SELECT v.id, v.data FROM tv_user_source v WHERE v.id >= @after::uuid AND (v.id > @after::uuid OR v.id = '00000000-0000-0000-0000-000000000000') AND v.id <= @upto::uuid) s
FULL JOIN (SELECT r.id, r.data FROM tv_user r WHERE r.id >= @after::uuid AND (r.id > @after::uuid OR r.id = '00000000-0000-0000-0000-000000000000') AND r.id <= @upto::uuid) t ON t.id = s.id
WHERE s.data IS DISTINCT FROM t.data
ORDER BY 1;

-- name: UserLockForDelete :execrows
-- UserLockForDelete locks a user row so no post, comment or like can reference it until the deleting transaction ends.
SELECT 1 FROM tb_user WHERE id = @id FOR UPDATE;
