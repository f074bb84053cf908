package shop

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tvsync/tvsync/examples/shop/db"
)

// AddReview adds a customer's review of a product, rated 1 to 5 with a
// non-empty body, and returns its id. It records its tv_review.
func (u *UnitOfWork) AddReview(ctx context.Context, productID string, customerID int64, rating int32, body string) (int64, error) {
	if rating < 1 || rating > 5 || strings.TrimSpace(body) == "" {
		return 0, fmt.Errorf("add review of product %q by customer %d (rating %d): %w", productID, customerID, rating, ErrInvalid)
	}
	id, err := u.q.ReviewCreate(ctx, u.w.Tx(), db.ReviewCreateParams{ProductID: productID, CustomerID: customerID, Rating: rating, Body: body})
	if err != nil {
		return 0, fmt.Errorf("add review of product %q by customer %d: %w", productID, customerID, foreignKey(err))
	}
	u.record(EntityReview, false, id)
	return id, nil
}

// DeleteReview deletes a review. It records its tv_review.
func (u *UnitOfWork) DeleteReview(ctx context.Context, id int64) error {
	n, err := u.q.ReviewDelete(ctx, u.w.Tx(), id)
	if err != nil {
		return fmt.Errorf("delete review %d: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("delete review %d: %w", id, ErrNotFound)
	}
	u.record(EntityReview, false, id)
	return nil
}

// GetReview reads the stored tv_review document of a review.
func (s *Shop) GetReview(ctx context.Context, id int64) (json.RawMessage, error) {
	data, err := s.q.ReviewGetByID(ctx, s.pool, id)
	return document("review", id, data, err)
}
