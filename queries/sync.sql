-- name: SyncLock :batchone
-- SyncLock takes transaction-scoped advisory locks, in sorted order, on the lock buckets of the given 'entity:id' keys so that overlapping syncs of one entity run one after the other and the later one reads the newer data.
SELECT count(pg_advisory_xact_lock(lock_class, lock_bucket))::int AS locks,
       clock_timestamp()::timestamptz AS finished_at
FROM (
    SELECT DISTINCT hashtext(split_part(k.key, ':', 1)) AS lock_class,
                    (hashtextextended(split_part(k.key, ':', 2), 0) & 255)::int AS lock_bucket
    FROM unnest(@keys::text[]) AS k(key)
    ORDER BY 1, 2
) AS buckets;

-- name: SyncLogInsert :batchexec
-- SyncLogInsert writes the sync_log row of one entity batch; a sync queues one per entity in a single round trip.
INSERT INTO sync_log (entity, mode, requested, upserted, unchanged, deleted, failed, duration_us, error, started_at)
VALUES (@entity, @mode, @requested, @upserted, @unchanged, @deleted, @failed, @duration_us, @error, @started_at);
