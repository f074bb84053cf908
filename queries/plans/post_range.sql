-- PostRangeRefresh is PostWideRefresh for the keyset range of ids (@after, @upto] of a full-sync chunk: posts, comments and likes are each read as one index range scan, and each author through an index (the OFFSET 0 fences), so a chunk never reads the whole of tb_user.
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
)
SELECT p.id,
       public.post_document(p.id, p.title, p.content, p.published, p.created_at,
                            u.id, u.username, u.full_name,
                            c.comment_count, l.like_count, c.comments) AS data
FROM tb_post p
CROSS JOIN LATERAL (SELECT u.id, u.username, u.full_name FROM tb_user u WHERE u.id = p.author_id OFFSET 0) u
LEFT JOIN c ON c.post_id = p.id
LEFT JOIN l ON l.post_id = p.id
WHERE p.id >= @after::uuid AND (p.id > @after::uuid OR p.id = '00000000-0000-0000-0000-000000000000') AND p.id <= @upto::uuid;
