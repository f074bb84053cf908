-- +goose Up

-- The JSON shape of a tv_post document, and of the comment element it
-- embeds, written once: post_document builds the document from its parts
-- (the post's columns, its author's, the comment and like counts and the
-- aggregated comments array), post_comment_element one element of
-- comments[]. tv_post_source calls them, and so do the hand-tuned plans of
-- queries/post.sql (PostWideRefresh, PostRangeRefresh), which differ from
-- the view only in how they gather the parts. The rows a document embeds
-- and the order of comments[] stay with each caller.
--
-- Both are LANGUAGE sql, a single RETURN expression, STABLE like what they
-- call (jsonb_build_object, tvsync.ts), neither STRICT nor SECURITY DEFINER
-- nor SET, each argument used once: PostgreSQL inlines them into the
-- calling statement, whose plan is then exactly the plan of the expression
-- written in place (no function call per row; the queries/ tests check
-- EXPLAIN VERBOSE). The SQL-standard bodies are bound when created, so no
-- caller's search_path can redirect what they call; callers name them
-- schema-qualified (public.post_document), so no function of the same
-- signature planted earlier on a search_path is resolved instead.
-- NULL counts or comments (a post nothing joined to) become 0 and [].

-- +goose StatementBegin
CREATE FUNCTION public.post_comment_element(
    id uuid, content text, created_at timestamptz, author_id uuid, author_username text
) RETURNS jsonb
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN pg_catalog.jsonb_build_object(
        'id', id,
        'content', content,
        'createdAt', tvsync.ts(created_at),
        'author', pg_catalog.jsonb_build_object('id', author_id, 'username', author_username)
    );
-- +goose StatementEnd
COMMENT ON FUNCTION public.post_comment_element(uuid, text, timestamptz, uuid, text) IS
    'One element of tv_post''s comments[]: {id, content, createdAt, author {id, username}}.';

-- +goose StatementBegin
CREATE FUNCTION public.post_document(
    id uuid, title text, content text, published boolean, created_at timestamptz,
    author_id uuid, author_username text, author_full_name text,
    comment_count bigint, like_count bigint, comments jsonb
) RETURNS jsonb
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN pg_catalog.jsonb_build_object(
        'id', id,
        'title', title,
        'content', content,
        'published', published,
        'createdAt', tvsync.ts(created_at),
        'author', pg_catalog.jsonb_build_object('id', author_id, 'username', author_username, 'fullName', author_full_name),
        'commentCount', coalesce(comment_count, 0),
        'likeCount', coalesce(like_count, 0),
        'comments', coalesce(comments, '[]'::pg_catalog.jsonb)
    );
-- +goose StatementEnd
COMMENT ON FUNCTION public.post_document(uuid, text, text, boolean, timestamptz, uuid, text, text, bigint, bigint, jsonb) IS
    'The tv_post document: {id, title, content, published, createdAt, author {id, username, fullName}, commentCount, likeCount, comments[]}; comments is a jsonb array of post_comment_element.';

-- The documents and the per-id plan of 00004, the shape now built by the
-- functions above (inlined, the plan is 00004's).
CREATE OR REPLACE VIEW tv_post_source AS
SELECT p.id,
       public.post_document(p.id, p.title, p.content, p.published, p.created_at,
                            u.id, u.username, u.full_name,
                            c.comment_count, l.like_count, c.comments) AS data
FROM tb_post p
CROSS JOIN LATERAL (SELECT u.id, u.username, u.full_name FROM tb_user u WHERE u.id = p.author_id OFFSET 0) u
CROSS JOIN LATERAL (
    SELECT count(*) AS comment_count,
           jsonb_agg(public.post_comment_element(cm.id, cm.content, cm.created_at, cu.id, cu.username)
                     ORDER BY cm.created_at DESC, cm.id DESC) AS comments
    FROM tb_comment cm
    CROSS JOIN LATERAL (SELECT cu.id, cu.username FROM tb_user cu WHERE cu.id = cm.author_id OFFSET 0) cu
    WHERE cm.post_id = p.id
) c
CROSS JOIN LATERAL (
    SELECT count(*) AS like_count FROM tb_post_like pl WHERE pl.post_id = p.id
) l;
COMMENT ON VIEW tv_post_source IS 'Definition of tv_post documents (shape: public.post_document): {id, title, content, published, createdAt, author, commentCount, likeCount, comments[] newest first}.';

-- +goose Down

-- 00004's view, then the functions it no longer calls.
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

DROP FUNCTION public.post_document(uuid, text, text, boolean, timestamptz, uuid, text, text, bigint, bigint, jsonb);
DROP FUNCTION public.post_comment_element(uuid, text, timestamptz, uuid, text);
