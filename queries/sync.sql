-- name: SyncLock :batchone
-- SyncLock takes transaction-scoped advisory locks, in sorted order, on the lock buckets of the given 'entity:id' keys (a bucket is an id's first 12 bits, so a keyset range maps to a run of buckets) so that overlapping syncs of one entity run one after the other and the later one reads the newer data.
SELECT count(pg_advisory_xact_lock(lock_class, lock_bucket))::int AS locks,
       clock_timestamp()::timestamptz AS finished_at
FROM (
    SELECT DISTINCT hashtext(split_part(k.key, ':', 1)) AS lock_class,
                    ('x' || substr(split_part(k.key, ':', 2), 1, 3))::bit(12)::int AS lock_bucket
    FROM unnest(@keys::text[]) AS k(key)
    ORDER BY 1, 2
) AS buckets;

-- name: SyncLockRange :batchone
-- SyncLockRange takes the advisory locks of every bucket from @first_bucket to @last_bucket of one entity, in order: what SyncLock would take for any id of a keyset range, including ids inserted meanwhile.
SELECT count(pg_advisory_xact_lock(hashtext(@entity::text), b))::int AS locks,
       clock_timestamp()::timestamptz AS finished_at
FROM generate_series(@first_bucket::int, @last_bucket::int) AS b;

-- name: SyncLogInsert :batchexec
-- SyncLogInsert writes the sync_log row of one entity batch; a sync queues one per entity in a single round trip.
INSERT INTO sync_log (entity, mode, requested, upserted, unchanged, deleted, failed, duration_us, error, started_at)
VALUES (@entity, @mode, @requested, @upserted, @unchanged, @deleted, @failed, @duration_us, @error, @started_at);
