-- The review's writes and reads, hand-written (its sync statements are
-- generated in review.gen.sql).

-- name: ReviewCreate :one
-- ReviewCreate inserts a review of a product by a customer and returns its id.
INSERT INTO shop.tb_review (product_id, customer_id, rating, body) VALUES (@product_id, @customer_id, @rating, @body) RETURNING id;

-- name: ReviewDelete :execrows
-- ReviewDelete deletes a review.
DELETE FROM shop.tb_review WHERE id = @id;

-- name: CustomerReviewIDs :many
-- CustomerReviewIDs lists the reviews of a customer, in id order (a delete of the customer takes them with it).
SELECT id FROM shop.tb_review WHERE customer_id = @customer_id ORDER BY id;

-- name: ReviewGetByID :one
-- ReviewGetByID reads one stored tv_review document as raw JSON bytes.
SELECT data FROM shop.tv_review WHERE id = @id;

-- name: ProductReviewIDs :many
-- ProductReviewIDs lists the reviews of a product, in id order (a delete of the product takes them with it).
SELECT id FROM shop.tb_review WHERE product_id = @product_id ORDER BY id;
