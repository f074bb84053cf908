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
