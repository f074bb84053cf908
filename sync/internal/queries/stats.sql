-- name: SyncLogStats :many
-- SyncLogStats summarizes the namespace's rows of tvsync.sync_log per entity and mode since a time: committed batches (failed = 0), row counts, and percentiles and maximum of the committed batches' duration in microseconds (0 when none).
SELECT entity,
       mode,
       count(*) FILTER (WHERE failed = 0)::bigint AS batches,
       sum(requested)::bigint AS requested,
       sum(upserted)::bigint AS upserted,
       sum(unchanged)::bigint AS unchanged,
       sum(deleted)::bigint AS deleted,
       sum(failed)::bigint AS failed,
       coalesce(percentile_cont(0.50) WITHIN GROUP (ORDER BY duration_us) FILTER (WHERE failed = 0), 0)::float8 AS p50_us,
       coalesce(percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_us) FILTER (WHERE failed = 0), 0)::float8 AS p95_us,
       coalesce(percentile_cont(0.99) WITHIN GROUP (ORDER BY duration_us) FILTER (WHERE failed = 0), 0)::float8 AS p99_us,
       coalesce(max(duration_us) FILTER (WHERE failed = 0), 0)::bigint AS max_us
FROM tvsync.sync_log
WHERE namespace = @namespace::text AND started_at >= @since::timestamptz
GROUP BY entity, mode
ORDER BY entity, mode;

-- name: SyncLogPrune :execrows
-- SyncLogPrune deletes the namespace's tvsync.sync_log rows of batches that started before a time (through sync_log_started_at_idx) and reports how many.
DELETE FROM tvsync.sync_log WHERE namespace = @namespace::text AND started_at < @before::timestamptz;
