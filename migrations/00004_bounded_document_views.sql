-- +goose Up

-- The same documents as 00003, with every lookup of a row a document embeds
-- (a post's author, a comment's post and author, the author of each comment
-- of a post) written as a LATERAL subquery fenced with OFFSET 0. Without the
-- fence the planner flattens the lookup into a join, and once a batch or a
-- full-sync chunk is a percent or so of the table it joins by hashing the
-- whole embedded table (all of tb_post for a chunk of comments, all of
-- tb_user for a batch of posts): the cost then follows the table, not the
-- batch. Fenced, each lookup is an index probe per row of the batch, at any
-- scale and whatever the statistics say (sync/plancheck checks it). The
-- foreign keys guarantee each lookup finds its row, as the inner joins did.

-- +goose StatementBegin
DO $$
BEGIN
    IF to_regprocedure('tvsync.ts(timestamptz)') IS NULL THEN
        RAISE EXCEPTION 'schema tvsync is not migrated: apply tvsync''s migrations (syncmigrate.Up, or migrate up) before the blog''s';
    END IF;
END
$$;
-- +goose StatementEnd

CREATE OR REPLACE VIEW tv_post_source AS
SELECT p.id,
       jsonb_build_object(
           'id', p.id,
           'title', p.title,
           'content', p.content,
           'published', p.published,
           'createdAt', tvsync.ts(p.created_at),
           'author', jsonb_build_object('id', u.id, 'username', u.username, 'fullName', u.full_name),
           'commentCount', c.comment_count,
           'likeCount', l.like_count,
           'comments', coalesce(c.comments, '[]'::jsonb)
       ) AS data
FROM tb_post p
CROSS JOIN LATERAL (SELECT u.id, u.username, u.full_name FROM tb_user u WHERE u.id = p.author_id OFFSET 0) u
CROSS JOIN LATERAL (
    SELECT count(*) AS comment_count,
           jsonb_agg(jsonb_build_object(
               'id', cm.id,
               'content', cm.content,
               'createdAt', tvsync.ts(cm.created_at),
               'author', jsonb_build_object('id', cu.id, 'username', cu.username)
           ) ORDER BY cm.created_at DESC, cm.id DESC) AS comments
    FROM tb_comment cm
    CROSS JOIN LATERAL (SELECT cu.id, cu.username FROM tb_user cu WHERE cu.id = cm.author_id OFFSET 0) cu
    WHERE cm.post_id = p.id
) c
CROSS JOIN LATERAL (
    SELECT count(*) AS like_count FROM tb_post_like pl WHERE pl.post_id = p.id
) l;
COMMENT ON VIEW tv_post_source IS 'Definition of tv_post documents: {id, title, content, published, createdAt, author, commentCount, likeCount, comments[] newest first}.';

CREATE OR REPLACE VIEW tv_comment_source AS
SELECT c.id,
       jsonb_build_object(
           'id', c.id,
           'content', c.content,
           'createdAt', tvsync.ts(c.created_at),
           'post', jsonb_build_object('id', p.id, 'title', p.title),
           'author', jsonb_build_object('id', u.id, 'username', u.username)
       ) AS data
FROM tb_comment c
CROSS JOIN LATERAL (SELECT p.id, p.title FROM tb_post p WHERE p.id = c.post_id OFFSET 0) p
CROSS JOIN LATERAL (SELECT u.id, u.username FROM tb_user u WHERE u.id = c.author_id OFFSET 0) u;
COMMENT ON VIEW tv_comment_source IS 'Definition of tv_comment documents: {id, content, createdAt, post {id, title}, author {id, username}}.';

-- +goose Down

CREATE OR REPLACE VIEW tv_comment_source AS
SELECT c.id,
       jsonb_build_object(
           'id', c.id,
           'content', c.content,
           'createdAt', tvsync.ts(c.created_at),
           'post', jsonb_build_object('id', p.id, 'title', p.title),
           'author', jsonb_build_object('id', u.id, 'username', u.username)
       ) AS data
FROM tb_comment c
JOIN tb_post p ON p.id = c.post_id
JOIN tb_user u ON u.id = c.author_id;

CREATE OR REPLACE VIEW tv_post_source AS
SELECT p.id,
       jsonb_build_object(
           'id', p.id,
           'title', p.title,
           'content', p.content,
           'published', p.published,
           'createdAt', tvsync.ts(p.created_at),
           'author', jsonb_build_object('id', u.id, 'username', u.username, 'fullName', u.full_name),
           'commentCount', c.comment_count,
           'likeCount', l.like_count,
           'comments', coalesce(c.comments, '[]'::jsonb)
       ) AS data
FROM tb_post p
JOIN tb_user u ON u.id = p.author_id
CROSS JOIN LATERAL (
    SELECT count(*) AS comment_count,
           jsonb_agg(jsonb_build_object(
               'id', cm.id,
               'content', cm.content,
               'createdAt', tvsync.ts(cm.created_at),
               'author', jsonb_build_object('id', cu.id, 'username', cu.username)
           ) ORDER BY cm.created_at DESC, cm.id DESC) AS comments
    FROM tb_comment cm
    JOIN tb_user cu ON cu.id = cm.author_id
    WHERE cm.post_id = p.id
) c
CROSS JOIN LATERAL (
    SELECT count(*) AS like_count FROM tb_post_like pl WHERE pl.post_id = p.id
) l;
