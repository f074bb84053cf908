package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	gosync "sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvsync/tvsync/examples/shop"
	"github.com/tvsync/tvsync/examples/shop/migrations"
	tvsync "github.com/tvsync/tvsync/sync"
	"github.com/tvsync/tvsync/sync/synccli"
	"github.com/tvsync/tvsync/sync/syncdbtest"
	"github.com/tvsync/tvsync/sync/syncmigrate"
	"github.com/tvsync/tvsync/sync/syncuow"
)

// binDir holds the shop binary the tests build (binary).
var binDir string

func TestMain(m *testing.M) {
	var err error
	if binDir, err = os.MkdirTemp("", "shop-cli-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := syncdbtest.Main(m, syncdbtest.Options{
		Migrations: []syncmigrate.Set{migrations.Set()},
	})
	os.RemoveAll(binDir)
	os.Exit(code)
}

// binary builds the shop command (this package) once for the package's
// tests, so that they run it as an operator does.
var binary = gosync.OnceValues(func() (string, error) {
	path := filepath.Join(binDir, "shop")
	out, err := exec.Command("go", "build", "-o", path, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build ./cmd/shop: %w\n%s", err, out)
	}
	return path, nil
})

// run runs the shop binary on args against the database at url (given as
// DATABASE_URL) and returns its exit status and output.
func run(t *testing.T, url string, args ...string) (int, string) {
	t.Helper()
	path, err := binary()
	require.NoError(t, err)
	cmd := exec.Command(path, append([]string{"--progress", "none"}, args...)...)
	cmd.Env = append(os.Environ(), "DATABASE_URL="+url)
	out, err := cmd.CombinedOutput()
	code := 0
	if exit, ok := errors.AsType[*exec.ExitError](err); ok {
		code = exit.ExitCode()
	} else {
		require.NoError(t, err)
	}
	t.Logf("shop %v: exit %d\n%s", args, code, out)
	return code, string(out)
}

// TestVerify_FindsAndRepairsDriftPlantedInTvOrder plants an orphaned and a
// stale row in tv_order: "shop verify" exits 1 naming both, "shop verify
// --repair" fixes them, and a second verify exits 0.
func TestVerify_FindsAndRepairsDriftPlantedInTvOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := syncdbtest.URL(t)
	code, _ := run(t, url, "verify")
	require.Equal(t, synccli.ExitOK, code, "a fresh database has no drift")

	p, err := pgxpool.New(ctx, url)
	require.NoError(t, err)
	defer p.Close()
	engine, err := shop.NewEngine(p, tvsync.Config{})
	require.NoError(t, err)
	s, err := shop.New(p, engine, syncuow.Options{Timing: syncuow.Inline})
	require.NoError(t, err)
	var stale, kept int64
	require.NoError(t, s.InTx(ctx, func(u *shop.UnitOfWork) error {
		c, err := u.CreateCustomer(ctx, "Ada")
		if err != nil {
			return err
		}
		const pr = "TEA-1"
		if err := u.CreateProduct(ctx, pr, "Teapot", 2500); err != nil {
			return err
		}
		if stale, err = u.CreateOrder(ctx, c, shop.Line{ProductID: pr, Quantity: 1}); err != nil {
			return err
		}
		kept, err = u.CreateOrder(ctx, c, shop.Line{ProductID: pr, Quantity: 2})
		return err
	}))
	_, err = p.Exec(ctx, `UPDATE shop.tv_order SET data = jsonb_set(data, '{totalCents}', '1') WHERE id = $1`, stale)
	require.NoError(t, err)
	_, err = p.Exec(ctx, `INSERT INTO shop.tv_order (id, data, customer_id) VALUES (987654321, '{"id": 987654321}', 0)`)
	require.NoError(t, err)

	code, out := run(t, url, "verify")
	assert.Equal(t, synccli.ExitFailure, code)
	assert.Regexp(t, `order +checked=2 missing=0 stale=1 orphaned=1`, out)
	assert.Regexp(t, `stale e\.g\. \[`+strconv.FormatInt(stale, 10)+`\]`, out)
	assert.Regexp(t, `orphaned e\.g\. \[987654321\]`, out)
	assert.NotContains(t, out, strconv.FormatInt(kept, 10)+"]", "the intact order is not named")

	code, out = run(t, url, "verify", "--repair")
	assert.Equal(t, synccli.ExitOK, code)
	assert.Regexp(t, `order +checked=2 missing=0 stale=1 orphaned=1 repaired=2`, out)

	code, out = run(t, url, "verify")
	assert.Equal(t, synccli.ExitOK, code)
	assert.Regexp(t, `order +checked=2 missing=0 stale=0 orphaned=0`, out)
	var total int64
	require.NoError(t, p.QueryRow(ctx, `SELECT (data->>'totalCents')::bigint FROM shop.tv_order WHERE id = $1`, stale).Scan(&total))
	assert.Equal(t, int64(2500), total)
}

// TestMigrateUp_CreatesNoBlogTableAndTwoVersionTables runs "shop migrate up"
// on an empty database: the shop's tables and tvsync's schema exist, no
// table of tvsync's blog does, and the two sets keep their own version
// tables (tvsync.tvsync_migrations and shop.shop_migrations, in the schema
// shop that the shop's first migration creates; no goose_db_version).
func TestMigrateUp_CreatesNoBlogTableAndTwoVersionTables(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := syncdbtest.Empty(t)
	var name string
	require.NoError(t, pool.QueryRow(ctx, "SELECT current_database()").Scan(&name))

	code, _ := run(t, syncdbtest.ServerURL(name), "migrate", "up")
	require.Equal(t, synccli.ExitOK, code)

	exists := func(rel string) bool {
		var ok bool
		require.NoError(t, pool.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", rel).Scan(&ok))
		return ok
	}
	for _, rel := range []string{"shop.tb_customer", "shop.tb_product", "shop.tb_order", "shop.tb_order_line", "shop.tb_review", "shop.tb_shipment", "shop.tv_customer", "shop.tv_product", "shop.tv_order", "shop.tv_review",
		"shop.tv_order_source", "shop.tv_review_source", "tvsync.sync_queue", "tvsync.sync_log", "tvsync.tvsync_migrations", "shop.shop_migrations"} {
		assert.True(t, exists(rel), "%s missing", rel)
	}
	for _, rel := range []string{"tb_user", "tb_post", "tb_comment", "tb_post_like", "tv_user", "tv_post", "tv_comment",
		"tv_user_source", "tv_post_source", "tv_comment_source", "goose_db_version", "tvsync.goose_db_version"} {
		assert.False(t, exists(rel), "%s created", rel)
	}
	var blogish int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND c.relname ~ '(user|post|comment)'`).Scan(&blogish))
	assert.Zero(t, blogish, "a relation of the blog")
	var shopVersion, tvsyncVersion int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT (SELECT max(version_id) FROM shop.shop_migrations WHERE is_applied),
		(SELECT max(version_id) FROM tvsync.tvsync_migrations WHERE is_applied)`).Scan(&shopVersion, &tvsyncVersion))
	assert.Equal(t, int64(3), shopVersion)
	assert.Positive(t, tvsyncVersion)

	code, out := run(t, syncdbtest.ServerURL(name), "migrate", "status")
	assert.Equal(t, synccli.ExitOK, code)
	assert.Contains(t, out, "00001_shop.sql")
	assert.Contains(t, out, "00002_review.sql")
	assert.Contains(t, out, "00003_shipping.sql")
}

// TestGen_CheckFindsTheCommittedFilesFresh runs "shop gen --check" on the
// shop's declarations: the generated statements and registration committed
// are exactly what tvsync gen derives from tvsync.yaml (make check-generated
// runs the same check).
func TestGen_CheckFindsTheCommittedFilesFresh(t *testing.T) {
	t.Parallel()
	code, out := run(t, "", "gen", "--check", "--file", filepath.Join("..", "..", "tvsync.yaml"))
	assert.Equal(t, synccli.ExitOK, code, out)
}

// TestSync_AllWithoutEntitySyncsEveryEntityOfASeededDatabase seeds the
// shop with plain SQL (as a data migration would), products keyed by SKUs
// that sort otherwise in C than in a natural-language collation: "shop
// sync --all" with no --entity fills every tv_ table (it wanted one call
// per entity), tv_order's customer_id column included, and verify finds
// nothing; "shop sync --entity product --ids" takes text SKUs.
func TestSync_AllWithoutEntitySyncsEveryEntityOfASeededDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := syncdbtest.URL(t)
	p, err := pgxpool.New(ctx, url)
	require.NoError(t, err)
	defer p.Close()
	_, err = p.Exec(ctx, `
		INSERT INTO shop.tb_customer (name) VALUES ('Ada'), ('Bob');
		INSERT INTO shop.tb_product (id, name, price_cents) VALUES ('B-1', 'Bowl', 900), ('a-2', 'Apron', 1500), ('_z', 'Zester', 700), ('Élan', 'Élan vase', 4000);
		INSERT INTO shop.tb_order (customer_id) SELECT id FROM shop.tb_customer;
		INSERT INTO shop.tb_order_line (order_id, product_id, quantity, unit_price_cents)
			SELECT o.id, p.id, 2, p.price_cents FROM shop.tb_order o CROSS JOIN shop.tb_product p WHERE p.id IN ('B-1', '_z');
		INSERT INTO shop.tb_review (product_id, customer_id, rating, body) SELECT 'a-2', id, 5, 'Good.' FROM shop.tb_customer;`)
	require.NoError(t, err)

	code, out := run(t, url, "sync", "--all")
	require.Equal(t, synccli.ExitOK, code, out)
	for _, e := range []string{"customer", "order", "product", "review"} {
		assert.Regexp(t, `(?m)^`+e+` +mode=full`, out)
	}
	var missing int
	require.NoError(t, p.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM shop.tb_customer c WHERE NOT EXISTS (SELECT 1 FROM shop.tv_customer v WHERE v.id = c.id)) +
		(SELECT count(*) FROM shop.tb_product x WHERE NOT EXISTS (SELECT 1 FROM shop.tv_product v WHERE v.id = x.id)) +
		(SELECT count(*) FROM shop.tb_order o WHERE NOT EXISTS (SELECT 1 FROM shop.tv_order v WHERE v.id = o.id AND v.customer_id = o.customer_id)) +
		(SELECT count(*) FROM shop.tb_review r WHERE NOT EXISTS (SELECT 1 FROM shop.tv_review v WHERE v.id = r.id))`).Scan(&missing))
	assert.Zero(t, missing, "every row has its document")
	code, out = run(t, url, "verify")
	assert.Equal(t, synccli.ExitOK, code, out)
	assert.Regexp(t, `product +checked=4 missing=0 stale=0 orphaned=0`, out)

	_, err = p.Exec(ctx, `UPDATE shop.tb_product SET name = name || ' (new)' WHERE id IN ('_z', 'Élan')`)
	require.NoError(t, err)
	code, out = run(t, url, "sync", "--entity", "product", "--ids", "_z,Élan")
	require.Equal(t, synccli.ExitOK, code, out)
	assert.Regexp(t, `product +mode=incremental +requested=\d+ upserted=2 `, out)
	assert.Regexp(t, `order +mode=incremental +requested=2 upserted=2`, out, "both orders embed _z")
	code, out = run(t, url, "verify")
	assert.Equal(t, synccli.ExitOK, code, out)

	code, out = run(t, url, "sync", "--ids", "_z")
	assert.Equal(t, synccli.ExitUsage, code)
	assert.Contains(t, out, "--entity is required (or --all without it, for every entity)")
}

// TestRebuild_RebuildsTheSchemaQualifiedTables: the shop names its tv_
// tables with their schema, which a rebuild's shadow copy could not serve
// by name resolution (it refused them): "shop rebuild" now builds the
// shadow from the entity's view and fixes, in place (the same table), a
// stale order, an order whose customer_id column alone drifted, an orphan
// and a missing document, for a bigint key and for the text SKU; verify
// then finds nothing.
func TestRebuild_RebuildsTheSchemaQualifiedTables(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := syncdbtest.URL(t)
	p, err := pgxpool.New(ctx, url)
	require.NoError(t, err)
	defer p.Close()
	_, err = p.Exec(ctx, `
		INSERT INTO shop.tb_customer (name) VALUES ('Ada'), ('Bob');
		INSERT INTO shop.tb_product (id, name, price_cents) VALUES ('B-1', 'Bowl', 900), ('a-2', 'Apron', 1500), ('_z', 'Zester', 700), ('Élan', 'Élan vase', 4000);
		INSERT INTO shop.tb_order (customer_id, promised_at) SELECT c.id, now() - interval '1 hour' FROM shop.tb_customer c, generate_series(1, 3);
		INSERT INTO shop.tb_order_line (order_id, product_id, quantity, unit_price_cents)
			SELECT o.id, p.id, 1, p.price_cents FROM shop.tb_order o CROSS JOIN shop.tb_product p WHERE p.id IN ('B-1', 'Élan');`)
	require.NoError(t, err)
	code, out := run(t, url, "sync", "--all")
	require.Equal(t, synccli.ExitOK, code, out)
	var orderOID, productOID uint32
	require.NoError(t, p.QueryRow(ctx, `SELECT 'shop.tv_order'::regclass::oid, 'shop.tv_product'::regclass::oid`).Scan(&orderOID, &productOID))
	_, err = p.Exec(ctx, `
		UPDATE shop.tv_order SET data = jsonb_set(data, '{late}', 'false') WHERE id = (SELECT min(id) FROM shop.tb_order);
		UPDATE shop.tv_order SET customer_id = 0 WHERE id = (SELECT max(id) FROM shop.tb_order);
		INSERT INTO shop.tv_order (id, data, customer_id) VALUES (987654321, '{"id": 987654321}', 0);
		DELETE FROM shop.tv_product WHERE id = 'Élan';
		UPDATE shop.tv_product SET data = '{}' WHERE id = '_z';`)
	require.NoError(t, err)
	code, out = run(t, url, "verify")
	require.Equal(t, synccli.ExitFailure, code, out)

	code, out = run(t, url, "rebuild", "--entity", "order")
	require.Equal(t, synccli.ExitOK, code, out)
	assert.Contains(t, out, "rebuilt shop.tv_order: 6 rows built")
	assert.Contains(t, out, "3 differing: 2 rewritten, 1 removed")
	code, out = run(t, url, "rebuild", "--entity", "product")
	require.Equal(t, synccli.ExitOK, code, out)
	assert.Contains(t, out, "rebuilt shop.tv_product: 4 rows built")
	assert.Contains(t, out, "2 differing: 2 rewritten, 0 removed")
	code, out = run(t, url, "verify")
	assert.Equal(t, synccli.ExitOK, code, out)
	var orderAfter, productAfter uint32
	require.NoError(t, p.QueryRow(ctx, `SELECT 'shop.tv_order'::regclass::oid, 'shop.tv_product'::regclass::oid`).Scan(&orderAfter, &productAfter))
	assert.Equal(t, []uint32{orderOID, productOID}, []uint32{orderAfter, productAfter}, "rebuilt in place")
	var temps int
	require.NoError(t, p.QueryRow(ctx, `SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'shop' AND c.relname NOT IN (
		'tb_customer', 'tb_product', 'tb_order', 'tb_order_line', 'tb_review', 'tb_shipment', 'tv_customer', 'tv_product', 'tv_order', 'tv_review',
		'tv_customer_source', 'tv_product_source', 'tv_order_source', 'tv_review_source', 'shop_migrations') AND c.relkind IN ('r', 'v')`).Scan(&temps))
	assert.Zero(t, temps, "the rebuild left no table in schema shop")
}

// Issue 19 through the CLI: documents that age, and a table without a
// document. A database seeded by SQL holds an order past its promised date
// unshipped and one shipped in time: "shop sync --all" makes the first
// late and not the second. An order promised through the unit of work for
// in an hour has its re-sync scheduled; once the date passes (the test
// moves it back), "shop verify" reports that document stale (expected
// drift: its view reads past the date) and "shop worker --once" syncs it
// (due), after which verify is clean and the order late.
func TestLate_SyncVerifyAndWorkerSeeOrdersAge(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := syncdbtest.URL(t)
	p, err := pgxpool.New(ctx, url)
	require.NoError(t, err)
	defer p.Close()
	var overdue, shipped, promised int64
	require.NoError(t, p.QueryRow(ctx, `
		WITH c AS (INSERT INTO shop.tb_customer (name) VALUES ('Ada') RETURNING id),
		     o AS (INSERT INTO shop.tb_order (customer_id, promised_at)
		           SELECT c.id, now() - interval '1 day' FROM c, generate_series(1, 3) RETURNING id)
		SELECT min(id), min(id) + 1, max(id) FROM o`).Scan(&overdue, &shipped, &promised))
	_, err = p.Exec(ctx, `INSERT INTO shop.tb_shipment (order_id, shipped_at) VALUES ($1, now() - interval '2 days')`, shipped)
	require.NoError(t, err)
	_, err = p.Exec(ctx, `UPDATE shop.tb_order SET promised_at = NULL WHERE id = $1`, promised)
	require.NoError(t, err)

	code, out := run(t, url, "sync", "--all")
	require.Equal(t, synccli.ExitOK, code, out)
	late := func(id int64) bool {
		t.Helper()
		var l bool
		require.NoError(t, p.QueryRow(ctx, `SELECT (data->>'late')::boolean FROM shop.tv_order WHERE id = $1`, id).Scan(&l))
		return l
	}
	assert.True(t, late(overdue), "past its promised date, unshipped")
	assert.False(t, late(shipped), "shipped before its promised date")
	assert.False(t, late(promised), "no promise")

	engine, err := shop.NewEngine(p, tvsync.Config{})
	require.NoError(t, err)
	s, err := shop.New(p, engine, syncuow.Options{})
	require.NoError(t, err)
	require.NoError(t, s.InTx(ctx, func(u *shop.UnitOfWork) error {
		return u.PromiseOrder(ctx, promised, time.Now().Add(time.Hour))
	}))
	code, out = run(t, url, "verify")
	assert.Equal(t, synccli.ExitOK, code, out)
	code, out = run(t, url, "worker", "--once")
	assert.Equal(t, synccli.ExitOK, code, out)
	assert.False(t, late(promised), "not due yet: the worker left it")

	_, err = p.Exec(ctx, `UPDATE shop.tb_order SET promised_at = promised_at - interval '2 hours' WHERE id = $1`, promised)
	require.NoError(t, err)
	_, err = p.Exec(ctx, `UPDATE tvsync.sync_queue SET available_at = available_at - interval '2 hours' WHERE scheduled`)
	require.NoError(t, err)
	code, out = run(t, url, "verify")
	assert.Equal(t, synccli.ExitFailure, code, "past the date, before the re-sync")
	assert.Regexp(t, `order +checked=3 missing=0 stale=1 orphaned=0`, out)
	code, out = run(t, url, "worker", "--once")
	assert.Equal(t, synccli.ExitOK, code, out)
	assert.True(t, late(promised), "the scheduled re-sync fired")
	code, out = run(t, url, "verify")
	assert.Equal(t, synccli.ExitOK, code, out)
}
