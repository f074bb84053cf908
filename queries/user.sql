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

-- name: UserLockForDelete :execrows
-- UserLockForDelete locks a user row so no post, comment or like can reference it until the deleting transaction ends.
SELECT 1 FROM tb_user WHERE id = @id FOR UPDATE;
