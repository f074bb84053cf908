-- name: SyncLock :batchone
-- SyncLock takes the transaction-scoped advisory locks of a sync, in the given (sorted) order, each shared or exclusive as @shared says: the engine's lock plan (sync/locks.go) makes overlapping syncs of one entity run one after the other, so the later one reads the newer data.
SELECT count(CASE WHEN (@shared::boolean[])[s.i] THEN pg_advisory_xact_lock_shared((@keys::bigint[])[s.i])
                  ELSE pg_advisory_xact_lock((@keys::bigint[])[s.i]) END)::int AS locks,
       clock_timestamp()::timestamptz AS finished_at
FROM (SELECT g.i FROM generate_subscripts(@keys::bigint[], 1) AS g(i) ORDER BY g.i) AS s;

-- name: SyncLogInsert :batchexec
-- SyncLogInsert writes the tvsync.sync_log row of one entity batch; a sync queues one per entity in a single round trip.
INSERT INTO tvsync.sync_log (entity, mode, requested, upserted, unchanged, deleted, failed, duration_us, error, started_at)
VALUES (@entity, @mode, @requested, @upserted, @unchanged, @deleted, @failed, @duration_us, @error, @started_at);
