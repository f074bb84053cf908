-- PostRangeRefresh is PostWideRefresh for the keyset range (@after, @upto] of a full-sync chunk.
SELECT p.id, jsonb_build_object('id', p.id, 'title', p.title, 'commentCount', (SELECT count(*) FROM tb_comment cm WHERE cm.post_id = p.id)) AS data
FROM tb_post p
WHERE p.id >= @after::uuid AND (p.id > @after::uuid OR p.id = '00000000-0000-0000-0000-000000000000') AND p.id <= @upto::uuid
