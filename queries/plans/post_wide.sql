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
)
SELECT posts.id,
       public.post_document(posts.id, posts.title, posts.content, posts.published, posts.created_at,
                            posts.author_id, posts.username, posts.full_name,
                            c.comment_count, posts.like_count, c.comments) AS data
FROM posts
LEFT JOIN c ON c.post_id = posts.id;
