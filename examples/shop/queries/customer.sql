-- The sync statements of tv_customer, hand-written in the shapes of the blog's queries/user.sql (bigint keys).

-- name: CustomerRefresh :batchone
-- CustomerRefresh upserts, in one statement, the tv_customer documents of the given customers from their definition (view tv_customer_source), writing only those whose data changed; the view is read id by id (the OFFSET 0 fence), so the work follows the batch, never the table.
WITH src AS (
    SELECT s.id, s.data
    FROM (SELECT DISTINCT unnest(@ids::bigint[]) AS id) b
    CROSS JOIN LATERAL (SELECT v.id, v.data FROM tv_customer_source v WHERE v.id = b.id OFFSET 0) s
),
upserted AS (
    INSERT INTO tv_customer (id, data, updated_at)
    SELECT src.id, src.data, clock_timestamp() FROM src
    ON CONFLICT (id) DO UPDATE
        SET data = EXCLUDED.data, updated_at = EXCLUDED.updated_at
        WHERE tv_customer.data IS DISTINCT FROM EXCLUDED.data
    RETURNING tv_customer.id
)
SELECT (SELECT count(*) FROM src)::int      AS found,
       (SELECT count(*) FROM upserted)::int AS upserted,
       clock_timestamp()::timestamptz       AS finished_at;

-- name: CustomerRangeRefresh :batchone
-- CustomerRangeRefresh upserts the tv_customer documents of the keyset range of ids (@after, @upto] of a full-sync chunk from their definition, writing only those whose data changed and only the chunk's locked @ids (a row created after the chunk listed its ids is left to its own sync); the range is built apart (MATERIALIZED) and only then narrowed to @ids, so that a generic plan, which cannot count @ids, keeps the range's plan.
WITH range_src AS MATERIALIZED (
    SELECT s.id, s.data FROM tv_customer_source s WHERE s.id >= @after::bigint AND (s.id > @after::bigint OR s.id = -9223372036854775808) AND s.id <= @upto::bigint
),
src AS (
    SELECT r.id, r.data FROM range_src r WHERE r.id IN (SELECT unnest(@ids::bigint[]))
),
upserted AS (
    INSERT INTO tv_customer (id, data, updated_at)
    SELECT src.id, src.data, clock_timestamp() FROM src
    ON CONFLICT (id) DO UPDATE
        SET data = EXCLUDED.data, updated_at = EXCLUDED.updated_at
        WHERE tv_customer.data IS DISTINCT FROM EXCLUDED.data
    RETURNING tv_customer.id
)
SELECT (SELECT count(*) FROM src)::int      AS found,
       (SELECT count(*) FROM upserted)::int AS upserted,
       clock_timestamp()::timestamptz       AS finished_at;

-- name: CustomerDeleteMissing :batchone
-- CustomerDeleteMissing removes the tv_customer rows, among the given ids, whose tb_customer row no longer exists: each id is probed in tb_customer (the OFFSET 0 fence keeps the planner from hashing the whole table), and only the ids found gone are looked up in tv_customer.
WITH gone AS (
    DELETE FROM tv_customer t
    WHERE t.id = ANY(ARRAY(
        SELECT b.id FROM unnest(@ids::bigint[]) AS b(id)
        WHERE NOT EXISTS (SELECT 1 FROM tb_customer u WHERE u.id = b.id OFFSET 0)))
    RETURNING t.id
)
SELECT count(*)::int AS deleted, clock_timestamp()::timestamptz AS finished_at FROM gone;

-- name: CustomerRangeDeleteMissing :batchone
-- CustomerRangeDeleteMissing removes the tv_customer rows among the chunk's locked @ids in the keyset range (@after, @upto] whose tb_customer row no longer exists; both sides of the anti-join read only the range (the inner side from @after inclusive, a superset of any id the outer side holds), so a chunk never reads the whole of tb_customer.
WITH gone AS (
    DELETE FROM tv_customer t
    WHERE t.id >= @after::bigint AND (t.id > @after::bigint OR t.id = -9223372036854775808) AND t.id <= @upto::bigint
      AND t.id IN (SELECT unnest(@ids::bigint[]))
      AND NOT EXISTS (SELECT 1 FROM tb_customer x WHERE x.id = t.id AND x.id >= @after::bigint AND x.id <= @upto::bigint)
    RETURNING t.id
)
SELECT count(*)::int AS deleted, clock_timestamp()::timestamptz AS finished_at FROM gone;

-- name: CustomerIDsAfter :many
-- CustomerIDsAfter lists tb_customer ids in id order after a keyset cursor, for full sync.
SELECT id FROM tb_customer WHERE id >= @after::bigint AND (id > @after::bigint OR id = -9223372036854775808) ORDER BY id LIMIT @page_size::int;

-- name: CustomerViewIDsAfter :many
-- CustomerViewIDsAfter lists tv_customer ids in id order after a keyset cursor, to find orphans during full sync.
SELECT id FROM tv_customer WHERE id >= @after::bigint AND (id > @after::bigint OR id = -9223372036854775808) ORDER BY id LIMIT @page_size::int;

-- name: CustomerVerify :many
-- CustomerVerify compares, for the ids in (@after, @upto], the stored tv_customer rows with their definition and lists those missing, stale or orphaned.
SELECT coalesce(s.id, t.id)::bigint AS id,
       (CASE WHEN t.id IS NULL THEN 'missing' WHEN s.id IS NULL THEN 'orphaned' ELSE 'stale' END)::text AS problem
FROM (SELECT v.id, v.data FROM tv_customer_source v WHERE v.id >= @after::bigint AND (v.id > @after::bigint OR v.id = -9223372036854775808) AND v.id <= @upto::bigint) s
FULL JOIN (SELECT r.id, r.data FROM tv_customer r WHERE r.id >= @after::bigint AND (r.id > @after::bigint OR r.id = -9223372036854775808) AND r.id <= @upto::bigint) t ON t.id = s.id
WHERE s.data IS DISTINCT FROM t.data
ORDER BY 1;

-- name: OrderIDsByCustomer :batchmany
-- OrderIDsByCustomer lists the orders of the given customers (tv_order embeds its customer's name), customer by customer through the customer_id index.
SELECT o.id
FROM (SELECT DISTINCT unnest(@ids::bigint[]) AS id) b
CROSS JOIN LATERAL (SELECT o.id FROM tb_order o WHERE o.customer_id = b.id OFFSET 0) o;
