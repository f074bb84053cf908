-- name: PostWideRefresh :batchone
-- PostWideRefresh is PostRefresh for large batches: the same documents as tv_post_source (built by the same functions, public.post_document and public.post_comment_element, which PostgreSQL inlines), with the batch's comments aggregated set-based (one bitmap scan, GROUP BY post_id) and joined once, instead of one aggregate per post; the engine picks it from Config.WideThreshold ids up. Posts, authors and like counts are reached from the batch id by id, each author of a comment through the index (the OFFSET 0 fences), so the work follows the batch, never the table; the two MATERIALIZED parts are joined once, never per post.
WITH posts AS MATERIALIZED (
    SELECT p.id, p.title, p.content, p.published, p.created_at,
           u.id AS author_id, u.username, u.full_name, l.like_count
    FROM (SELECT DISTINCT unnest(@ids::uuid[]) AS id) b
    CROSS JOIN LATERAL (SELECT p.id, p.author_id, p.title, p.content, p.published, p.created_at FROM tb_post p WHERE p.id = b.id OFFSET 0) p
    CROSS JOIN LATERAL (SELECT u.id, u.username, u.full_name FROM tb_user u WHERE u.id = p.author_id OFFSET 0) u
    CROSS JOIN LATERAL (SELECT count(*) AS like_count FROM tb_post_like pl WHERE pl.post_id = p.id) l
),
c AS MATERIALIZED (
    SELECT cm.post_id,
           count(*) AS comment_count,
           jsonb_agg(public.post_comment_element(cm.id, cm.content, cm.created_at, cu.id, cu.username)
                     ORDER BY cm.created_at DESC, cm.id DESC) AS comments
    FROM tb_comment cm
    CROSS JOIN LATERAL (SELECT cu.id, cu.username FROM tb_user cu WHERE cu.id = cm.author_id OFFSET 0) cu
    WHERE cm.post_id = ANY(@ids::uuid[])
    GROUP BY cm.post_id
),
src AS (
    SELECT posts.id,
           public.post_document(posts.id, posts.title, posts.content, posts.published, posts.created_at,
                                posts.author_id, posts.username, posts.full_name,
                                c.comment_count, posts.like_count, c.comments) AS data
    FROM posts
    LEFT JOIN c ON c.post_id = posts.id
),
upserted AS (
    INSERT INTO tv_post (id, data, updated_at)
    SELECT src.id, src.data, clock_timestamp() FROM src
    ON CONFLICT (id) DO UPDATE
        SET data = EXCLUDED.data, updated_at = EXCLUDED.updated_at
        WHERE tv_post.data IS DISTINCT FROM EXCLUDED.data
    RETURNING tv_post.id
)
SELECT (SELECT count(*) FROM src)::int      AS found,
       (SELECT count(*) FROM upserted)::int AS upserted,
       clock_timestamp()::timestamptz       AS finished_at;

-- name: PostRangeRefresh :batchone
-- PostRangeRefresh is PostWideRefresh for the keyset range of ids (@after, @upto] of a full-sync chunk, writing only the chunk's locked @ids (a post created after the chunk listed its ids is left to its own sync): posts, comments and likes are each read as one index range scan, and each author through an index (the OFFSET 0 fences), so a chunk never reads the whole of tb_user; the range is built apart (MATERIALIZED) and only then narrowed to @ids, so that a generic plan, which cannot count @ids, never re-aggregates the range post by post.
WITH c AS (
    SELECT cm.post_id,
           count(*) AS comment_count,
           jsonb_agg(public.post_comment_element(cm.id, cm.content, cm.created_at, cu.id, cu.username)
                     ORDER BY cm.created_at DESC, cm.id DESC) AS comments
    FROM tb_comment cm
    CROSS JOIN LATERAL (SELECT cu.id, cu.username FROM tb_user cu WHERE cu.id = cm.author_id OFFSET 0) cu
    WHERE cm.post_id >= @after::uuid AND cm.post_id <= @upto::uuid
    GROUP BY cm.post_id
),
l AS (
    SELECT pl.post_id, count(*) AS like_count
    FROM tb_post_like pl
    WHERE pl.post_id >= @after::uuid AND pl.post_id <= @upto::uuid
    GROUP BY pl.post_id
),
range_src AS MATERIALIZED (
    SELECT p.id,
           public.post_document(p.id, p.title, p.content, p.published, p.created_at,
                                u.id, u.username, u.full_name,
                                c.comment_count, l.like_count, c.comments) AS data
    FROM tb_post p
    CROSS JOIN LATERAL (SELECT u.id, u.username, u.full_name FROM tb_user u WHERE u.id = p.author_id OFFSET 0) u
    LEFT JOIN c ON c.post_id = p.id
    LEFT JOIN l ON l.post_id = p.id
    WHERE p.id >= @after::uuid AND (p.id > @after::uuid OR p.id = '00000000-0000-0000-0000-000000000000') AND p.id <= @upto::uuid
),
src AS (
    SELECT r.id, r.data FROM range_src r WHERE r.id IN (SELECT unnest(@ids::uuid[]))
),
upserted AS (
    INSERT INTO tv_post (id, data, updated_at)
    SELECT src.id, src.data, clock_timestamp() FROM src
    ON CONFLICT (id) DO UPDATE
        SET data = EXCLUDED.data, updated_at = EXCLUDED.updated_at
        WHERE tv_post.data IS DISTINCT FROM EXCLUDED.data
    RETURNING tv_post.id
)
SELECT (SELECT count(*) FROM src)::int      AS found,
       (SELECT count(*) FROM upserted)::int AS upserted,
       clock_timestamp()::timestamptz       AS finished_at;

-- name: PostIDsLikedByUser :batchmany
-- PostIDsLikedByUser lists the posts the given users liked (their likeCount changes when a user goes).
SELECT post_id FROM tb_post_like WHERE user_id = ANY(@user_ids::uuid[]);

-- name: PostGetByID :one
-- PostGetByID reads one stored tv_post document as raw JSON bytes.
SELECT data FROM tv_post WHERE id = @id;

-- name: PostList :many
-- PostList reads tv_post documents in id order after a keyset cursor.
SELECT id, data FROM tv_post WHERE id >= @after::uuid AND (id > @after::uuid OR id = '00000000-0000-0000-0000-000000000000') ORDER BY id LIMIT @page_size::int;

-- name: PostCreate :one
-- PostCreate inserts a post and returns its id.
INSERT INTO tb_post (author_id, title, content, published)
VALUES (@author_id, @title, @content, @published)
RETURNING id;

-- name: PostUpdate :one
-- PostUpdate changes a post's title and content and returns its author.
UPDATE tb_post SET title = @title, content = @content, updated_at = now()
WHERE id = @id
RETURNING author_id;

-- name: PostPublish :one
-- PostPublish sets a post's published flag and returns its author.
UPDATE tb_post SET published = @published, updated_at = now()
WHERE id = @id
RETURNING author_id;

-- name: PostIncrementViewCount :execrows
-- PostIncrementViewCount adds one view to a post; view_count is in no tv_ document.
UPDATE tb_post SET view_count = view_count + 1 WHERE id = @id;

-- name: PostDelete :one
-- PostDelete deletes a post (its comments and likes cascade) and returns its author.
DELETE FROM tb_post WHERE id = @id RETURNING author_id;

-- name: PostLikeCreate :execrows
-- PostLikeCreate records that a user likes a post; a repeated like changes nothing.
INSERT INTO tb_post_like (post_id, user_id) VALUES (@post_id, @user_id)
ON CONFLICT DO NOTHING;

-- name: PostLikeDelete :execrows
-- PostLikeDelete removes a user's like of a post.
DELETE FROM tb_post_like WHERE post_id = @post_id AND user_id = @user_id;

-- name: PostLockForDelete :execrows
-- PostLockForDelete locks a post row so no comment or like can reference it until the deleting transaction ends.
SELECT 1 FROM tb_post WHERE id = @id FOR UPDATE;

-- name: PostLockByAuthorForDelete :exec
-- PostLockByAuthorForDelete locks the posts of a user being deleted so no comment or like can reference them until the transaction ends.
SELECT 1 FROM tb_post WHERE author_id = @author_id ORDER BY id FOR UPDATE;
