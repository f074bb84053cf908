-- +goose Up

-- The tv_ document definitions, one view per entity: what the JSONB of each
-- id must be, computed from the command tables. The sync statements upsert
-- from these views for a batch of ids (the id filter is pushed down into
-- the view, so a batch reads only its own rows through the indexes), and
-- verification compares them with the stored rows. Changing a document's
-- shape is a migration that replaces its view, then a full sync or rebuild.

CREATE VIEW tv_user_source AS
SELECT u.id,
       jsonb_build_object(
           'id', u.id,
           'username', u.username,
           'fullName', u.full_name,
           'createdAt', tvsync_ts(u.created_at),
           'postCount', pc.post_count,
           'commentCount', cc.comment_count
       ) AS data
FROM tb_user u
CROSS JOIN LATERAL (SELECT count(*) AS post_count FROM tb_post p WHERE p.author_id = u.id) pc
CROSS JOIN LATERAL (SELECT count(*) AS comment_count FROM tb_comment c WHERE c.author_id = u.id) cc;
COMMENT ON VIEW tv_user_source IS 'Definition of tv_user documents: {id, username, fullName, createdAt, postCount, commentCount}.';

CREATE VIEW tv_post_source AS
SELECT p.id,
       jsonb_build_object(
           'id', p.id,
           'title', p.title,
           'content', p.content,
           'published', p.published,
           'createdAt', tvsync_ts(p.created_at),
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
               'createdAt', tvsync_ts(cm.created_at),
               'author', jsonb_build_object('id', cu.id, 'username', cu.username)
           ) ORDER BY cm.created_at DESC, cm.id DESC) AS comments
    FROM tb_comment cm
    JOIN tb_user cu ON cu.id = cm.author_id
    WHERE cm.post_id = p.id
) c
CROSS JOIN LATERAL (
    SELECT count(*) AS like_count FROM tb_post_like pl WHERE pl.post_id = p.id
) l;
COMMENT ON VIEW tv_post_source IS 'Definition of tv_post documents: {id, title, content, published, createdAt, author, commentCount, likeCount, comments[] newest first}.';

CREATE VIEW tv_comment_source AS
SELECT c.id,
       jsonb_build_object(
           'id', c.id,
           'content', c.content,
           'createdAt', tvsync_ts(c.created_at),
           'post', jsonb_build_object('id', p.id, 'title', p.title),
           'author', jsonb_build_object('id', u.id, 'username', u.username)
       ) AS data
FROM tb_comment c
JOIN tb_post p ON p.id = c.post_id
JOIN tb_user u ON u.id = c.author_id;
COMMENT ON VIEW tv_comment_source IS 'Definition of tv_comment documents: {id, content, createdAt, post {id, title}, author {id, username}}.';

-- +goose Down
DROP VIEW tv_comment_source;
DROP VIEW tv_post_source;
DROP VIEW tv_user_source;
