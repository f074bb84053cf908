-- PostWideRefresh is PostRefresh for large batches: the comments of the
-- batch aggregated once, set-based.

WITH posts AS MATERIALIZED (
    SELECT p.id, p.title FROM (SELECT DISTINCT unnest(@ids::uuid[]) AS id) b
    CROSS JOIN LATERAL (SELECT p.id, p.title FROM tb_post p WHERE p.id = b.id OFFSET 0) p
),
c AS MATERIALIZED (
    SELECT cm.post_id, count(*) AS n FROM tb_comment cm WHERE cm.post_id = ANY(@ids::uuid[]) GROUP BY cm.post_id
)
SELECT posts.id, jsonb_build_object('id', posts.id, 'title', posts.title, 'commentCount', coalesce(c.n, 0)) AS data
FROM posts LEFT JOIN c ON c.post_id = posts.id;
