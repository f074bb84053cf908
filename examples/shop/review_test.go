package shop_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/examples/shop"
	"github.com/tvsync/tvsync/sync/syncuow"
)

// reviewDoc is a tv_review document, as tv_review_source defines it.
type reviewDoc struct {
	ID      int64  `json:"id"`
	Rating  int32  `json:"rating"`
	Body    string `json:"body"`
	Product struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"product"`
	Author struct {
		ID   int64  `json:"id"`
		Name string `json:"name"`
	} `json:"author"`
	CreatedAt time.Time `json:"createdAt"`
}

func (f fixture) review(t *testing.T, id int64) reviewDoc {
	t.Helper()
	return decode[reviewDoc](t)(f.shop.GetReview(context.Background(), id))
}

// addReviews adds, in one unit of work, a review by each customer of each
// product, and returns their ids, customer by customer.
func (f fixture) addReviews(t *testing.T, customers []int64, products []string) []int64 {
	t.Helper()
	var ids []int64
	f.do(t, func(u *shop.UnitOfWork) error {
		for i, c := range customers {
			for j, p := range products {
				id, err := u.AddReview(context.Background(), p, c, int32(1+(i+j)%5), "review")
				if err != nil {
					return err
				}
				ids = append(ids, id)
			}
		}
		return nil
	})
	return ids
}

// TestReview_AddBuildsItsDocument adds a review: its tv_review embeds its
// product and its author; a rating out of 1..5 or an unknown product is
// refused, naming the input, and nothing is written.
func TestReview_AddBuildsItsDocument(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, syncuow.AfterCommit, 0)
	ada, products := f.catalog(t, "Ada", 1)
	var id int64
	f.do(t, func(u *shop.UnitOfWork) (err error) {
		id, err = u.AddReview(ctx, products[0], ada, 4, "Pours well.")
		return err
	})

	doc := f.review(t, id)
	assert.Equal(t, id, doc.ID)
	assert.Equal(t, int32(4), doc.Rating)
	assert.Equal(t, "Pours well.", doc.Body)
	assert.Equal(t, products[0], doc.Product.ID)
	assert.Equal(t, "product 0", doc.Product.Name)
	assert.Equal(t, ada, doc.Author.ID)
	assert.Equal(t, "Ada", doc.Author.Name)
	assert.False(t, doc.CreatedAt.IsZero())

	err := f.shop.InTx(ctx, func(u *shop.UnitOfWork) error {
		_, err := u.AddReview(ctx, products[0], ada, 6, "Too good.")
		return err
	})
	require.ErrorIs(t, err, shop.ErrInvalid)
	assert.Contains(t, err.Error(), "rating 6")
	err = f.shop.InTx(ctx, func(u *shop.UnitOfWork) error {
		_, err := u.AddReview(ctx, "NO-4242", ada, 3, "Missing.")
		return err
	})
	require.ErrorIs(t, err, shop.ErrNotFound)
	assert.Contains(t, err.Error(), "4242")
	assert.Equal(t, 1, f.count(t, "SELECT count(*) FROM shop.tv_review"))

	f.do(t, func(u *shop.UnitOfWork) error { return u.DeleteReview(ctx, id) })
	assert.Zero(t, f.count(t, "SELECT count(*) FROM shop.tv_review"))
	err = f.shop.InTx(ctx, func(u *shop.UnitOfWork) error { return u.DeleteReview(ctx, id) })
	require.ErrorIs(t, err, shop.ErrNotFound)
	f.requireNoDrift(t)
}

// TestCascade_RenamesReachTvReview renames a product, then a customer: the
// tv_review of each of their reviews shows the new name (by the declared
// cascades), and a review of neither is not rewritten.
func TestCascade_RenamesReachTvReview(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, syncuow.AfterCommit, 0)
	ada, products := f.catalog(t, "Ada", 2)
	var bob int64
	f.do(t, func(u *shop.UnitOfWork) (err error) {
		bob, err = u.CreateCustomer(ctx, "Bob")
		return err
	})
	adas := f.addReviews(t, []int64{ada}, products)     // ada on products 0 and 1
	bobs := f.addReviews(t, []int64{bob}, products[1:]) // bob on product 1
	var before time.Time
	require.NoError(t, f.pool.QueryRow(ctx, "SELECT updated_at FROM shop.tv_review WHERE id = $1", bobs[0]).Scan(&before))

	f.do(t, func(u *shop.UnitOfWork) error { return u.RenameProduct(ctx, products[0], "Teapot") })
	assert.Equal(t, "Teapot", f.review(t, adas[0]).Product.Name)
	assert.Equal(t, "product 1", f.review(t, adas[1]).Product.Name)

	f.do(t, func(u *shop.UnitOfWork) error { return u.RenameCustomer(ctx, ada, "Ada L.") })
	for _, id := range adas {
		assert.Equal(t, "Ada L.", f.review(t, id).Author.Name, "review %d", id)
	}
	assert.Equal(t, "Bob", f.review(t, bobs[0]).Author.Name)
	var after time.Time
	require.NoError(t, f.pool.QueryRow(ctx, "SELECT updated_at FROM shop.tv_review WHERE id = $1", bobs[0]).Scan(&after))
	assert.Equal(t, before, after, "a review of neither the product nor the customer was rewritten")
	f.requireNoDrift(t)
}

// TestDelete_CustomerRemovesItsReviews deletes a customer with reviews (and
// an order): the tv_review of each of its reviews goes (the reviews cascade
// in the database, looked up before the delete), the other customer's stay.
func TestDelete_CustomerRemovesItsReviews(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, syncuow.AfterCommit, 0)
	ada, products := f.catalog(t, "Ada", 3)
	var bob int64
	f.do(t, func(u *shop.UnitOfWork) (err error) {
		if bob, err = u.CreateCustomer(ctx, "Bob"); err != nil {
			return err
		}
		_, err = u.CreateOrder(ctx, ada, shop.Line{ProductID: products[0], Quantity: 1})
		return err
	})
	adas := f.addReviews(t, []int64{ada}, products)
	bobs := f.addReviews(t, []int64{bob}, products[:1])
	require.Equal(t, 4, f.count(t, "SELECT count(*) FROM shop.tv_review"))

	f.do(t, func(u *shop.UnitOfWork) error { return u.DeleteCustomer(ctx, ada) })

	assert.Zero(t, f.count(t, "SELECT count(*) FROM shop.tv_review WHERE id = ANY($1)", adas))
	assert.Equal(t, 1, f.count(t, "SELECT count(*) FROM shop.tv_review"))
	assert.Equal(t, "Bob", f.review(t, bobs[0]).Author.Name)
	f.requireNoDrift(t)
}

// TestDelete_ProductRemovesItsReviews: deleting a product takes its reviews
// with it (ON DELETE CASCADE), so the delete records them, looked up
// before; a product on an order cannot be deleted, and the refusal names it
// and changes nothing.
func TestDelete_ProductRemovesItsReviews(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, syncuow.AfterCommit, 0)
	ada, products := f.catalog(t, "Ada", 3)
	f.do(t, func(u *shop.UnitOfWork) error {
		_, err := u.CreateOrder(ctx, ada, shop.Line{ProductID: products[0], Quantity: 1})
		return err
	})
	sold := f.addReviews(t, []int64{ada}, products[:1])
	unsold := f.addReviews(t, []int64{ada}, products[1:2])
	require.Equal(t, 2, f.count(t, "SELECT count(*) FROM shop.tv_review"))

	f.do(t, func(u *shop.UnitOfWork) error { return u.DeleteProduct(ctx, products[1]) })
	assert.Zero(t, f.count(t, "SELECT count(*) FROM shop.tv_product WHERE id = $1", products[1]))
	assert.Zero(t, f.count(t, "SELECT count(*) FROM shop.tv_review WHERE id = ANY($1)", unsold))
	f.requireNoDrift(t)

	err := f.shop.InTx(ctx, func(u *shop.UnitOfWork) error { return u.DeleteProduct(ctx, products[0]) })
	require.ErrorIs(t, err, shop.ErrInvalid)
	assert.Contains(t, err.Error(), fmt.Sprintf("product %q", products[0]))
	assert.Equal(t, 1, f.count(t, "SELECT count(*) FROM shop.tb_review WHERE id = ANY($1)", sold), "the refused delete changed nothing")
	require.ErrorIs(t, f.shop.InTx(ctx, func(u *shop.UnitOfWork) error { return u.DeleteProduct(ctx, "NO-987654321") }), shop.ErrNotFound)
	f.requireNoDrift(t)
}
