-- name: SyncLock :batchone
-- SyncLock takes the transaction-scoped advisory locks of a sync in the given (sorted) order: exclusive on each (entity, id) it syncs, so overlapping syncs of a row run one after the other, and shared (where @shared says) on the rows those documents read through a foreign key, so a sync of a referenced row waits for a transaction that attaches to it (sync/locks.go).
SELECT count(CASE WHEN k.shared THEN pg_advisory_xact_lock_shared(k.key) ELSE pg_advisory_xact_lock(k.key) END)::int AS locks,
       clock_timestamp()::timestamptz AS finished_at
FROM (SELECT u.key, (@shared::boolean[])[u.ord] AS shared FROM unnest(@keys::bigint[]) WITH ORDINALITY AS u(key, ord) ORDER BY u.ord) AS k;

-- name: SyncLogInsert :batchexec
-- SyncLogInsert writes the tvsync.sync_log row of one entity batch, in the engine's namespace; a sync queues one per entity in a single round trip.
INSERT INTO tvsync.sync_log (namespace, entity, mode, requested, upserted, unchanged, deleted, failed, duration_us, error, started_at)
VALUES (@namespace::text, @entity, @mode, @requested, @upserted, @unchanged, @deleted, @failed, @duration_us, @error, @started_at);

-- name: SyncTryLock :batchmany
-- SyncTryLock tries, without waiting, the advisory locks of a sync's next level inside the caller's transaction, in the given (sorted) order, and lists the keys another transaction holds.
SELECT k.key::bigint AS busy
FROM unnest(@keys::bigint[]) WITH ORDINALITY AS k(key, ord)
WHERE NOT pg_try_advisory_xact_lock(k.key)
ORDER BY k.ord;
