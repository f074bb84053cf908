-- name: QueueEnqueue :batchmany
-- QueueEnqueue records, in the calling transaction and the engine's namespace, that ids (their canonical text) need a sync, each after its delay: one new row per change, a plain INSERT that never waits for another transaction; a row inherits the backoff and attempts of a failing pending row of the same id, so writes do not hasten its retries (a scheduled re-sync keeps its time); a dependent's row carries its lineage (origin_lo..origin_hi; 0 for a write's row, which has none).
INSERT INTO tvsync.sync_queue (namespace, entity, entity_id, cascade, available_at, attempts, last_error, scheduled, origin_lo, origin_hi)
SELECT @namespace::text, c.entity, c.entity_id, c.cascade,
       CASE WHEN c.scheduled THEN now() + make_interval(secs => c.delay_seconds)
            ELSE greatest(now() + make_interval(secs => c.delay_seconds), f.available_at) END,
       CASE WHEN c.scheduled THEN 0 ELSE coalesce(f.attempts, 0) END, coalesce(f.last_error, ''), c.scheduled,
       nullif(c.origin_lo, 0), nullif(c.origin_hi, 0)
FROM (SELECT (@entities::text[])[g.i] AS entity, (@entity_ids::text[])[g.i] AS entity_id,
             (@cascades::boolean[])[g.i] AS cascade, (@delays_seconds::float8[])[g.i] AS delay_seconds,
             (@scheduled::boolean[])[g.i] AS scheduled,
             (@origin_los::bigint[])[g.i] AS origin_lo, (@origin_his::bigint[])[g.i] AS origin_hi
      FROM generate_subscripts(@entities::text[], 1) AS g(i)) AS c
LEFT JOIN LATERAL (
    SELECT q.available_at, q.attempts, q.last_error FROM tvsync.sync_queue q
    WHERE q.namespace = @namespace::text AND q.entity = c.entity AND q.entity_id = c.entity_id AND q.attempts > 0 AND NOT q.dead
    ORDER BY q.attempts DESC, q.seq LIMIT 1) f ON true
ORDER BY c.entity, c.entity_id
RETURNING seq, entity, entity_id, cascade, coalesce(origin_lo, 0)::bigint AS origin_lo, coalesce(origin_hi, 0)::bigint AS origin_hi;

-- name: QueueNotify :batchexec
-- QueueNotify wakes the workers listening on the given channel when the transaction commits.
SELECT pg_notify(@channel::text, '');

-- name: QueueAck :batchone
-- QueueAck removes, inside the sync that covers them, the queued rows of the namespace and the given seqs that no worker holds (a worker holding one syncs it too).
WITH acked AS (
    DELETE FROM tvsync.sync_queue q
    WHERE q.seq IN (SELECT s.seq FROM tvsync.sync_queue s WHERE s.namespace = @namespace::text AND s.seq = ANY(@seqs::bigint[]) ORDER BY s.seq FOR UPDATE SKIP LOCKED)
    RETURNING q.seq
)
SELECT count(*)::int AS acked FROM acked;

-- name: QueueBatchTimeouts :batchexec
-- QueueBatchTimeouts bounds, for the worker's batch transaction only, each lock wait and each statement (in milliseconds, 0 for no limit).
SELECT set_config('lock_timeout', @lock_timeout_ms::bigint || 'ms', true),
       set_config('statement_timeout', @statement_timeout_ms::bigint || 'ms', true);

-- name: QueueClaim :batchmany
-- QueueClaim locks a batch of the namespace's ready rows that no other worker holds, oldest first, with the other rows of their ids that are neither scheduled for later nor waiting out a failure's backoff (one sync covers them all), each with its lineage (0 for a write's row).
WITH ready AS (
    SELECT r.entity, r.entity_id FROM tvsync.sync_queue r
    WHERE r.namespace = @namespace::text AND NOT r.dead AND r.available_at <= now()
    ORDER BY r.available_at, r.seq
    LIMIT @batch_size::int
    FOR UPDATE SKIP LOCKED
)
SELECT q.seq, q.entity, q.entity_id, q.cascade, q.attempts, coalesce(q.origin_lo, 0)::bigint AS origin_lo, coalesce(q.origin_hi, 0)::bigint AS origin_hi
FROM tvsync.sync_queue q
WHERE q.namespace = @namespace::text AND (q.entity, q.entity_id) IN (SELECT ready.entity, ready.entity_id FROM ready)
  AND NOT q.dead AND (q.available_at <= now() OR (NOT q.scheduled AND q.attempts = 0))
ORDER BY q.seq
FOR UPDATE OF q SKIP LOCKED;

-- name: QueueDelete :batchexec
-- QueueDelete removes claimed rows of the namespace, by seq, once their sync has succeeded.
DELETE FROM tvsync.sync_queue WHERE namespace = @namespace::text AND seq = ANY(@seqs::bigint[]);

-- name: QueueDeleteDead :batchexec
-- QueueDeleteDead removes the namespace's parked rows, that no one holds, of ids a sync has just synced after they were parked: that sync covered them.
DELETE FROM tvsync.sync_queue
WHERE seq IN (SELECT d.seq FROM tvsync.sync_queue d
              WHERE d.namespace = @namespace::text AND d.dead AND (d.entity, d.entity_id) IN (
                    SELECT (@entities::text[])[g.i], (@entity_ids::text[])[g.i] FROM generate_subscripts(@entities::text[], 1) AS g(i))
              FOR UPDATE SKIP LOCKED);

-- name: QueueFail :batchexec
-- QueueFail records a failed attempt on claimed rows of the namespace: retry after a backoff (1s doubling per attempt, capped), or park them as dead after max_attempts.
UPDATE tvsync.sync_queue
SET attempts     = attempts + 1,
    last_error   = @last_error::text,
    available_at = now() + least(interval '1 second' * power(2, least(attempts, 30)), make_interval(secs => @max_backoff_seconds::float8)),
    dead         = attempts + 1 >= @max_attempts::int
WHERE namespace = @namespace::text AND seq = ANY(@seqs::bigint[]);

-- name: QueueStats :one
-- QueueStats summarizes the namespace's rows of the queue for tvsync status and metrics: (entity, id) pairs pending, the oldest pending row's age, rows parked as dead, rows naming none of the registered entities.
SELECT count(DISTINCT (entity, entity_id)) FILTER (WHERE NOT dead)::bigint AS pending,
       coalesce(extract(epoch FROM now() - min(enqueued_at) FILTER (WHERE NOT dead)), 0)::float8 AS oldest_age_seconds,
       count(DISTINCT (entity, entity_id)) FILTER (WHERE dead)::bigint AS dead,
       count(DISTINCT (entity, entity_id)) FILTER (WHERE entity <> ALL(@registered::text[]))::bigint AS unregistered
FROM tvsync.sync_queue
WHERE namespace = @namespace::text;

-- name: QueueDeadList :many
-- QueueDeadList shows the namespace's parked ids with their last error, oldest first (one line per id, of its oldest parked row).
SELECT d.entity, d.entity_id, d.attempts, d.last_error, d.enqueued_at
FROM (SELECT DISTINCT ON (q.entity, q.entity_id) q.entity, q.entity_id, q.attempts, q.last_error, q.enqueued_at
      FROM tvsync.sync_queue q WHERE q.namespace = @namespace::text AND q.dead ORDER BY q.entity, q.entity_id, q.enqueued_at, q.seq) d
ORDER BY d.enqueued_at LIMIT @max_rows::int;

-- name: QueueRetryDead :one
-- QueueRetryDead revives every parked row of the namespace for an immediate retry and counts the ids revived.
WITH revived AS (
    UPDATE tvsync.sync_queue SET dead = false, attempts = 0, available_at = now(), last_error = ''
    WHERE namespace = @namespace::text AND dead
    RETURNING entity, entity_id
)
SELECT count(DISTINCT (entity, entity_id))::bigint AS revived FROM revived;

-- name: SettingPush :batchexec
-- SettingPush sets the setting name to value for the rest of the transaction, keeping the value it replaces for SettingPop (in tvsync.saved_<name>).
SELECT set_config(@name::text, @value::text, true)
FROM (SELECT set_config('tvsync.saved_' || @name::text, current_setting(@name::text), true) AS saved) AS s;

-- name: SettingPop :batchexec
-- SettingPop puts back, for the rest of the transaction, the value of the setting name that SettingPush replaced.
SELECT set_config(@name::text, current_setting('tvsync.saved_' || @name::text), true);
