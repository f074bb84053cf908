// Package shop is a second domain built on tvsync's public kit only, the way
// a team that brings its own schema would: customers, products, orders and
// their lines, reviews (bigint keys, money in integer cents) in tb_ command
// tables, and the documents tv_customer, tv_product, tv_order and tv_review
// kept in step by explicit sync.
//
// What the team wrote by hand: the tables and the four document views
// (migrations/), the writes and reads (queries/shop.sql and review.sql),
// the declarations (tvsync.yaml) and this package's unit of work. What tvsync derived: the
// sync statements (queries/*.gen.sql) and their registration
// (entities_gen.go), by tvsync gen; db/ is sqlc's.
//
// A Shop runs units of work over package syncuow: each typed write of a
// UnitOfWork records every entity it affects, so that when the unit of work
// commits tvsync syncs exactly those documents (by the Runner's mode: after
// commit, inline, or deferred to a worker).
package shop

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tvsync/tvsync/examples/shop/db"
	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/syncuow"
)

// Errors of the shop's writes and reads. Test for them with errors.Is.
var (
	// ErrNotFound is a customer, product, order, line or review that does
	// not exist.
	ErrNotFound = errors.New("shop: not found")
	// ErrInvalid is a write with an invalid argument (an empty name, an
	// order without lines, a quantity below 1, a product twice on an order,
	// a review rated out of 1..5 or without a body).
	ErrInvalid = errors.New("shop: invalid argument")
)

// NewEngine returns a sync engine over pool for the shop's entities.
func NewEngine(pool tvsync.Beginner, cfg tvsync.Config) (*tvsync.Engine, error) {
	e, err := tvsync.NewEngine(pool, cfg, Entities()...)
	if err != nil {
		return nil, fmt.Errorf("shop: register entities: %w", err)
	}
	return e, nil
}

// Shop is the shop's write and read API. It is safe for concurrent use.
type Shop struct {
	pool   *pgxpool.Pool
	runner *syncuow.Runner
	q      *db.Queries
}

// New returns a Shop whose units of work run on pool and are synced by
// engine (built with NewEngine) per opts.Timing. It fails when opts is
// invalid (syncuow.New's error names the field).
func New(pool *pgxpool.Pool, engine *tvsync.Engine, opts syncuow.Options) (*Shop, error) {
	runner, err := syncuow.New(pool, engine, opts)
	if err != nil {
		return nil, err
	}
	return &Shop{pool: pool, runner: runner, q: db.New()}, nil
}

// WithTiming returns a copy of s whose units of work sync at timing m.
func (s *Shop) WithTiming(m syncuow.Timing) *Shop {
	c := *s
	c.runner = s.runner.WithTiming(m)
	return &c
}

// InTx runs fn in one unit of work: a transaction that commits when fn
// returns nil, after which every document the writes affected is synced
// (by the mode); an error from fn rolls everything back and is returned.
func (s *Shop) InTx(ctx context.Context, fn func(u *UnitOfWork) error) error {
	return s.runner.Run(ctx, func(w *syncuow.Work) error {
		return fn(&UnitOfWork{w: w, q: s.q})
	})
}

// GetCustomer reads the stored tv_customer document of a customer.
func (s *Shop) GetCustomer(ctx context.Context, id int64) (json.RawMessage, error) {
	data, err := s.q.CustomerGetByID(ctx, s.pool, id)
	return document("customer", id, data, err)
}

// GetProduct reads the stored tv_product document of a product.
func (s *Shop) GetProduct(ctx context.Context, sku string) (json.RawMessage, error) {
	data, err := s.q.ProductGetByID(ctx, s.pool, sku)
	return document("product", sku, data, err)
}

// OrdersOfCustomer reads the stored tv_order documents of a customer's
// orders, newest first: a filter on tv_order's own customer_id column
// (declared under columns: in tvsync.yaml, kept in step by every sync of
// the order), so it reads no tb_ table. A customer without orders, or
// unknown, has none.
func (s *Shop) OrdersOfCustomer(ctx context.Context, customerID int64) ([]json.RawMessage, error) {
	docs, err := s.q.OrdersOfCustomer(ctx, s.pool, customerID)
	if err != nil {
		return nil, fmt.Errorf("get the orders of customer %d: %w", customerID, err)
	}
	out := make([]json.RawMessage, len(docs))
	for i, d := range docs {
		out[i] = json.RawMessage(d)
	}
	return out, nil
}

// GetOrder reads the stored tv_order document of an order.
func (s *Shop) GetOrder(ctx context.Context, id int64) (json.RawMessage, error) {
	data, err := s.q.OrderGetByID(ctx, s.pool, id)
	return document("order", id, data, err)
}

// document returns a read document, or an error naming it (ErrNotFound when
// it has no tv_ row).
func document[K int64 | string](entity string, id K, data []byte, err error) (json.RawMessage, error) {
	if err != nil {
		return nil, fmt.Errorf("get %s %v: %w", entity, id, notFound(err))
	}
	return json.RawMessage(data), nil
}

// notFound translates pgx.ErrNoRows to ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	return err
}
