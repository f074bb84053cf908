-- The review's writes and reads, hand-written (its sync statements are
-- generated in review.gen.sql).

-- name: ReviewCreate :one
-- ReviewCreate inserts a review of a product by a customer and returns its id.
INSERT INTO shop.tb_review (product_id, customer_id, rating, body) VALUES (@product_id, @customer_id, @rating, @body) RETURNING id;

-- name: ReviewDelete :execrows
-- ReviewDelete deletes a review.
DELETE FROM shop.tb_review WHERE id = @id;

-- name: ReviewGetByID :one
-- ReviewGetByID reads one stored tv_review document as raw JSON bytes.
SELECT data FROM shop.tv_review WHERE id = @id;
