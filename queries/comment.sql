-- name: CommentGetByID :one
-- CommentGetByID reads one stored tv_comment document as raw JSON bytes.
SELECT data FROM tv_comment WHERE id = @id;

-- name: CommentCreate :one
-- CommentCreate inserts a comment and returns its id.
INSERT INTO tb_comment (post_id, author_id, content) VALUES (@post_id, @author_id, @content) RETURNING id;

-- name: CommentDelete :one
-- CommentDelete deletes a comment and returns the post and author it belonged to.
DELETE FROM tb_comment WHERE id = @id RETURNING post_id, author_id;
